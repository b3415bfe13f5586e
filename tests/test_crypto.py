"""Secrets at rest: encrypted with a key derived from PARTNER_SECRET_KEY; rotation keeps old data readable."""

from __future__ import annotations

import pytest

from partner.crypto import DecryptionError, SecretBox

OLD_KEY = "old-secret-key-0123456789-0123456789-abcdef"
NEW_KEY = "new-secret-key-0123456789-0123456789-abcdef"


def test_round_trip_and_no_plaintext() -> None:
    box = SecretBox(NEW_KEY)
    stored = box.encrypt("EAAG-token-value")
    assert "EAAG-token-value" not in stored
    assert box.decrypt(stored) == "EAAG-token-value"


def test_rotation_reads_old_ciphertext_and_rewrites_with_the_new_key() -> None:
    stored_before = SecretBox(OLD_KEY).encrypt_json({"access_token": "t0k3n"})
    rotated_box = SecretBox(NEW_KEY, old_keys=[OLD_KEY])
    assert rotated_box.decrypt_json(stored_before) == {"access_token": "t0k3n"}
    rewritten = rotated_box.rotate(stored_before)
    assert SecretBox(NEW_KEY).decrypt_json(rewritten) == {"access_token": "t0k3n"}
    with pytest.raises(DecryptionError):
        SecretBox(OLD_KEY).decrypt(rewritten)


def test_a_wrong_key_is_a_clear_error() -> None:
    with pytest.raises(DecryptionError, match="cannot be decrypted"):
        SecretBox(NEW_KEY).decrypt(SecretBox(OLD_KEY).encrypt("x"))


def test_signatures_depend_on_the_key() -> None:
    signature = SecretBox(NEW_KEY).sign(b"state")
    assert SecretBox(NEW_KEY).verify(b"state", signature)
    assert not SecretBox(OLD_KEY).verify(b"state", signature)
    assert not SecretBox(NEW_KEY).verify(b"other", signature)
