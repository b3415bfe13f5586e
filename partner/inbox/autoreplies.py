"""Auto-replies per channel: greeting, away message, keyword rules. (Being built.)"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.engine import Connection

from partner.analysis import AnalysedMessage
from partner.inbox.openapi import Endpoint
from partner.worker import JobHandler

ENDPOINTS: tuple[Endpoint, ...] = ()


def follow(connection: Connection, message: AnalysedMessage) -> None:
    """Runs after each inbound message is analysed, in the analysis transaction."""


def job_handlers(app: web.Application) -> dict[str, JobHandler]:
    return {}
