# Two commands for a new user: `make demo` and `make test`. Both run `make setup` first,
# which builds .venv once from requirements.lock and installs nothing on later runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# TORCH=cpu (default): the pinned CPU build. TORCH=cuda: the same torch release from the
# package index with its CUDA libraries, for machines with an NVIDIA GPU
# (`make setup TORCH=cuda`, then `.venv/bin/bertsent device` should name the GPU).
TORCH ?= cpu
TORCH_VERSION := $(shell sed -n 's/^torch==//p' requirements.lock)
STAMP := $(VENV)/.bertsent-installed-$(TORCH)

.PHONY: setup demo test test-fast check lint format typecheck benchmark clean layers

setup: $(STAMP)

# --no-deps: the lock already lists every package, so pip resolves nothing and a fresh
# install is exactly the tested set (torch 2.13.0 CPU is taken from the local wheel).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifeq ($(TORCH),cuda)
	# a CPU build already here counts as torch==VERSION to pip (the +cpu label is ignored)
	$(BIN)/python -c "import torch, sys; sys.exit(not torch.version.cuda)" 2>/dev/null || $(BIN)/python -m pip uninstall --yes --quiet torch
	grep -v '^torch==' requirements.lock > $(VENV)/requirements-without-torch.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r $(VENV)/requirements-without-torch.txt
	# with its dependencies (the NVIDIA libraries); --isolated ignores pip configuration
	# that points at a local CPU wheel (checked with --dry-run: it picks the CUDA build)
	$(BIN)/python -m pip --isolated install --disable-pip-version-check "torch==$(TORCH_VERSION)"
	$(BIN)/python -c "import torch; assert torch.version.cuda, 'got a CPU-only torch build'"
else
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
endif
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: setup
	$(BIN)/bertsent demo

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

typecheck: setup
	$(BIN)/mypy

# the layering in pyproject.toml's [tool.importlinter]: imports only go downward
layers: setup
	$(BIN)/lint-imports

check: lint typecheck layers test-fast

benchmark: setup
	$(BIN)/python benchmarks/finetune.py

# the environment and tool caches only: runs/ holds the user's models and results
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
