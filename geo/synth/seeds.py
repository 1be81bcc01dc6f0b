"""Seeds: every generator takes an ``int`` seed or a :class:`numpy.random.Generator`."""

from __future__ import annotations

import numpy as np


def rng_for(seed: int | np.random.Generator | None) -> np.random.Generator:
    """The generator itself, or a fresh PCG64 generator seeded with ``seed``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        raise ValueError("a seed is required: synthetic data must be reproducible")
    return np.random.default_rng(seed)
