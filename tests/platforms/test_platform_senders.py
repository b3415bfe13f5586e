"""Senders against a small fake API server that records every request and answers what the test queued."""

from __future__ import annotations

import asyncio
import json
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from partner.platforms import PLATFORMS, line, messenger, tiktok, whatsapp
from partner.platforms.base import OutboundMessage, SendError, SendResult, Template

SECRET_TEXT = "my order 4711 never arrived"  # must never show up in an exception
TOKEN = "token-under-test"
ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApi:
    """Answers queued (status, JSON body) pairs in order, then 200 ``{}``; ``delay`` slows every answer."""

    base_url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    replies: deque[tuple[int, Any]] = field(default_factory=deque)
    delay: float = 0.0

    def reply(self, status: int, body: Any) -> None:
        self.replies.append((status, body))

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=json.loads(raw) if raw else None,
            )
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        status, body = self.replies.popleft() if self.replies else (200, {})
        return web.json_response(body, status=status)

    @property
    def only_request(self) -> Recorded:
        assert len(self.requests) == 1
        return self.requests[0]


@pytest.fixture
async def api(aiohttp_server: ServerFactory) -> FakeApi:
    fake = FakeApi()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = await aiohttp_server(app)
    fake.base_url = str(server.make_url("/"))
    return fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


async def send_expecting_error(sender: Any, msg: OutboundMessage) -> SendError:
    with pytest.raises(SendError) as caught:
        await sender.send(msg)
    error = caught.value
    assert SECRET_TEXT not in str(error)
    assert TOKEN not in str(error)
    return error


# --- WhatsApp ----------------------------------------------------------------------------------------------------


def wa_sender(session: aiohttp.ClientSession, api: FakeApi, **kwargs: Any) -> whatsapp.Sender:
    return whatsapp.Sender(session, api.base_url + "v21.0", channel_key="106540352242922", access_token=TOKEN, **kwargs)


async def test_whatsapp_sends_text_as_a_reply(session: aiohttp.ClientSession, api: FakeApi) -> None:
    api.reply(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.NEW"}]})
    result = await wa_sender(session, api).send(
        OutboundMessage(recipient="16505551234", text="Hello", reply_to="wamid.OLD")
    )
    assert result == SendResult(platform_message_id="wamid.NEW")
    request = api.only_request
    assert (request.method, request.path) == ("POST", "/v21.0/106540352242922/messages")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"body": "Hello"},
        "context": {"message_id": "wamid.OLD"},
    }


async def test_whatsapp_addresses_a_bsuid_with_recipient(session: aiohttp.ClientSession, api: FakeApi) -> None:
    await wa_sender(session, api).send(OutboundMessage(recipient="US.13491208655302741918", text="Hi"))
    body = api.only_request.body
    assert body["recipient"] == "US.13491208655302741918"
    assert "to" not in body


async def test_whatsapp_sends_media_by_link_with_caption(session: aiohttp.ClientSession, api: FakeApi) -> None:
    msg = OutboundMessage(
        recipient="16505551234", text="Our menu", media_url="https://x.test/m.jpg", media_type="image"
    )
    await wa_sender(session, api).send(msg)
    body = api.only_request.body
    assert body["type"] == "image"
    assert body["image"] == {"link": "https://x.test/m.jpg", "caption": "Our menu"}


async def test_whatsapp_refuses_a_caption_on_audio_without_calling(
    session: aiohttp.ClientSession, api: FakeApi
) -> None:
    msg = OutboundMessage(recipient="1", text=SECRET_TEXT, media_url="https://x.test/a.ogg", media_type="audio")
    error = await send_expecting_error(wa_sender(session, api), msg)
    assert not error.retryable
    assert api.requests == []


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (429, 4, True),
        (500, 1, True),
        (503, None, True),
        (400, 130429, True),  # throughput limit comes back as a 400
        (400, 131047, False),  # outside the 24 h window
        (401, 190, False),  # bad token
        (404, 100, False),
    ],
)
async def test_whatsapp_maps_graph_errors(
    session: aiohttp.ClientSession, api: FakeApi, status: int, code: int | None, retryable: bool
) -> None:
    body = {"error": {"message": "(#x) Something", "type": "OAuthException", "code": code}} if code else {}
    api.reply(status, body)
    error = await send_expecting_error(wa_sender(session, api), OutboundMessage(recipient="1", text=SECRET_TEXT))
    assert (error.retryable, error.status) == (retryable, status)


