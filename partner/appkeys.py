"""Typed keys for what the application shares (``web.AppKey``), in a module that imports nothing of the service.

Every part reaches the engine, settings, secret box and channel directory through these keys; keeping them apart
from the modules that register routes lets any module use them without import cycles.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from partner.channels import ChannelDirectory
from partner.crypto import SecretBox
from partner.settings import Settings

settings_key = web.AppKey("settings", Settings)
engine_key = web.AppKey("engine", AsyncEngine)
box_key = web.AppKey("secret_box", SecretBox)
directory_key = web.AppKey("channel_directory", ChannelDirectory)
http_key = web.AppKey("http_session", aiohttp.ClientSession)
