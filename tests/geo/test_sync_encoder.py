"""The sync's bulk hashing and encryption of ID numbers agree with the one-by-one forms."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from geo import sync
from geo.privacy import PersonKeys

IDS = ["110101199003077777", "15010219800101002X", "150102800101002", ""]


@pytest.mark.parametrize("key", [b"k" * 32, b"k" * 64, bytes(range(100))], ids=["32", "64", "100 bytes"])
def test_id_hashes_are_hmac_sha256(key: bytes) -> None:
    enc = sync.Encoder(PersonKeys(key, b"e" * 32))
    assert enc.id_hashes(IDS) == [hmac.digest(key, v.encode(), hashlib.sha256) for v in IDS]
    assert enc.id_hashes(IDS) == [enc.id_hash(v) for v in IDS]


def test_encrypt_many_decrypts_and_draws_a_nonce_per_value() -> None:
    keys = PersonKeys.from_secret("test-secret-0123456789")
    blobs = sync.Encoder(keys).encrypt_many(IDS * 2)
    assert [keys.decrypt(b) for b in blobs] == IDS * 2
    assert len({b[:12] for b in blobs}) == len(blobs)