async def test_whatsapp_timeout_is_retryable(session: aiohttp.ClientSession, api: FakeApi) -> None:
    api.delay = 1.0
    sender = wa_sender(session, api, timeout=aiohttp.ClientTimeout(total=0.1))
    error = await send_expecting_error(sender, OutboundMessage(recipient="1", text=SECRET_TEXT))
    assert error.retryable
    assert error.status is None


async def test_connection_refused_is_retryable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = whatsapp.Sender(session, f"http://127.0.0.1:{port}/v21.0/", channel_key="1", access_token=TOKEN)
    error = await send_expecting_error(sender, OutboundMessage(recipient="1", text=SECRET_TEXT))
    assert error.retryable


# --- Messenger ---------------------------------------------------------------------------------------------------


def fb_sender(session: aiohttp.ClientSession, api: FakeApi) -> messenger.Sender:
    return messenger.Sender(session, api.base_url + "v21.0/", channel_key="12345654332", access_token=TOKEN)


async def test_messenger_sends_text_with_the_token_as_a_query_parameter(
    session: aiohttp.ClientSession, api: FakeApi
) -> None:
    api.reply(200, {"recipient_id": "987654321432", "message_id": "m_NEW"})
    result = await fb_sender(session, api).send(OutboundMessage(recipient="987654321432", text="Hello"))
    assert result.platform_message_id == "m_NEW"
    request = api.only_request
    assert request.path == "/v21.0/12345654332/messages"
    assert request.query == {"access_token": TOKEN}
    assert request.body == {
        "recipient": {"id": "987654321432"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Hello"},
    }


async def test_whatsapp_sends_a_template_with_its_body_parameters(session: aiohttp.ClientSession, api: FakeApi) -> None:
    api.reply(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.T"}]})
    await wa_sender(session, api).send(
        OutboundMessage(recipient="16505551234", template=Template("order_update", "en_US", ("#123", "Friday")))
    )
    assert api.only_request.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "#123"}, {"type": "text", "text": "Friday"}]}
            ],
        },
    }


