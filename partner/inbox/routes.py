"""The inbox API's route table under ``/api/v1``: every route is registered from, and documented by, one entry.

``partner.openapi.add_endpoints`` wraps each handler so that the entry's minimum role is enforced before the handler
runs; handlers then scope what they read to the caller's workspace and channels.
"""

from __future__ import annotations

import functools

from aiohttp import web

from partner.analysis import Follower
from partner.crm import routes as crm_routes
from partner.inbox import autoreplies, canned, conversations, labels, messages, orders, settings, users
from partner.inbox.messages import SEND_JOB
from partner.inbox.schemas import (
    CannedCreate,
    CannedList,
    CannedOut,
    CannedQuery,
    CannedUpdate,
    ConversationList,
    ConversationOut,
    ConversationQuery,
    ConversationUpdate,
    InboxSettingsOut,
    InboxSettingsUpdate,
    LabelCreate,
    LabelList,
    LabelOut,
    LabelUpdate,
    Me,
    MessageList,
    MessageOut,
    MessageQuery,
    MeUpdate,
    OrderCreate,
    OrderList,
    OrderOut,
    OrderUpdate,
    ReplyCreate,
    TokenCreate,
    TokenCreated,
    TokenList,
    UserCreate,
    UserList,
    UserOut,
    UserUpdate,
    WorkspaceQuery,
)
from partner.inbox.sending import OutboundSender
from partner.inbox.snoozing import SNOOZE_JOB, wake_snoozed_job
from partner.openapi import Endpoint, add_endpoints, openapi_json
from partner.worker import JobHandler

