"""Registered channels, cached in memory for webhook routing and signature checks.

Webhooks must be verified before anything is parsed, and the candidate secrets are the service-wide app secret
plus every channel's own secret for that platform, so the directory keeps decrypted secrets in memory. Another
process may register a channel: a miss always asks the database for that one key (an indexed read; misses are
rare), so a message for a channel registered elsewhere is never acknowledged and dropped. The whole directory,
with every channel's signing secret, is also reloaded when it is older than ``max_age`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from partner.crypto import DecryptionError, SecretBox
from partner.store.models import Channel, table

CHANNELS = table(Channel)

# Which stored secret signs each platform's webhooks.
SIGNING_SECRET_FIELD = {
    "whatsapp": "app_secret",
    "messenger": "app_secret",
    "line": "channel_secret",
    "tiktok": "app_secret",
}


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    id: int
    workspace_id: int
    platform: str
    external_id: str
    name: str
    display_phone: str | None
    line_basic_id: str | None
    secrets: dict[str, Any] = field(repr=False)


class ChannelDirectory:
    def __init__(self, engine: AsyncEngine, box: SecretBox, *, max_age: float = 30.0) -> None:
        self._engine = engine
        self._box = box
        self._by_key: dict[tuple[str, str], ChannelInfo] = {}
        self._by_id: dict[int, ChannelInfo] = {}
        self._max_age = max_age
        self._loaded_at = 0.0

    async def load(self) -> None:
        async with self._engine.connect() as connection:
            rows = (await connection.execute(sa.select(CHANNELS).where(CHANNELS.c.active.is_(True)))).all()
        channels = [self._info(row) for row in rows]
        self._by_key = {(c.platform, c.external_id): c for c in channels}
        self._by_id = {c.id: c for c in channels}
        self._loaded_at = time.monotonic()

    def _info(self, row: Any) -> ChannelInfo:
        try:
            secrets = self._box.decrypt_json(row.secrets_encrypted) if row.secrets_encrypted else {}
        except DecryptionError:
            secrets = {}
        return ChannelInfo(
            id=row.id,
            workspace_id=row.workspace_id,
            platform=row.platform,
            external_id=row.external_id,
            name=row.name,
            display_phone=row.display_phone,
            line_basic_id=row.line_basic_id,
            secrets=secrets,
        )

    async def find(self, platform: str, external_id: str) -> ChannelInfo | None:
        found = self._by_key.get((platform, external_id))
        if found is not None:
            return found
        query = sa.select(CHANNELS).where(
            CHANNELS.c.platform == platform, CHANNELS.c.external_id == external_id, CHANNELS.c.active.is_(True)
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        info = self._info(row)
        self._by_key[(platform, external_id)] = info
        self._by_id[info.id] = info
        return info

    async def refresh_if_stale(self) -> None:
        """Pick up channels (and their secrets) registered or changed by other processes."""
        if time.monotonic() - self._loaded_at >= self._max_age:
            await self.load()

    def cached(self, platform: str, external_id: str) -> ChannelInfo | None:
        return self._by_key.get((platform, external_id))

    async def get(self, channel_id: int) -> ChannelInfo | None:
        found = self._by_id.get(channel_id)
        if found is None:
            await self.load()
            found = self._by_id.get(channel_id)
        return found

    def signing_secrets(self, platform: str, service_secret: str | None) -> list[bytes]:
        """Every secret that may have signed a webhook for this platform: the service's, then each channel's."""
        secrets = [service_secret.encode()] if service_secret else []
        field_name = SIGNING_SECRET_FIELD.get(platform, "app_secret")
        for info in self._by_key.values():
            value = info.secrets.get(field_name)
            if info.platform == platform and value:
                encoded = str(value).encode()
                if encoded not in secrets:
                    secrets.append(encoded)
        return secrets
