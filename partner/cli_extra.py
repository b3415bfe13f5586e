"""Sub-commands beyond serve and db: the local TikTok stand-in, keyword tools, the demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from partner.logs import configure_logging


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Each part of the service adds its commands here."""
    sandbox = commands.add_parser(
        "tiktok-sandbox",
        help="run the local stand-in for the TikTok Business API, Meta Graph and LINE send APIs",
        description="Serves TikTok's OAuth portal, token, advertiser, revoke and Events API endpoints, and the "
        "WhatsApp, Messenger and LINE send APIs, at their real paths. Point PARTNER_TIKTOK_API_BASE at "
        "http://HOST:PORT/open_api/v1.3/ and PARTNER_GRAPH_API_BASE / PARTNER_LINE_API_BASE at http://HOST:PORT/.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8765, help="port to bind (default 8765)")
    sandbox.add_argument("--auto-approve", action="store_true", help="the consent page approves without a click")
    sandbox.set_defaults(handler=_sandbox_command)

    demo = commands.add_parser(
        "demo",
        help="run the service and the local TikTok stand-in, play sample chats, show what TikTok received",
        description="Starts the local TikTok/Meta/LINE stand-in and the service on SQLite (in .partner/demo, "
        "recreated each run), creates a demo workspace, channels, reporting and tracking links, sends signed sample "
        "webhooks with and without a tracked ad click in several languages, and prints the events TikTok received.",
    )
    demo.add_argument("--exit", action="store_true", help="exit after printing instead of serving")
    demo.add_argument("--data-dir", default=".partner/demo", help="where the demo database lives")
    demo.set_defaults(handler=_demo_command)


def _demo_command(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from partner.demo import run_demo
    from partner.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_format, "warning")
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run_demo(settings, data_dir=Path(args.data_dir), out=sys.stdout, keep_running=not args.exit))
    return 0


def _sandbox_command(args: argparse.Namespace) -> int:
    from partner.sandbox import SandboxConfig, run_sandbox

    configure_logging("console", "info")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_sandbox(args.host, args.port, SandboxConfig(auto_approve=args.auto_approve)))
    return 0
