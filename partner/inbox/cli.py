"""``partner admin create-user`` and ``partner admin create-token``: the first users, and a way back in.

Both read ``PARTNER_*`` settings like ``partner db upgrade``, apply migrations first, and print the new token once
on standard output (only its hash is stored). Nothing else is printed there, so ``TOKEN=$(partner admin ...)``
works.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from partner.accounts.models import USERS
from partner.admin import WORKSPACES
from partner.inbox.schemas import RoleName
from partner.inbox.users import insert_token, insert_user


class CommandError(RuntimeError):
    """The command cannot do what was asked; ``str()`` is the one line shown."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = commands.add_parser("admin", help="inbox users and API tokens")
    admin_commands = admin.add_subparsers(title="admin commands", metavar="ADMIN_COMMAND")
    create_user = admin_commands.add_parser("create-user", help="add a user to a workspace and print an API token")
    _common(create_user)
    create_user.add_argument("--role", choices=("admin", "agent", "viewer"), default="admin")
    create_user.add_argument("--name", default="", help="display name")
    create_user.set_defaults(handler=_create_user_command)
    create_token = admin_commands.add_parser("create-token", help="print a new API token for an existing user")
    _common(create_token)
    create_token.set_defaults(handler=_create_token_command)
    admin.set_defaults(handler=lambda _args: _help(admin))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", type=int, required=True, metavar="ID", help="workspace id")
    parser.add_argument("--email", required=True, help="the user's e-mail address")
    parser.add_argument("--token-name", default="cli", help="label of the token (default: cli)")


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _create_user_command(args: argparse.Namespace) -> int:
    return _run(_create_user, args)


def _create_token_command(args: argparse.Namespace) -> int:
    return _run(_create_token, args)


def _run(action: Any, args: argparse.Namespace) -> int:
    from partner.cli import StartupError, _describe, _settings
    from partner.store import migrate
    from partner.store.db import create_engine

    settings = _settings()

    async def run() -> str:
        engine = create_engine(settings.database_url)
        try:
            await migrate.upgrade(engine)
            token: str = await action(engine, args)
            return token
        except (OperationalError, DBAPIError, OSError) as error:
            raise StartupError(f"PARTNER_DATABASE_URL: cannot open the database ({_describe(error)})") from None
        finally:
            await engine.dispose()

    try:
        token = asyncio.run(run())
    except CommandError as error:
        print(f"partner: {error}", file=sys.stderr)
        return 1
    print(token)
    return 0


async def _workspace_exists(connection: AsyncConnection, workspace_id: int) -> None:
    found = await connection.execute(sa.select(WORKSPACES.c.id).where(WORKSPACES.c.id == workspace_id))
    if found.first() is None:
        raise CommandError(f"workspace {workspace_id} does not exist")


async def _create_user(engine: AsyncEngine, args: argparse.Namespace) -> str:
    role: RoleName = args.role
    try:
        async with engine.begin() as connection:
            await _workspace_exists(connection, args.workspace)
            user = await insert_user(
                connection, workspace_id=args.workspace, email=args.email, name=args.name, role=role
            )
            _, token = await insert_token(
                connection, user_id=user.id, workspace_id=args.workspace, name=args.token_name
            )
    except IntegrityError:
        raise CommandError(f"{args.email} already exists in workspace {args.workspace}; use create-token") from None
    return token


async def _create_token(engine: AsyncEngine, args: argparse.Namespace) -> str:
    async with engine.begin() as connection:
        await _workspace_exists(connection, args.workspace)
        user_id = (
            await connection.execute(
                sa.select(USERS.c.id).where(
                    USERS.c.workspace_id == args.workspace, USERS.c.email == args.email.strip().lower()
                )
            )
        ).scalar_one_or_none()
        if user_id is None:
            raise CommandError(f"no user {args.email} in workspace {args.workspace}")
        _, token = await insert_token(connection, user_id=user_id, workspace_id=args.workspace, name=args.token_name)
    return token
