"""Keys for personal data: a keyed hash of ID numbers (for matching) and their encryption.

The master secret comes from ``GRIDMAP_SECRET_KEY``; for the local cluster, a random one is made
once in ``.gridmap/secret.key`` (mode 0600). Two sub-keys are derived with HKDF: one for
HMAC-SHA256 (``id_hash``, stable, used to match public-security records) and one for AES-GCM
(``id_cipher``, for the few roles that may see the full number).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from geo.db.settings import get_db_settings
from geo.errors import SetupError


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gridmap", info=info).derive(master)


@dataclass(frozen=True)
class PersonKeys:
    """Derived keys; build with :meth:`from_secret`."""

    hmac_key: bytes
    enc_key: bytes

    @classmethod
    def from_secret(cls, secret: str | bytes) -> PersonKeys:
        master = secret.encode() if isinstance(secret, str) else secret
        if len(master) < 16:
            raise SetupError("GRIDMAP_SECRET_KEY is too short: use at least 16 characters (32 random bytes is best)")
        return cls(_derive(master, b"id-hash"), _derive(master, b"id-enc"))

    def id_hash(self, id_number: str) -> bytes:
        """Keyed hash of a normalised ID number (32 bytes)."""
        return hmac.new(self.hmac_key, id_number.encode("ascii"), hashlib.sha256).digest()

    def encrypt(self, value: str) -> bytes:
        """AES-GCM with a random 96-bit nonce prepended."""
        nonce = os.urandom(12)
        return nonce + AESGCM(self.enc_key).encrypt(nonce, value.encode("utf-8"), b"person.id")

    def decrypt(self, blob: bytes) -> str:
        """Reverse :meth:`encrypt`."""
        return AESGCM(self.enc_key).decrypt(bytes(blob[:12]), bytes(blob[12:]), b"person.id").decode("utf-8")


def _local_secret(home: Path) -> str:
    path = home / "secret.key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


@lru_cache
def get_person_keys() -> PersonKeys:
    """The process-wide keys: ``GRIDMAP_SECRET_KEY`` or the local cluster's secret file."""
    secret = os.environ.get("GRIDMAP_SECRET_KEY")
    if secret:
        return PersonKeys.from_secret(secret)
    settings = get_db_settings()
    if not settings.managed:
        raise SetupError("set GRIDMAP_SECRET_KEY when using DATABASE_URL (the key that protects ID numbers)")
    return PersonKeys.from_secret(_local_secret(settings.home))
