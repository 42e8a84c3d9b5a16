import pytest

from ist_core.data import load_dataset


@pytest.fixture(scope="session")
def grid_tiny():
    return load_dataset("synthetic-grid", size="tiny", seed=0)


@pytest.fixture(scope="session")
def lincs_tiny():
    return load_dataset("synthetic-lincs", size="tiny", seed=0)
