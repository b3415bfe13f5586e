"""Who answers a conversation: manual assignment from the API and optional round-robin for new conversations.

Functions take a synchronous ``Connection`` so ingest can call them inside its own transaction and the API can
reach them with ``AsyncConnection.run_sync``.

Round-robin (workspace setting ``round_robin``) hands each new, unassigned conversation to an agent who can take
it: active, role ``agent``, sees the channel, availability ``online``, and below their capacity (most open or
pending conversations assigned to them; no capacity means no limit). Among those, the one with the fewest open
conversations gets it, and ties go in turn, in user-id order after the agent who got the channel's previous one,
so load stays even when agents resolve at different speeds. Admins and viewers are never picked.

When nobody can take a conversation it waits, unassigned. :func:`drain_queue` hands waiting conversations out,
oldest first, when capacity frees: an agent comes online or gets more capacity, or an assigned conversation is
resolved or snoozed.
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
OPEN_STATUSES = ("open", "pending")  # what counts against an agent's capacity
DRAIN_BATCH = 200  # waiting conversations handed out per drain: bounds the work of one API call


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
    else:
        values = {"conversation_id": conversation_id, "user_id": user_id, "assigned_at": utcnow()}
        upsert(connection, ASSIGNMENTS, values, key="conversation_id")
    _copy_assignee(connection, conversation_id)


def _copy_assignee(connection: Connection, conversation_id: int) -> None:
    """Keep ``conversations.assignee_id`` equal to the assignment row, which the tab counts read instead."""
    assignee = (
        sa.select(ASSIGNMENTS.c.user_id).where(ASSIGNMENTS.c.conversation_id == conversation_id).scalar_subquery()
    )
    connection.execute(
        sa.update(CONVERSATIONS).where(CONVERSATIONS.c.id == conversation_id).values(assignee_id=assignee)
    )


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
    _give(connection, conversation_id, conversation.channel_id, agent)
    return agent


def drain_queue(connection: Connection, workspace_id: int) -> int:
    """Assign waiting (open, unassigned) conversations, oldest first, to agents who can take them; returns how many."""
    if not round_robin_enabled(connection, workspace_id):
        return 0
    waiting = connection.execute(
        sa.select(CONVERSATIONS.c.id, CONVERSATIONS.c.channel_id)
        .where(
            CONVERSATIONS.c.workspace_id == workspace_id,
            CONVERSATIONS.c.status == "open",
            ~sa.exists().where(ASSIGNMENTS.c.conversation_id == CONVERSATIONS.c.id),
        )
        .order_by(CONVERSATIONS.c.id)
        .limit(DRAIN_BATCH)
    ).all()
    assigned = 0
    full_channels: set[int] = set()
    for conversation_id, channel_id in waiting:
        if channel_id in full_channels:
            continue
        agent = _next_agent(connection, workspace_id, channel_id)
        if agent is None:
            full_channels.add(channel_id)
            continue
        _give(connection, conversation_id, channel_id, agent)
        assigned += 1
    return assigned


def _give(connection: Connection, conversation_id: int, channel_id: int, agent: int) -> None:
    values = {"conversation_id": conversation_id, "user_id": agent, "assigned_at": utcnow()}
    upsert(connection, ASSIGNMENTS, values, key="conversation_id", replace=False)
    _copy_assignee(connection, conversation_id)
    upsert(connection, ROUND_ROBIN, {"channel_id": channel_id, "last_user_id": agent}, key="channel_id")


def _next_agent(connection: Connection, workspace_id: int, channel_id: int) -> int | None:
    """The least-loaded agent who can take a conversation of this channel; ties go in turn."""
    agents = connection.execute(
        sa.select(USERS.c.id, USERS.c.capacity)
        .where(
            USERS.c.workspace_id == workspace_id,
            USERS.c.active,
            USERS.c.role == "agent",
            USERS.c.availability == "online",
            _sees_channel(channel_id),
        )
        .order_by(USERS.c.id)
    ).all()
    if not agents:
        return None
    load = _open_load(connection, [int(agent.id) for agent in agents])
    free = [int(agent.id) for agent in agents if agent.capacity is None or load.get(agent.id, 0) < agent.capacity]
    if not free:
        return None
    fewest = min(load.get(agent, 0) for agent in free)
    candidates = [agent for agent in free if load.get(agent, 0) == fewest]
    previous = connection.execute(
        sa.select(ROUND_ROBIN.c.last_user_id).where(ROUND_ROBIN.c.channel_id == channel_id).with_for_update()
    ).scalar_one_or_none()
    later = [agent for agent in candidates if previous is not None and agent > previous]
    return later[0] if later else candidates[0]


def _open_load(connection: Connection, user_ids: list[int]) -> dict[int, int]:
    """Open or pending conversations assigned to each of these users."""
    rows = connection.execute(
        sa.select(ASSIGNMENTS.c.user_id, sa.func.count())
        .join(CONVERSATIONS, CONVERSATIONS.c.id == ASSIGNMENTS.c.conversation_id)
        .where(ASSIGNMENTS.c.user_id.in_(user_ids), CONVERSATIONS.c.status.in_(OPEN_STATUSES))
        .group_by(ASSIGNMENTS.c.user_id)
    ).all()
    return {int(user_id): int(count) for user_id, count in rows}


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