USER = r"/api/v1/users/{user_id:\d+}"
CONVERSATION = r"/api/v1/conversations/{conversation_id:\d+}"


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/api/v1/openapi.json", openapi_json, "This document", None, "meta"),
    Endpoint("GET", "/api/v1/me", users.me, "Who the token belongs to", "viewer", "users", response=Me),
    Endpoint(
        "PATCH", "/api/v1/me", users.update_me, "Set your availability (online, busy, offline)", "viewer", "users",
        body=MeUpdate, response=Me, errors=(409,),
        description="Round-robin assigns only online agents; coming online picks up conversations waiting for one.",
    ),
    Endpoint(
        "GET", "/api/v1/users", users.list_users, "Users of the workspace", "admin", "users",
        query=WorkspaceQuery, response=UserList, errors=(404,),
    ),
    Endpoint(
        "POST", "/api/v1/users", users.create_user, "Add a user", "admin", "users",
        body=UserCreate, status=201, response=UserOut, errors=(404, 409),
    ),
    Endpoint("GET", USER, users.get_user, "One user", "admin", "users", response=UserOut),
    Endpoint(
        "PATCH", USER, users.update_user, "Change a user's name, role, channels or active state", "admin", "users",
        body=UserUpdate, response=UserOut, errors=(409,),
    ),
    Endpoint("GET", USER + "/tokens", users.list_tokens, "A user's API tokens", "admin", "users", response=TokenList),
    Endpoint(
        "POST", USER + "/tokens", users.create_token, "Create an API token (shown once)", "admin", "users",
        body=TokenCreate, status=201, response=TokenCreated,
    ),
    Endpoint(
        "DELETE", USER + r"/tokens/{token_id:\d+}", users.revoke_token, "Revoke an API token", "admin", "users",
        status=204,
    ),
    Endpoint(
        "GET", "/api/v1/conversations", conversations.list_conversations, "List and filter conversations",
        "viewer", "conversations", query=ConversationQuery, response=ConversationList, errors=(404,),
        description="Keyset-paginated (pass next_cursor back as cursor); counts are for the same filters.",
    ),
    Endpoint(
        "GET", CONVERSATION, conversations.get_conversation, "One conversation", "viewer", "conversations",
        response=ConversationOut,
    ),
    Endpoint(
        "PATCH", CONVERSATION, conversations.update_conversation,
        "Change status, snooze, priority, assignee or labels", "agent", "conversations",
        body=ConversationUpdate, response=ConversationOut,
    ),
    Endpoint(
        "GET", CONVERSATION + "/messages", messages.list_messages, "Messages, oldest first", "viewer", "messages",
        query=MessageQuery, response=MessageList,
    ),
    Endpoint(
        "POST", CONVERSATION + "/messages", messages.create_message, "Reply, or add a private note", "agent",
        "messages", body=ReplyCreate, status=201, response=MessageOut, errors=(409,),
        description="A reply is stored as pending and sent by the durable queue; a note is never sent. "
        "Text that starts with /shortcut expands to that canned response.",
    ),
    Endpoint(
        "GET", CONVERSATION + "/orders", orders.list_orders, "Orders and reservations of a conversation", "viewer",
        "orders", response=OrderList,
    ),
    Endpoint(
        "POST", CONVERSATION + "/orders", orders.create_order, "Take an order or reservation", "agent", "orders",
        body=OrderCreate, status=201, response=OrderOut,
        description="Placing queues the order_placed conversion for TikTok, paying also order_paid; each is "
        "reported once per conversation.",
    ),
    Endpoint(
        "PATCH", CONVERSATION + r"/orders/{order_id:\d+}", orders.update_order, "Pay, cancel or change an order",
        "agent", "orders", body=OrderUpdate, response=OrderOut, errors=(409,),
    ),
    Endpoint(
        "GET", "/api/v1/labels", labels.list_labels, "Labels of the workspace", "viewer", "labels",
        query=WorkspaceQuery, response=LabelList, errors=(404,),
    ),
    Endpoint(
        "POST", "/api/v1/labels", labels.create_label, "Add a label", "admin", "labels",
        body=LabelCreate, status=201, response=LabelOut, errors=(404, 409),
    ),
    Endpoint(
        "PATCH", r"/api/v1/labels/{label_id:\d+}", labels.update_label, "Rename or recolour a label", "admin",
        "labels", body=LabelUpdate, response=LabelOut, errors=(409,),
    ),
    Endpoint(
        "DELETE", r"/api/v1/labels/{label_id:\d+}", labels.delete_label, "Delete a label (and its uses)", "admin",
        "labels", status=204,
    ),
    Endpoint(
        "GET", "/api/v1/canned_responses", canned.list_canned, "Canned responses", "viewer", "canned responses",
        query=CannedQuery, response=CannedList, errors=(404,),
    ),
    Endpoint(
        "POST", "/api/v1/canned_responses", canned.create_canned, "Add a canned response", "agent",
        "canned responses", body=CannedCreate, status=201, response=CannedOut, errors=(404, 409),
    ),
    Endpoint(
        "GET", r"/api/v1/canned_responses/{canned_id:\d+}", canned.get_canned, "One canned response", "viewer",
        "canned responses", response=CannedOut,
    ),
    Endpoint(
        "PATCH", r"/api/v1/canned_responses/{canned_id:\d+}", canned.update_canned, "Change a canned response",
        "agent", "canned responses", body=CannedUpdate, response=CannedOut, errors=(409,),
    ),
    Endpoint(
        "DELETE", r"/api/v1/canned_responses/{canned_id:\d+}", canned.delete_canned, "Delete a canned response",
        "agent", "canned responses", status=204,
    ),
    Endpoint(
        "GET", "/api/v1/inbox/settings", settings.get_settings, "Inbox settings of the workspace", "viewer",
        "settings", query=WorkspaceQuery, response=InboxSettingsOut, errors=(404,),
    ),
    Endpoint(
        "PATCH", "/api/v1/inbox/settings", settings.update_settings, "Change inbox settings", "admin", "settings",
        query=WorkspaceQuery, body=InboxSettingsUpdate, response=InboxSettingsOut, errors=(404,),
    ),
    *autoreplies.ENDPOINTS,
    *crm_routes.ENDPOINTS,
)  # fmt: skip


def add_routes(app: web.Application) -> None:
    """Register the inbox's entries (``GET /api/v1/openapi.json`` documents every table the app registered)."""
    add_endpoints(app, ENDPOINTS)


def job_handlers(app: web.Application) -> dict[str, JobHandler]:
    """Durable-queue handlers: ``message.send`` delivers replies, ``inbox.snooze_wake`` ends snoozes on time."""
    return {
        SEND_JOB: OutboundSender(app),
        SNOOZE_JOB: functools.partial(wake_snoozed_job, app),
        **autoreplies.job_handlers(app),
        **crm_routes.job_handlers(app),
    }


def analysis_followers() -> tuple[Follower, ...]:
    """What runs after each inbound message is analysed: auto-replies first, then the CRM hears of it all."""
    return (autoreplies.follow, crm_routes.follow)
