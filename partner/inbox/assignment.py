"""Who answers a conversation: manual assignment from the API and optional round-robin for new conversations.

Functions take a synchronous ``Connection`` so ingest can call them inside its own transaction and the API can
reach them with ``AsyncConnection.run_sync``.

Round-robin (workspace setting ``round_robin``) hands each new, unassigned conversation to the next active agent
(role ``agent``) who may see its channel, in user-id order after the agent who got the channel's previous one.
Admins and viewers are never picked; agents' presence is not tracked.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from partner.accounts.models import USER_CHANNELS, USERS
from partner.inbox.models import ASSIGNMENTS, CONVERSATIONS, ROUND_ROBIN, SETTINGS
from partner.store.models import utcnow
from partner.web import ApiError

ASSIGNABLE_ROLES = ("admin", "agent")


def _sees_channel(channel_id: int) -> sa.ColumnElement[bool]:
    limited = sa.exists().where(USER_CHANNELS.c.user_id == USERS.c.id)
    allowed = sa.exists().where(USER_CHANNELS.c.user_id == USERS.c.id, USER_CHANNELS.c.channel_id == channel_id)
    return sa.or_(sa.not_(limited), allowed)


def assign(
    connection: Connection, workspace_id: int, channel_id: int, conversation_id: int, user_id: int | None
) -> None:
    """Assign (or, with None, unassign); the assignee must be an active agent or admin who sees the channel."""
    if user_id is not None:
        eligible = connection.execute(
            sa.select(USERS.c.id).where(
                USERS.c.id == user_id,
                USERS.c.workspace_id == workspace_id,
                USERS.c.active,
                USERS.c.role.in_(ASSIGNABLE_ROLES),
                _sees_channel(channel_id),
            )
        ).first()
        if eligible is None:
            raise ApiError(
                422,
                "invalid",
                "the assignee must be an active agent or admin of this workspace who sees this channel",
                field="assignee_id",
            )
    if user_id is None:
        connection.execute(sa.delete(ASSIGNMENTS).where(ASSIGNMENTS.c.conversation_id == conversation_id))
        return
    values = {"conversation_id": conversation_id, "user_id": user_id, "assigned_at": utcnow()}
    upsert(connection, ASSIGNMENTS, values, key="conversation_id")


def round_robin_enabled(connection: Connection, workspace_id: int) -> bool:
    value = connection.execute(
        sa.select(SETTINGS.c.round_robin).where(SETTINGS.c.workspace_id == workspace_id)
    ).scalar_one_or_none()
    return bool(value)


def assign_round_robin(connection: Connection, conversation_id: int) -> int | None:
    """Give a new conversation to the channel's next agent when the workspace asks for it; returns the agent.

    Call from ingest, in its transaction, after a conversation was created by an inbound message. Does nothing
    when round-robin is off, the conversation is already assigned, or no agent sees the channel.
    """
    conversation = connection.execute(
        sa.select(CONVERSATIONS.c.workspace_id, CONVERSATIONS.c.channel_id).where(CONVERSATIONS.c.id == conversation_id)
    ).first()
    if conversation is None or not round_robin_enabled(connection, conversation.workspace_id):
        return None
    assigned = connection.execute(
        sa.select(ASSIGNMENTS.c.user_id).where(ASSIGNMENTS.c.conversation_id == conversation_id)
    ).first()
    if assigned is not None:
        return None
    agent = _next_agent(connection, conversation.workspace_id, conversation.channel_id)
    if agent is None:
        return None
    values = {"conversation_id": conversation_id, "user_id": agent, "assigned_at": utcnow()}
    upsert(connection, ASSIGNMENTS, values, key="conversation_id", replace=False)
    upsert(connection, ROUND_ROBIN, {"channel_id": conversation.channel_id, "last_user_id": agent}, key="channel_id")
    return agent


def _next_agent(connection: Connection, workspace_id: int, channel_id: int) -> int | None:
    agents = list(
        connection.execute(
            sa.select(USERS.c.id)
            .where(
                USERS.c.workspace_id == workspace_id, USERS.c.active, USERS.c.role == "agent", _sees_channel(channel_id)
            )
            .order_by(USERS.c.id)
        ).scalars()
    )
    if not agents:
        return None
    previous = connection.execute(
        sa.select(ROUND_ROBIN.c.last_user_id).where(ROUND_ROBIN.c.channel_id == channel_id).with_for_update()
    ).scalar_one_or_none()
    later = [agent for agent in agents if previous is not None and agent > previous]
    return int(later[0] if later else agents[0])


def upsert(connection: Connection, target: sa.Table, values: dict[str, Any], *, key: str, replace: bool = True) -> None:
    """Insert, or on a duplicate key overwrite (``replace``) or keep the existing row; safe under concurrency."""
    module: Any = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = module.insert(target).values(**values)
    if replace:
        updates = {name: value for name, value in values.items() if name != key}
        statement = statement.on_conflict_do_update(index_elements=[key], set_=updates)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=[key])
    connection.execute(statement)
