"""Local stand-in for the TikTok Business API (OAuth portal, OAuth, Events API) and the WhatsApp,
Messenger and LINE send APIs, for tests and the demo. Production code never imports it; only the CLI does.

Defaults: app ``sandbox-app`` / ``sandbox-secret``; advertisers ``7000000000000000001`` and
``7000000000000000002``; event sets ``SANDBOX_PIXEL_1`` (advertiser 1) and ``SANDBOX_MES_2`` (advertiser 2);
manual events token ``sandbox-events-token`` for ``SANDBOX_MES_2``; Meta token ``sandbox-meta-token`` for
WhatsApp number id ``100000000000001`` and Page ``200000000000001``; LINE channel token
``sandbox-line-token``.
"""

from partner.sandbox.app import create_sandbox_app, run_sandbox
from partner.sandbox.state import STATE_KEY, ManualClock, SandboxConfig, SandboxState, fingerprint

__all__ = [
    "STATE_KEY",
    "ManualClock",
    "SandboxConfig",
    "SandboxState",
    "create_sandbox_app",
    "fingerprint",
    "run_sandbox",
]
