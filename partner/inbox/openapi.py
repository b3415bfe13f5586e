"""Moved to :mod:`partner.openapi`, which documents the whole partner API; kept for modules that import from here."""

from partner.openapi import Endpoint, Handler, build_document

__all__ = ["Endpoint", "Handler", "build_document"]
