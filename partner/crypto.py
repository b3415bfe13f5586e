"""Secrets at rest: Fernet keys derived from ``PARTNER_SECRET_KEY``, with old keys kept for decryption.

Rotating the secret key means moving the current one to ``PARTNER_OLD_SECRET_KEYS``: everything stored before
still decrypts, and everything written after uses the new key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(ValueError):
    """Stored ciphertext does not open with any configured key (wrong or rotated-away secret key)."""


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"partner-v1", info=purpose).derive(secret_key.encode())


class SecretBox:
    """Encrypts small secrets (tokens, app secrets) for storage, and signs opaque values (OAuth state)."""

    def __init__(self, secret_key: str, old_keys: Sequence[str] = ()) -> None:
        keys = [secret_key, *old_keys]
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(_derive(key, b"encryption-at-rest"))) for key in keys]
        )
        self._signing_key = _derive(secret_key, b"signing")

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise DecryptionError("stored secret cannot be decrypted with the configured keys") from None

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":")))

    def decrypt_json(self, ciphertext: str) -> dict[str, Any]:
        value = json.loads(self.decrypt(ciphertext))
        if not isinstance(value, dict):
            raise DecryptionError("stored secret is not an object")
        return value

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt with the current key (for a rotation sweep)."""
        return self._fernet.rotate(ciphertext.encode()).decode()

    def sign(self, payload: bytes) -> str:
        return hmac.new(self._signing_key, payload, hashlib.sha256).hexdigest()

    def verify(self, payload: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(payload), signature)
