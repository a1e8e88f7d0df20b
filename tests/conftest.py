"""Test configuration: fixed seeds, the shared real-data path, and a compile counter."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "svg_extracted_data.csv"


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded numpy generator per test (inputs differ between tests, not runs)."""
    return np.random.default_rng(abs(hash(os.environ.get("PYTEST_CURRENT_TEST", ""))) % 2**32)


@pytest.fixture
def chinchilla_csv() -> Path:
    """The digitised Chinchilla runs (Besiroglu et al. 2024); skips where the file is absent."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA
