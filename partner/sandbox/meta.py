"""Meta Graph stand-in: WhatsApp Cloud API and Messenger Send API at ``POST /v<ver>/<node_id>/messages``.

Both products share the path, so, like Graph, the node id decides: registered WhatsApp phone-number ids
get WhatsApp semantics, registered Page ids get Messenger semantics, anything else is Graph's
"Unsupported post request" (code 100, subcode 33). Graph takes the token from ``Authorization: Bearer``
or from the ``access_token`` query parameter for either product, so both are accepted.

Errors use Graph's envelope ``{"error": {"message", "type", "code", "fbtrace_id"}}``:
missing token → 400 code 2500; unknown token → 401 code 190; bad parameter → 400 code 100.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from partner.sandbox.state import STATE_KEY, SandboxState

WHATSAPP_TEXT_LIMIT = 4096
MESSENGER_TEXT_LIMIT = 2000
WHATSAPP_TYPES = frozenset(
    {"text", "template", "image", "audio", "video", "document", "sticker", "location", "contacts",
     "interactive", "reaction"}
)  # fmt: skip
MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
MESSAGE_TAGS = ("CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", "HUMAN_AGENT")


class GraphError(Exception):
    def __init__(self, status: int, code: int, message: str, *, subcode: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.subcode = status, code, message, subcode


def graph_error_response(
    status: int, code: int, message: str, *, subcode: int | None = None, transient: bool = False
) -> web.Response:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(18),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    return web.json_response({"error": error}, status=status)


def _param_error(message: str) -> GraphError:
    return GraphError(400, 100, f"(#100) {message}")


def _token(request: web.Request, state: SandboxState) -> None:
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else request.query.get("access_token")
    if not token:
        raise GraphError(400, 2500, "An active access token must be used to query information about the current user.")
    if token not in state.meta_tokens:
        raise GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise _param_error("The request body could not be parsed as JSON.") from error
    if not isinstance(body, dict):
        raise _param_error("The request body must be a JSON object.")
    return body


async def messages(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    node_id = request.match_info["node_id"]
    try:
        _token(request, state)
        body = await _json_body(request)
        if node_id in state.whatsapp_phone_number_ids:
            result = _whatsapp(state, node_id, body)
        elif node_id in state.messenger_page_ids:
            result = _messenger(state, node_id, body)
        else:
            raise GraphError(
                400, 100,
                f"Unsupported post request. Object with ID '{node_id}' does not exist, cannot be loaded due "
                "to missing permissions, or does not support this operation.",
                subcode=33,
            )  # fmt: skip
    except GraphError as error:
        return graph_error_response(error.status, error.code, error.message, subcode=error.subcode)
    return web.json_response(result)


# --- WhatsApp -------------------------------------------------------------------------------------------


def _whatsapp(state: SandboxState, phone_number_id: str, body: dict[str, Any]) -> dict[str, Any]:
    product = body.get("messaging_product")
    if product is None:
        raise _param_error("The parameter messaging_product is required.")
    if product != "whatsapp":
        raise _param_error(f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".')
    if body.get("status") == "read":
        if not isinstance(body.get("message_id"), str):
            raise _param_error("The parameter message_id is required.")
        return {"success": True}
    contact = _whatsapp_contact(body)
    _whatsapp_content(state, body)
    wamid = "wamid." + secrets.token_urlsafe(36)
    state.sent_messages.append(
        {"platform": "whatsapp", "from": phone_number_id, "to": contact["input"], "id": wamid, "body": body}
    )
    return {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": wamid}]}


def _whatsapp_contact(body: dict[str, Any]) -> dict[str, str]:
    """``to`` is a phone number or wa_id; ``recipient`` is a BSUID for username-only users (spec §1.6)."""
    to, recipient = body.get("to"), body.get("recipient")
    if isinstance(to, str) and to:
        wa_id = "".join(ch for ch in to if ch.isdigit())
        if not wa_id:
            raise _param_error(f"Invalid parameter to: '{to}' is not a phone number.")
        return {"input": to, "wa_id": wa_id}
    if isinstance(recipient, str) and recipient:
        return {"input": recipient, "user_id": recipient}
    raise _param_error("The parameter to is required.")


def _whatsapp_content(state: SandboxState, body: dict[str, Any]) -> None:
    kind = body.get("type", "text")
    if kind not in WHATSAPP_TYPES:
        raise _param_error(f"Param type must be one of {{{', '.join(sorted(WHATSAPP_TYPES)).upper()}}}.")
    content = body.get(kind)
    if kind == "contacts":
        if not isinstance(content, list) or not content:
            raise _param_error("The parameter contacts is required.")
        return
    if not isinstance(content, dict):
        raise _param_error(f"The parameter {kind} is required.")
    if kind == "text":
        text = content.get("body")
        if not isinstance(text, str) or not text:
            raise _param_error("The parameter text['body'] is required.")
        if len(text) > WHATSAPP_TEXT_LIMIT:
            raise _param_error(f"Param text['body'] must be at most {WHATSAPP_TEXT_LIMIT} characters long.")
    elif kind == "template":
        _whatsapp_template(state, content)


def _whatsapp_template(state: SandboxState, template: dict[str, Any]) -> None:
    """An approved template by name and language, with as many body parameters as it has placeholders."""
    name = template.get("name")
    if not isinstance(name, str) or not name:
        raise _param_error("The parameter template['name'] is required.")
    language = template.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str) or not code:
        raise _param_error("The parameter template['language']['code'] is required.")
    expected = state.whatsapp_templates.get((name, code))
    if expected is None:
        raise GraphError(404, 132001, "(#132001) Template name does not exist in the translation")
    if _template_body_parameters(template.get("components")) != expected:
        raise GraphError(400, 132000, "(#132000) Number of parameters does not match the expected number of params")


def _template_body_parameters(components: object) -> int:
    if components is None:
        return 0
    if not isinstance(components, list) or not all(isinstance(item, dict) for item in components):
        raise _param_error("Param template['components'] must be an array of objects.")
    count = 0
    for component in components:
        if component.get("type") != "body":
            continue
        parameters = component.get("parameters")
        if not isinstance(parameters, list):
            raise _param_error("Param template['components'][0]['parameters'] must be an array.")
        for parameter in parameters:
            if not isinstance(parameter, dict) or parameter.get("type") != "text":
                raise _param_error("Param template['components'][0]['parameters'][0]['type'] must be text.")
            if not isinstance(parameter.get("text"), str) or not parameter["text"]:
                raise _param_error("The parameter template['components'][0]['parameters'][0]['text'] is required.")
            count += 1
    return count


# --- Messenger ------------------------------------------------------------------------------------------


def _messenger(state: SandboxState, page_id: str, body: dict[str, Any]) -> dict[str, Any]:
    recipient = body.get("recipient")
    recipient_id = recipient.get("id") if isinstance(recipient, dict) else None
    if not isinstance(recipient_id, str) or not recipient_id:
        raise _param_error("param recipient must be non-empty.")
    _messenger_type(body)
    message, action = body.get("message"), body.get("sender_action")
    if message is None and action is None:
        raise _param_error("Must send either message or sender_action")
    if message is None:
        return {"recipient_id": recipient_id}
    _messenger_message(message)
    message_id = "m_" + secrets.token_urlsafe(48)
    state.sent_messages.append(
        {"platform": "messenger", "from": page_id, "to": recipient_id, "id": message_id, "body": body}
    )
    return {"recipient_id": recipient_id, "message_id": message_id}


def _messenger_type(body: dict[str, Any]) -> None:
    kind = body.get("messaging_type")
    if kind is not None and kind not in MESSAGING_TYPES:
        raise _param_error("param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}.")
    if kind == "MESSAGE_TAG" and not isinstance(body.get("tag"), str):
        raise _param_error("param tag is required when messaging_type is MESSAGE_TAG.")
    if kind == "MESSAGE_TAG" and body["tag"] not in MESSAGE_TAGS:
        raise _param_error("param tag must be one of {" + ", ".join(MESSAGE_TAGS) + "}.")


def _messenger_message(message: object) -> None:
    if not isinstance(message, dict) or not ("text" in message or "attachment" in message):
        raise _param_error("param message must be non-empty.")
    text = message.get("text")
    if text is not None and (not isinstance(text, str) or not text):
        raise _param_error("param message[text] must be a non-empty UTF-8 encoded string.")
    if isinstance(text, str) and len(text) > MESSENGER_TEXT_LIMIT:
        raise _param_error(f"Length of param message[text] must be less than or equal to {MESSENGER_TEXT_LIMIT}")


def add_routes(app: web.Application) -> None:
    app.router.add_post(r"/{version:v\d+\.\d+}/{node_id}/messages", messages)