async def test_whatsapp_template_without_parameters_has_no_components(
    session: aiohttp.ClientSession, api: FakeApi
) -> None:
    api.reply(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.T"}]})
    await wa_sender(session, api).send(
        OutboundMessage(recipient="16505551234", template=Template("hello_world", "en_US"))
    )
    assert api.only_request.body["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


async def test_messenger_sends_a_tagged_reply_as_message_tag(session: aiohttp.ClientSession, api: FakeApi) -> None:
    api.reply(200, {"recipient_id": "987654321432", "message_id": "m_TAGGED"})
    await fb_sender(session, api).send(OutboundMessage(recipient="987654321432", text="Sorry", tag="HUMAN_AGENT"))
    assert api.only_request.body == {
        "recipient": {"id": "987654321432"},
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": {"text": "Sorry"},
    }


async def test_messenger_sends_an_attachment_by_url(session: aiohttp.ClientSession, api: FakeApi) -> None:
    msg = OutboundMessage(recipient="987654321432", media_url="https://x.test/f.pdf", media_type="document")
    await fb_sender(session, api).send(msg)
    assert api.only_request.body["message"] == {
        "attachment": {"type": "file", "payload": {"url": "https://x.test/f.pdf", "is_reusable": False}}
    }


async def test_messenger_refuses_text_and_attachment_together(session: aiohttp.ClientSession, api: FakeApi) -> None:
    msg = OutboundMessage(recipient="1", text=SECRET_TEXT, media_url="https://x.test/i.png", media_type="image")
    error = await send_expecting_error(fb_sender(session, api), msg)
    assert not error.retryable
    assert api.requests == []


async def test_messenger_errors_hide_the_page_token(session: aiohttp.ClientSession, api: FakeApi) -> None:
    api.reply(400, {"error": {"message": "(#10) Outside the allowed window", "code": 10, "error_subcode": 2018278}})
    error = await send_expecting_error(fb_sender(session, api), OutboundMessage(recipient="1", text=SECRET_TEXT))
    assert not error.retryable
    assert "10/2018278" in str(error)


# --- LINE --------------------------------------------------------------------------------------------------------


def line_sender(session: aiohttp.ClientSession, api: FakeApi) -> line.Sender:
    return line.Sender(session, api.base_url, channel_key="1657000000", access_token=TOKEN)


async def test_line_replies_with_the_reply_token(session: aiohttp.ClientSession, api: FakeApi) -> None:
    api.reply(200, {"sentMessages": [{"id": "461230966842064897", "quoteToken": "q"}]})
    msg = OutboundMessage(recipient="U206d", text="Hello", reply_token="rt-1", idempotency_key="key-1")
    result = await line_sender(session, api).send(msg)
    assert result.platform_message_id == "461230966842064897"
    request = api.only_request
    assert request.path == "/v2/bot/message/reply"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "X-Line-Retry-Key" not in request.headers
    assert request.body == {"replyToken": "rt-1", "messages": [{"type": "text", "text": "Hello"}]}


async def test_line_pushes_with_a_retry_key(session: aiohttp.ClientSession, api: FakeApi) -> None:
    msg = OutboundMessage(recipient="Ca56f", text="Hello", media_url="https://x.test/i.jpg", idempotency_key="k-2")
    result = await line_sender(session, api).send(msg)
    assert result.platform_message_id is None  # an older API version answers {} to a push
    request = api.only_request
    assert request.path == "/v2/bot/message/push"
    assert request.headers["X-Line-Retry-Key"] == "k-2"
    assert request.body == {
        "to": "Ca56f",
        "messages": [
            {"type": "text", "text": "Hello"},
            {"type": "image", "originalContentUrl": "https://x.test/i.jpg", "previewImageUrl": "https://x.test/i.jpg"},
        ],
    }


async def test_line_expired_reply_token_is_reported_so_the_caller_can_push(
    session: aiohttp.ClientSession, api: FakeApi
) -> None:
    api.reply(400, {"message": "Invalid reply token"})
    msg = OutboundMessage(recipient="U206d", text=SECRET_TEXT, reply_token="stale", idempotency_key="k-3")
    error = await send_expecting_error(line_sender(session, api), msg)
    assert isinstance(error, line.ReplyTokenError)
    assert error.retryable
    api.reply(200, {"sentMessages": [{"id": "2"}]})
    retry = OutboundMessage(recipient=msg.recipient, text=msg.text, idempotency_key=msg.idempotency_key)
    assert (await line_sender(session, api).send(retry)).platform_message_id == "2"
    assert [request.path for request in api.requests] == ["/v2/bot/message/reply", "/v2/bot/message/push"]


async def test_line_push_conflict_means_already_accepted(session: aiohttp.ClientSession, api: FakeApi) -> None:
    api.reply(409, {"message": "The retry key is already accepted"})
    msg = OutboundMessage(recipient="U206d", text="Hi", idempotency_key="k-4")
    assert await line_sender(session, api).send(msg) == SendResult(platform_message_id=None)


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (400, False), (403, False)])
async def test_line_maps_http_errors(
    session: aiohttp.ClientSession, api: FakeApi, status: int, retryable: bool
) -> None:
    api.reply(status, {"message": "The request body has 1 error(s)"})
    error = await send_expecting_error(line_sender(session, api), OutboundMessage(recipient="U1", text=SECRET_TEXT))
    assert (error.retryable, error.status) == (retryable, status)
    assert not isinstance(error, line.ReplyTokenError)


