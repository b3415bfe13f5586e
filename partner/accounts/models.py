"""Who may use the API: users with a role in one workspace, the channels they are limited to, their tokens.

Every part of the service authorises through ``partner.accounts.auth``, so these tables sit apart from the inbox.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from partner.store.models import UTCDateTime, table, utcnow

ROLES = ("admin", "agent", "viewer")
AVAILABILITIES = ("online", "busy", "offline")  # only online agents are auto-assigned


def _now() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _when() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


class User(SQLModel, table=True):
    """A person (or integration) working in one workspace with one role: admin, agent or viewer."""

    __tablename__ = "users"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "email", name="uq_users_workspace_email"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = Field(foreign_key="workspaces.id")
    email: str = Field(max_length=254)
    name: str = Field(default="", max_length=200)
    role: str = Field(max_length=16)
    active: bool = Field(default=True)
    availability: str = Field(default="online", max_length=16, sa_column_kwargs={"server_default": "online"})
    capacity: int | None = Field(default=None)  # most open conversations auto-assignment gives them; None: no limit
    created_at: datetime = _now()
    updated_at: datetime = _now()


class UserChannel(SQLModel, table=True):
    """Limits a user to some channels; a user without rows here sees every channel of the workspace."""

    __tablename__ = "user_channels"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    channel_id: int = Field(foreign_key="channels.id", primary_key=True)


class ApiToken(SQLModel, table=True):
    """A bearer token, stored as the SHA-256 of a 256-bit random secret: a leaked table reveals no token."""

    __tablename__ = "api_tokens"
    __table_args__ = (sa.UniqueConstraint("token_hash", name="uq_api_tokens_hash"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    workspace_id: int = Field(foreign_key="workspaces.id")
    token_hash: str = Field(max_length=64)
    prefix: str = Field(max_length=16)  # the first characters, so a person can tell tokens apart
    name: str = Field(default="", max_length=100)
    created_at: datetime = _now()
    last_used_at: datetime | None = _when()
    revoked_at: datetime | None = _when()


USERS = table(User)
USER_CHANNELS = table(UserChannel)
API_TOKENS = table(ApiToken)
