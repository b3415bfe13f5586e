"""Graph stand-in: WhatsApp Cloud API and Messenger Send API share ``/v<ver>/<node>/messages``."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from partner.sandbox.state import DEFAULT_MESSENGER_PAGE_ID, DEFAULT_META_TOKEN, DEFAULT_WHATSAPP_PHONE_NUMBER_ID

Client = TestClient[Any, Any]
WHATSAPP = f"/v21.0/{DEFAULT_WHATSAPP_PHONE_NUMBER_ID}/messages"
MESSENGER = f"/v21.0/{DEFAULT_MESSENGER_PAGE_ID}/messages"
BEARER = {"Authorization": f"Bearer {DEFAULT_META_TOKEN}"}


def text_message(body: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": "+1 555-000-1111", "type": "text", "text": {"body": body}, **extra}


def template_message(name: str = "order_update", language: str = "en_US", *parameters: str) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if parameters:
        template["components"] = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}]
    return {"messaging_product": "whatsapp", "to": "15550001111", "type": "template", "template": template}


async def post(sandbox: Client, path: str, payload: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    response = await sandbox.post(path, json=payload, **kwargs)
    return response.status, await response.json()


class TestWhatsApp:
    async def test_send_text(self, sandbox: Client) -> None:
        status, body = await post(sandbox, WHATSAPP, text_message(), headers=BEARER)
        assert status == 200
        assert body["messaging_product"] == "whatsapp"
        assert body["contacts"] == [{"input": "+1 555-000-1111", "wa_id": "15550001111"}]
        assert body["messages"][0]["id"].startswith("wamid.")
        sent = (await (await sandbox.get("/_sandbox/messages")).json())["messages"]
        assert sent[0]["id"] == body["messages"][0]["id"]

    async def test_send_an_approved_template(self, sandbox: Client) -> None:
        status, body = await post(sandbox, WHATSAPP, template_message("order_update", "en_US", "#123"), headers=BEARER)
        assert status == 200
        assert body["messages"][0]["id"].startswith("wamid.")
        status, _ = await post(sandbox, WHATSAPP, template_message("hello_world"), headers=BEARER)
        assert status == 200

    @pytest.mark.parametrize(
        ("payload", "status", "code"),
        [
            (template_message("nope"), 404, 132001),
            (template_message("hello_world", "id"), 404, 132001),  # no translation
            (template_message("order_update"), 400, 132000),  # its {{1}} is missing
            (template_message("hello_world", "en_US", "x"), 400, 132000),
        ],
    )
    async def test_template_errors(self, sandbox: Client, payload: dict[str, Any], status: int, code: int) -> None:
        got, body = await post(sandbox, WHATSAPP, payload, headers=BEARER)
        assert (got, body["error"]["code"]) == (status, code)

    async def test_template_needs_a_language(self, sandbox: Client) -> None:
        payload = {**template_message(), "template": {"name": "hello_world"}}
        status, body = await post(sandbox, WHATSAPP, payload, headers=BEARER)
        assert status == 400
        assert "template['language']['code']" in body["error"]["message"]

    async def test_bsuid_recipient(self, sandbox: Client) -> None:
        message = {**text_message(), "recipient": "US.13491208655302741918"}
        del message["to"]
        status, body = await post(sandbox, WHATSAPP, message, headers=BEARER)
        assert status == 200
        assert body["contacts"] == [{"input": "US.13491208655302741918", "user_id": "US.13491208655302741918"}]

    async def test_mark_read(self, sandbox: Client) -> None:
        read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"}
        assert await post(sandbox, WHATSAPP, read, headers=BEARER) == (200, {"success": True})

    async def test_token_in_query_is_accepted_like_graph(self, sandbox: Client) -> None:
        status, _ = await post(sandbox, WHATSAPP, text_message(), params={"access_token": DEFAULT_META_TOKEN})
        assert status == 200

    async def test_missing_token(self, sandbox: Client) -> None:
        status, body = await post(sandbox, WHATSAPP, text_message())
        assert status == 400
        assert body["error"]["code"] == 2500
        assert body["error"]["type"] == "OAuthException"
        assert body["error"]["fbtrace_id"]

    async def test_invalid_token(self, sandbox: Client) -> None:
        status, body = await post(sandbox, WHATSAPP, text_message(), headers={"Authorization": "Bearer nope"})
        assert status == 401
        assert body["error"]["code"] == 190

    @pytest.mark.parametrize(
        ("payload", "fragment"),
        [
            ({"to": "1555", "text": {"body": "hi"}}, "messaging_product is required"),
            (text_message(messaging_product="sms"), "messaging_product must be one of"),
            ({"messaging_product": "whatsapp", "text": {"body": "hi"}}, "parameter to is required"),
            (text_message("x" * 4097), "at most 4096 characters"),
            (text_message(""), "text['body'] is required"),
            (text_message(type="hologram"), "Param type must be one of"),
            (text_message(type="image"), "parameter image is required"),
            (text_message(to="call me"), "is not a phone number"),
        ],
    )
    async def test_invalid_parameters(self, sandbox: Client, payload: dict[str, Any], fragment: str) -> None:
        status, body = await post(sandbox, WHATSAPP, payload, headers=BEARER)
        assert status == 400
        assert body["error"]["code"] == 100
        assert fragment in body["error"]["message"]

    async def test_text_at_the_limit_is_fine(self, sandbox: Client) -> None:
        status, _ = await post(sandbox, WHATSAPP, text_message("x" * 4096), headers=BEARER)
        assert status == 200

    async def test_unknown_node(self, sandbox: Client) -> None:
        status, body = await post(sandbox, "/v21.0/999/messages", text_message(), headers=BEARER)
        assert status == 400
        assert body["error"]["error_subcode"] == 33

    async def test_registered_number_works(self, sandbox: Client) -> None:
        await sandbox.post("/_sandbox/config", json={"whatsapp_phone_number_ids": ["999"]})
        status, _ = await post(sandbox, "/v19.0/999/messages", text_message(), headers=BEARER)
        assert status == 200


class TestMessenger:
    def message(self, text: str = "Hello") -> dict[str, Any]:
        return {"recipient": {"id": "PSID-1"}, "messaging_type": "RESPONSE", "message": {"text": text}}

    async def test_send_text_with_query_token(self, sandbox: Client) -> None:
        params = {"access_token": DEFAULT_META_TOKEN}
        status, body = await post(sandbox, MESSENGER, self.message(), params=params)
        assert status == 200
        assert body["recipient_id"] == "PSID-1"
        assert body["message_id"].startswith("m_")

    async def test_human_agent_tag_is_accepted(self, sandbox: Client) -> None:
        tagged = {**self.message(), "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        status, body = await post(sandbox, MESSENGER, tagged, params={"access_token": DEFAULT_META_TOKEN})
        assert status == 200
        assert body["message_id"].startswith("m_")

    async def test_sender_action_has_no_message_id(self, sandbox: Client) -> None:
        action = {"recipient": {"id": "PSID-1"}, "sender_action": "typing_on"}
        status, body = await post(sandbox, MESSENGER, action, params={"access_token": DEFAULT_META_TOKEN})
        assert (status, body) == (200, {"recipient_id": "PSID-1"})

    @pytest.mark.parametrize(
        ("mutate", "fragment"),
        [
            ({"recipient": {}}, "param recipient must be non-empty"),
            ({"message": {"text": "x" * 2001}}, "less than or equal to 2000"),
            ({"message": {}}, "param message must be non-empty"),
            ({"message": None}, "Must send either message or sender_action"),
            ({"messaging_type": "PROMO"}, "messaging_type must be one of"),
            ({"messaging_type": "MESSAGE_TAG"}, "param tag is required"),
            ({"messaging_type": "MESSAGE_TAG", "tag": "PROMOTION"}, "param tag must be one of"),
        ],
    )
    async def test_invalid_parameters(self, sandbox: Client, mutate: dict[str, Any], fragment: str) -> None:
        payload = {key: value for key, value in {**self.message(), **mutate}.items() if value is not None}
        status, body = await post(sandbox, MESSENGER, payload, params={"access_token": DEFAULT_META_TOKEN})
        assert status == 400
        assert fragment in body["error"]["message"]

    async def test_invalid_token(self, sandbox: Client) -> None:
        status, body = await post(sandbox, MESSENGER, self.message(), params={"access_token": "bad"})
        assert status == 401
        assert body["error"]["code"] == 190
