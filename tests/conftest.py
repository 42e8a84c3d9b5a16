import os

# Under pytest-xdist (make test) each worker is one process of several on the machine's
# cores: one BLAS/OpenMP thread each, set before torch is imported, is many times faster
# than threads competing; the book's notebook kernels inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest

from ist_core.data import load_dataset


@pytest.fixture(scope="session")
def grid_tiny():
    return load_dataset("synthetic-grid", size="tiny", seed=0)


@pytest.fixture(scope="session")
def lincs_tiny():
    return load_dataset("synthetic-lincs", size="tiny", seed=0)


def pytest_collection_modifyitems(config, items):
    """The files that hold a slow test run first, in their collection order, the rest after.
    ``make test`` distributes whole files over its workers in this order
    (``--dist loadfile --no-loadscope-reorder``), so the longest files start at once and
    the short ones fill the gaps, rather than a long file starting last and leaving the
    other workers idle while it runs."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: keeps each file's order
