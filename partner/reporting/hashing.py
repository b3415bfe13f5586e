"""Normalise and SHA-256 the user identifiers TikTok's Events API accepts (spec ``tiktok-api.md`` §1.4).

TikTok matches on the hash, so one stray space or a missing ``+`` silently loses the match; these helpers
are the only place identifiers are normalised. Values that already look like a SHA-256 hex digest pass
through unchanged (as TikTok's own GTM template does), so hashing twice is harmless. Empty or unusable
input gives ``None``, which callers drop rather than sending a hash of garbage.
"""

from __future__ import annotations

import hashlib
import re

import phonenumbers

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def is_sha256_hex(value: str) -> bool:
    return _SHA256_HEX.fullmatch(value) is not None


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def normalize_email(raw: str) -> str | None:
    """Trim, then lowercase (TikTok's rule); ``None`` unless it has one ``@`` and no inner whitespace."""
    email = raw.strip().lower()
    return email if _EMAIL.fullmatch(email) else None


def hash_email(raw: str | None) -> str | None:
    if raw is None:
        return None
    lowered = raw.strip().lower()
    if is_sha256_hex(lowered):
        return lowered
    email = normalize_email(lowered)
    return sha256_hex(email) if email else None


def normalize_phone(raw: str, default_region: str | None = None) -> str | None:
    """E.164 with the leading ``+``, or ``None`` when no possible number can be read.

    Without a region, digits without ``+`` are read as international, which is what a WhatsApp ``wa_id``
    is. With a region, a national reading is preferred when it is valid, else an international one.
    A number valid nowhere keeps its digits as written: libphonenumber would strip national prefixes it cannot
    check, and even alternate between readings, while the same person must always hash the same.
    """
    text = raw.strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    international = "+" + digits.removeprefix("00") if "+" in text or default_region is None else None
    if international is not None:
        candidates = [_parse(international, None)]
    else:
        candidates = [_parse(text, default_region), _parse("+" + digits, None)]
    numbers = [number for number in candidates if number is not None]
    for number in numbers:
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    possible = [number for number in numbers if phonenumbers.is_possible_number(number)]
    if not possible:
        return None
    if international is not None:
        return international
    return phonenumbers.format_number(possible[0], phonenumbers.PhoneNumberFormat.E164)


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def hash_phone(raw: str | None, default_region: str | None = None) -> str | None:
    if raw is None:
        return None
    stripped = raw.strip().lower()
    if is_sha256_hex(stripped):
        return stripped
    phone = normalize_phone(raw, default_region)
    return sha256_hex(phone) if phone else None


def hash_external_id(raw: str | None) -> str | None:
    """Trimmed but not lowercased: TikTok's example shows none, and ids can be case-sensitive."""
    if raw is None:
        return None
    value = raw.strip()
    if not value:
        return None
    return value if is_sha256_hex(value) else sha256_hex(value)