async def test_line_refuses_video_by_url(session: aiohttp.ClientSession, api: FakeApi) -> None:
    msg = OutboundMessage(recipient="U1", media_url="https://x.test/v.mp4", media_type="video")
    error = await send_expecting_error(line_sender(session, api), msg)
    assert not error.retryable
    assert api.requests == []


# --- TikTok ------------------------------------------------------------------------------------------------------


def tt_sender(session: aiohttp.ClientSession, api: FakeApi) -> tiktok.Sender:
    return tiktok.Sender(session, api.base_url + "open_api/v1.3", channel_key="biz-123", access_token=TOKEN)


async def test_tiktok_sends_text_to_the_conversation(session: aiohttp.ClientSession, api: FakeApi) -> None:
    api.reply(200, {"code": 0, "message": "OK", "data": {"message": {"message_id": "tt-new"}}})
    msg = OutboundMessage(recipient="tt-conv-1", text="Hello", reply_to="tt-msg-1")
    assert (await tt_sender(session, api).send(msg)).platform_message_id == "tt-new"
    request = api.only_request
    assert request.path == "/open_api/v1.3/business/message/send/"
    assert request.headers["Access-Token"] == TOKEN
    assert "Authorization" not in request.headers
    assert request.body == {
        "business_id": "biz-123",
        "recipient_type": "CONVERSATION",
        "recipient": "tt-conv-1",
        "message_type": "TEXT",
        "text": {"body": "Hello"},
        "referenced_message_info": {"referenced_message_id": "tt-msg-1"},
    }


@pytest.mark.parametrize(("code", "retryable"), [(40064, False), (40001, False), (40100, True), (50002, True)])
async def test_tiktok_errors_arrive_as_http_200_with_a_code(
    session: aiohttp.ClientSession, api: FakeApi, code: int, retryable: bool
) -> None:
    api.reply(200, {"code": code, "message": "conversation limit", "data": {}})
    error = await send_expecting_error(tt_sender(session, api), OutboundMessage(recipient="c", text=SECRET_TEXT))
    assert error.retryable is retryable
    assert str(code) in str(error)


async def test_tiktok_http_failure_is_retryable(session: aiohttp.ClientSession, api: FakeApi) -> None:
    api.reply(503, {})
    error = await send_expecting_error(tt_sender(session, api), OutboundMessage(recipient="c", text=SECRET_TEXT))
    assert error.retryable


async def test_tiktok_refuses_media_by_url(session: aiohttp.ClientSession, api: FakeApi) -> None:
    msg = OutboundMessage(recipient="c", media_url="https://x.test/i.jpg", media_type="image")
    assert not (await send_expecting_error(tt_sender(session, api), msg)).retryable
    assert api.requests == []


# --- every platform ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PLATFORMS))
async def test_registry_senders_share_one_constructor(session: aiohttp.ClientSession, api: FakeApi, name: str) -> None:
    api.reply(200, {"code": 0, "messages": [{"id": "x"}], "message_id": "x", "data": {"message": {"message_id": "x"}}})
    sender = PLATFORMS[name].Sender(session, api.base_url, channel_key="channel-1", access_token=TOKEN)
    await sender.send(OutboundMessage(recipient="contact-1", text="Hello"))
    assert len(api.requests) == 1


@pytest.mark.parametrize("name", sorted(PLATFORMS))
async def test_nothing_to_send_is_not_retryable(session: aiohttp.ClientSession, api: FakeApi, name: str) -> None:
    sender = PLATFORMS[name].Sender(session, api.base_url, channel_key="channel-1", access_token=TOKEN)
    assert not (await send_expecting_error(sender, OutboundMessage(recipient="contact-1"))).retryable
    assert api.requests == []
