# `make book`, `make test` and `make results`. Each creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is installed first and separately so that a machine can supply its own
# build (a local wheel, a CUDA or CPU index); override on the command line, e.g.
#   make test TORCH_PACKAGES="torch torchvision"
TORCH_PACKAGES ?= torch==2.14.1 torchvision==0.29.1
PROFILE ?= quick
# make results: worker processes (one thread each; keep 1 on a GPU) and the runs folder
WORKERS ?= $(shell nproc 2>/dev/null || echo 1)
RUNS ?= runs
RESULTS_GRID := --dataset synthetic-grid synthetic-lincs --spread 2 --seeds 0 1 2
# make test: pytest-xdist workers, one thread each, one test file per worker at a time
# (a file's module fixtures, e.g. the whole book at tiny, are built once), the files that
# hold a slow test first (tests/conftest.py orders them; xdist's own reorder is off); it
# lists the 15 slowest tests, so a run that got slower shows where
TEST_WORKERS ?= $(WORKERS)

.PHONY: book test results venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/pip install $(TORCH_PACKAGES)
	$(BIN)/pip install -e '.[book,dev]'
	touch $@

book: venv
	$(BIN)/ist book run --profile $(PROFILE)

# the whole Table 1 grid (every method, IID and every level, 2 folds per level spread over
# each design, 3 seeds), resumable; then results/<dataset>/$(PROFILE)/table1.{csv,json}
results: venv
	$(BIN)/ist run $(RESULTS_GRID) --profile $(PROFILE) --workers $(WORKERS) --runs $(RUNS) --save table1

test: venv
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

clean:
	rm -rf _build .pytest_cache
