# Two commands: `make book` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is installed first and separately so that a machine can supply its own
# build (a local wheel, a CUDA or CPU index); override on the command line, e.g.
#   make test TORCH_PACKAGES="torch torchvision"
TORCH_PACKAGES ?= torch==2.14.1 torchvision==0.29.1
PROFILE ?= quick

.PHONY: book test venv clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/pip install $(TORCH_PACKAGES)
	$(BIN)/pip install -e '.[book,dev]'
	touch $@

book: venv
	$(BIN)/ist book run --profile $(PROFILE)

test: venv
	$(BIN)/python -m pytest

clean:
	rm -rf _build .pytest_cache
