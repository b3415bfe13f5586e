"""LINE stand-in: reply tokens are single use and short-lived; push honours ``X-Line-Retry-Key``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from partner.sandbox import ManualClock
from partner.sandbox.state import DEFAULT_LINE_CHANNEL_TOKEN

Client = TestClient[Any, Any]
AUTH = {"Authorization": f"Bearer {DEFAULT_LINE_CHANNEL_TOKEN}"}
USER = "U" + "0123456789abcdef" * 2
TEXT = {"type": "text", "text": "Hello"}


REPLY_TOKEN = "reply-1"


async def add_reply_token(sandbox: Client) -> str:
    await sandbox.post("/_sandbox/config", json={"line_reply_tokens": [REPLY_TOKEN]})
    return REPLY_TOKEN


async def reply(sandbox: Client, payload: dict[str, Any], headers: dict[str, str] = AUTH) -> tuple[int, Any]:
    response = await sandbox.post("/v2/bot/message/reply", json=payload, headers=headers)
    assert response.headers["X-Line-Request-Id"]
    return response.status, await response.json()


async def push(sandbox: Client, payload: dict[str, Any], retry_key: str | None = None) -> Any:
    headers = {**AUTH, **({"X-Line-Retry-Key": retry_key} if retry_key else {})}
    return await sandbox.post("/v2/bot/message/push", json=payload, headers=headers)


class TestReply:
    async def test_reply_then_token_is_used_up(self, sandbox: Client) -> None:
        token = await add_reply_token(sandbox)
        status, body = await reply(sandbox, {"replyToken": token, "messages": [TEXT, TEXT]})
        assert status == 200
        assert len(body["sentMessages"]) == 2
        assert body["sentMessages"][0]["id"].isdigit()
        assert body["sentMessages"][0]["quoteToken"]
        assert await reply(sandbox, {"replyToken": token, "messages": [TEXT]}) == (
            400,
            {"message": "Invalid reply token"},
        )

    async def test_unknown_and_expired_tokens(self, sandbox: Client, clock: ManualClock) -> None:
        assert (await reply(sandbox, {"replyToken": "never-issued", "messages": [TEXT]}))[0] == 400
        token = await add_reply_token(sandbox)
        clock.advance(61)
        assert await reply(sandbox, {"replyToken": token, "messages": [TEXT]}) == (
            400,
            {"message": "Invalid reply token"},
        )

    @pytest.mark.parametrize(
        ("messages", "prop"),
        [
            ([], "messages"),
            ([TEXT] * 6, "messages"),
            ([{"type": "hologram"}], "messages[0].type"),
            ([TEXT, {"type": "text", "text": "x" * 5001}], "messages[1].text"),
        ],
    )
    async def test_invalid_messages_keep_the_token(
        self, sandbox: Client, messages: list[dict[str, Any]], prop: str
    ) -> None:
        token = await add_reply_token(sandbox)
        status, body = await reply(sandbox, {"replyToken": token, "messages": messages})
        assert status == 400
        assert body["details"][0]["property"] == prop
        assert (await reply(sandbox, {"replyToken": token, "messages": [TEXT]}))[0] == 200

    @pytest.mark.parametrize(
        ("headers", "fragment"),
        [({}, "Authorization header required"), ({"Authorization": "Bearer nope"}, "Authentication failed")],
    )
    async def test_channel_token_required(self, sandbox: Client, headers: dict[str, str], fragment: str) -> None:
        status, body = await reply(sandbox, {"replyToken": "x", "messages": [TEXT]}, headers)
        assert status == 401
        assert fragment in body["message"]


class TestPush:
    async def test_push(self, sandbox: Client) -> None:
        response = await push(sandbox, {"to": USER, "messages": [TEXT]})
        assert response.status == 200
        assert len((await response.json())["sentMessages"]) == 1

    async def test_retry_key_repeat_is_409_with_original_request_id(self, sandbox: Client) -> None:
        key = str(uuid.uuid4())
        first = await push(sandbox, {"to": USER, "messages": [TEXT]}, key)
        second = await push(sandbox, {"to": USER, "messages": [TEXT]}, key)
        assert first.status == 200
        assert second.status == 409
        assert second.headers["X-Line-Accepted-Request-Id"] == first.headers["X-Line-Request-Id"]
        repeat = await second.json()
        assert repeat["message"] == "The retry key is already accepted"
        assert repeat["sentMessages"] == (await first.json())["sentMessages"]
        sent = (await (await sandbox.get("/_sandbox/messages")).json())["messages"]
        assert len(sent) == 1

    async def test_failed_push_does_not_consume_the_key(self, sandbox: Client) -> None:
        key = str(uuid.uuid4())
        assert (await push(sandbox, {"to": USER, "messages": []}, key)).status == 400
        assert (await push(sandbox, {"to": USER, "messages": [TEXT]}, key)).status == 200

    async def test_retry_key_must_be_a_uuid(self, sandbox: Client) -> None:
        assert (await push(sandbox, {"to": USER, "messages": [TEXT]}, "retry-1")).status == 400

    @pytest.mark.parametrize("to", ["", "someone", "U123", None])
    async def test_invalid_target(self, sandbox: Client, to: str | None) -> None:
        response = await push(sandbox, {"to": to, "messages": [TEXT]})
        assert response.status == 400
        assert "'to'" in (await response.json())["message"]
