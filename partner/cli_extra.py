"""Sub-commands beyond serve and db: keyword tools, the local TikTok stand-in, the demo."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Each part of the service adds its commands here."""
