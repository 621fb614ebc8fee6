# Two commands for a new user: `make demo` and `make test`. Both run `make setup` first,
# which builds .venv once from requirements.lock and installs nothing on later runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bertsent-installed

.PHONY: setup demo test test-fast check lint format typecheck benchmark clean

setup: $(STAMP)

# --no-deps: the lock already lists every package, so pip resolves nothing and a fresh
# install is exactly the tested set (torch 2.13.0 CPU is taken from the local wheel).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
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

check: lint typecheck test-fast

benchmark: setup
	$(BIN)/python benchmarks/finetune.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
