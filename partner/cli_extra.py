"""Sub-commands beyond serve and db: the local TikTok stand-in, keyword tools, the demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from partner.logs import configure_logging


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Each part of the service adds its commands here."""
    from partner.inbox import cli as inbox_cli

    inbox_cli.register(commands)
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

    keywords = commands.add_parser("keywords", help="check keyword files, or scan a text with them")
    keyword_commands = keywords.add_subparsers(title="keywords commands", metavar="KEYWORDS_COMMAND")
    check = keyword_commands.add_parser(
        "check", help="validate a keyword directory or file; print signals and counts; exit 1 on errors"
    )
    check.add_argument("path", nargs="?", help="directory or file (default PARTNER_KEYWORDS_DIR or ./keywords)")
    check.set_defaults(handler=_keywords_check_command)
    scan = keyword_commands.add_parser("scan", help="print the flags a text raises and which keyword matched")
    scan.add_argument("text", help="the text to scan (stays on this machine)")
    scan.add_argument("--dir", help="keyword directory (default PARTNER_KEYWORDS_DIR or ./keywords)")
    scan.set_defaults(handler=_keywords_scan_command)
    keywords.set_defaults(handler=lambda _args: _help(keywords))

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


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _keywords_directory(explicit: str | None) -> Path:
    from partner.settings import load_settings

    return Path(explicit) if explicit else load_settings().keywords_dir


def _keywords_check_command(args: argparse.Namespace) -> int:
    from partner.keywords import run_check

    return run_check(_keywords_directory(args.path), sys.stdout)


def _keywords_scan_command(args: argparse.Namespace) -> int:
    from partner.keywords import run_scan

    return run_scan(_keywords_directory(args.dir), args.text, sys.stdout)


def _demo_command(args: argparse.Namespace) -> int:
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
