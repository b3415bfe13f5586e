"""The platform registry: platform name -> module implementing :class:`Platform`.

Adding a platform is one line in ``PLATFORMS`` once its module has ``verify``, ``sign``, ``parse`` and ``Sender``
(mypy checks each module against the protocol).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final, Protocol

import aiohttp

from partner.platforms import line, messenger, tiktok, whatsapp
from partner.platforms.base import OutboundMessage, ParseResult, SendResult


class PlatformSender(Protocol):
    async def send(self, msg: OutboundMessage) -> SendResult: ...


class SenderFactory(Protocol):
    """Every ``Sender`` takes the session, the API base URL and the channel's credentials.

    ``channel_key`` is the phone_number_id / page id / (unused) LINE channel id / TikTok business id, and
    ``access_token`` the matching token.
    """

    def __call__(
        self,
        session: aiohttp.ClientSession,
        base_url: str = ...,
        *,
        channel_key: str,
        access_token: str,
        timeout: aiohttp.ClientTimeout = ...,
    ) -> PlatformSender: ...


class Platform(Protocol):
    """The shape of a platform module (see :mod:`partner.platforms.base` for the contract)."""

    @property
    def NAME(self) -> str: ...  # noqa: N802 - module constant

    @property
    def DEFAULT_BASE_URL(self) -> str: ...  # noqa: N802 - module constant

    @property
    def Sender(self) -> SenderFactory: ...  # noqa: N802 - the module's Sender class

    def verify(self, raw: bytes, headers: Mapping[str, str], secrets: Sequence[bytes]) -> bool: ...

    def sign(self, raw: bytes, secret: bytes) -> dict[str, str]: ...

    def parse(self, raw: bytes, *, route_key: str | None = None) -> ParseResult: ...


PLATFORMS: Final[Mapping[str, Platform]] = MappingProxyType(
    {
        "whatsapp": whatsapp,
        "messenger": messenger,
        "line": line,
        "tiktok": tiktok,
    }
)


class UnknownPlatformError(KeyError):
    """The name is not in :data:`PLATFORMS`."""


def get_platform(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise UnknownPlatformError(name) from None


__all__ = ["PLATFORMS", "Platform", "PlatformSender", "SenderFactory", "UnknownPlatformError", "get_platform"]
