"""The sync's bulk hashing and encryption of ID numbers agree with the one-by-one forms, and the
fixed-width reading of a column's bytes honours slices."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pyarrow as pa
import pytest

from geo import sync
from geo.privacy import PersonKeys

IDS = ["110101199003077777", "15010219800101002X", "150102800101002", ""]


@pytest.mark.parametrize("key", [b"k" * 32, b"k" * 64, bytes(range(100))], ids=["32", "64", "100 bytes"])
def test_id_hashes_are_hmac_sha256(key: bytes) -> None:
    enc = sync.Encoder(PersonKeys(key, b"e" * 32))
    assert enc.id_hashes(IDS) == [hmac.digest(key, v.encode(), hashlib.sha256) for v in IDS]
    assert enc.id_hashes(IDS) == [PersonKeys(key, b"e" * 32).id_hash(v) for v in IDS]


def test_encrypt_many_decrypts_and_draws_a_nonce_per_value() -> None:
    keys = PersonKeys.from_secret("test-secret-0123456789")
    blobs = sync.Encoder(keys).encrypt_many(IDS * 2)
    assert [keys.decrypt(b) for b in blobs] == IDS * 2
    assert len({b[:12] for b in blobs}) == len(blobs)


def test_fixed_width_bytes_of_a_slice_and_of_another_width() -> None:
    """A slice (a column of a filtered or taken table can start inside its buffers) reads its own
    values; a value of another width is an error, never read across its neighbours."""
    values = [bytes(range(i, i + 32)) for i in range(6)]
    part = pa.array(values, pa.binary()).slice(2, 3)
    got = sync.fixed_width_bytes(part, 32)
    assert got.tolist() == [list(v) for v in values[2:5]]
    assert sync.fixed_width_bytes(pa.chunked_array([part]), 32).tolist() == got.tolist()
    text = pa.array(["110101199003077777", "15010219800101002X"]).slice(1)
    assert bytes(sync.fixed_width_bytes(text, 18)[0]) == b"15010219800101002X"
    with pytest.raises(pa.ArrowInvalid):
        sync.fixed_width_bytes(pa.array([b"short"]), 32)
    assert np.asarray(sync.fixed_width_bytes(pa.array([], pa.binary()), 32)).shape == (0, 32)
