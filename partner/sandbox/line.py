"""LINE Messaging API stand-in: ``POST /v2/bot/message/reply`` and ``POST /v2/bot/message/push``.

Behaviour copied from LINE: a Bearer channel token is required (401 otherwise); 1 to 5 messages per call;
reply tokens are single use and short-lived (unknown, used or expired → 400 ``Invalid reply token``); a push
repeated with an ``X-Line-Retry-Key`` already accepted in the last 24 h answers 409 with the original
request id in ``X-Line-Accepted-Request-Id`` and sends nothing. Every response has ``X-Line-Request-Id``.
"""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

from aiohttp import web

from partner.sandbox.state import STATE_KEY, SandboxState

MAX_MESSAGES = 5
TEXT_LIMIT = 5000
MESSAGE_TYPES = frozenset(
    {"text", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex", "textV2"}
)
PUSH_TARGET = re.compile(r"[UCR][0-9a-f]{32}")
_MISSING_AUTH = "Authorization header required. Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"


class LineError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.status, self.body = status, body


def _property_error(prop: str, message: str) -> LineError:
    return LineError(
        400,
        {"message": "The request body has 1 error(s)", "details": [{"message": message, "property": prop}]},
    )


def _check_token(request: web.Request, state: SandboxState) -> None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise LineError(401, {"message": _MISSING_AUTH})
    if header.removeprefix("Bearer ") not in state.line_channel_tokens:
        raise LineError(
            401,
            {"message": "Authentication failed. Confirm that the access token in the authorization header is valid."},
        )


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise LineError(400, {"message": "The request body could not be parsed as JSON"}) from error
    if not isinstance(body, dict):
        raise LineError(400, {"message": "The request body could not be parsed as JSON"})
    return body


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("messages")
    if not isinstance(items, list):
        raise _property_error("messages", "must be specified")
    if not 1 <= len(items) <= MAX_MESSAGES:
        raise _property_error("messages", f"Size must be between 1 and {MAX_MESSAGES}")
    for index, item in enumerate(items):
        _check_message(item, f"messages[{index}]")
    return items


def _check_message(item: object, prop: str) -> None:
    if not isinstance(item, dict) or item.get("type") not in MESSAGE_TYPES:
        raise _property_error(f"{prop}.type", "Invalid message type")
    if item["type"] == "text":
        text = item.get("text")
        if not isinstance(text, str) or not text:
            raise _property_error(f"{prop}.text", "must be specified")
        if len(text) > TEXT_LIMIT:
            raise _property_error(f"{prop}.text", f"Length must be between 0 and {TEXT_LIMIT}")


def _sent(count: int) -> list[dict[str, str]]:
    return [
        {"id": str(secrets.randbelow(9 * 10**17) + 10**17), "quoteToken": secrets.token_urlsafe(64)}
        for _ in range(count)
    ]


def _respond(request_id: str, status: int, body: dict[str, Any], **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers={"X-Line-Request-Id": request_id, **headers})


async def reply(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    request_id = str(uuid.uuid4())
    try:
        _check_token(request, state)
        body = await _json_body(request)
        token = body.get("replyToken")
        if not isinstance(token, str) or not token:
            raise _property_error("replyToken", "must be specified")
        items = _messages(body)
        if not state.consume_line_reply_token(token):
            raise LineError(400, {"message": "Invalid reply token"})
    except LineError as error:
        return _respond(request_id, error.status, error.body)
    sent = _sent(len(items))
    state.sent_messages.append({"platform": "line", "reply_token": token, "messages": items, "sent": sent})
    return _respond(request_id, 200, {"sentMessages": sent})


async def push(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    request_id = str(uuid.uuid4())
    retry_key = request.headers.get("X-Line-Retry-Key")
    try:
        _check_token(request, state)
        if retry_key is not None:
            _check_retry_key(retry_key)
            accepted = state.accepted_line_retry(retry_key)
            if accepted is not None:
                body = {
                    "message": "The retry key is already accepted",
                    "sentMessages": accepted.sent_messages,
                }
                return _respond(request_id, 409, body, **{"X-Line-Accepted-Request-Id": accepted.request_id})
        body = await _json_body(request)
        to = body.get("to")
        if not isinstance(to, str) or not PUSH_TARGET.fullmatch(to):
            raise LineError(400, {"message": "The property, 'to', in the request body is invalid (line: -, column: -)"})
        items = _messages(body)
    except LineError as error:
        return _respond(request_id, error.status, error.body)
    sent = _sent(len(items))
    if retry_key is not None:
        state.remember_line_retry(retry_key, request_id, sent)
    state.sent_messages.append({"platform": "line", "to": to, "messages": items, "sent": sent})
    return _respond(request_id, 200, {"sentMessages": sent})


def _check_retry_key(key: str) -> None:
    try:
        uuid.UUID(key)
    except ValueError as error:
        raise LineError(400, {"message": "The value of the X-Line-Retry-Key header is invalid"}) from error


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v2/bot/message/reply", reply)
    app.router.add_post("/v2/bot/message/push", push)
