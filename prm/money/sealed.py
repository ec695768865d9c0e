"""Sealed values: sensitive text (bank account numbers, tax ids) encrypted at rest.

Guarantees: ``seal`` encrypts with Fernet (AES-128-CBC + HMAC-SHA256, from the
``cryptography`` package) so the database, its backups and its logs only ever
hold ciphertext; ``unseal`` authenticates before decrypting and raises
``SealBroken`` on tampered or foreign data. Keys come from the
``FIELD_ENCRYPTION_KEYS`` setting (a list of Fernet keys, newest first: the
first seals, every one unseals, so keys rotate without a flag day). Without the
setting the key is derived from ``SECRET_KEY`` with HKDF, which suits
development and tests; production should set its own keys. Only a masked form
(``mask``: "•••• 1234") is ever shown by default.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.signals import setting_changed

MASK = "••••"
VISIBLE_TAIL = 4


class SealBroken(Exception):
    """The ciphertext is not ours, was altered, or its key is gone."""


def _derived_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"prm.money.sealed")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or [_derived_key(settings.SECRET_KEY)]
    return MultiFernet([Fernet(key) for key in keys])


def _reset(**kwargs) -> None:
    if kwargs.get("setting") in {"FIELD_ENCRYPTION_KEYS", "SECRET_KEY"}:
        _fernet.cache_clear()


setting_changed.connect(_reset)


def seal(value: str) -> str:
    """Ciphertext of ``value`` (empty stays empty)."""
    if not value:
        return ""
    return _fernet().encrypt(value.encode()).decode("ascii")


def unseal(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as exc:
        raise SealBroken("The sealed value cannot be decrypted with the configured keys.") from exc


def tail(value: str) -> str:
    """The last characters shown in a masked value (letters and digits only)."""
    characters = [c for c in value if c.isalnum()]
    if len(characters) <= VISIBLE_TAIL:
        # Too short to show any of it safely.
        return ""
    return "".join(characters[-VISIBLE_TAIL:])


def mask(visible_tail: str) -> str:
    """ "•••• 1234" from a stored tail; "••••" when there is none."""
    return f"{MASK} {visible_tail}" if visible_tail else MASK
