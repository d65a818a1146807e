# `make run` and `make test` each set up everything from nothing:
# a virtual environment, the CPU build of torch (first, so nothing pulls a CUDA build),
# the project, and the database migrations.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: run demo test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	touch $@

$(VENV)/.app: pyproject.toml $(VENV)/.torch
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.app
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.app
	$(BIN)/folio db upgrade
	$(BIN)/folio serve

# A first look without Slack: the sample filings in tests/data, offline models, a temp dir.
demo: $(VENV)/.dev
	$(BIN)/python -m tests.demo

lint: $(VENV)/.dev
	$(BIN)/ruff check rag bot tests bench migrations
	$(BIN)/ruff format --check rag bot tests bench migrations

typecheck: $(VENV)/.dev
	$(BIN)/mypy

unit: $(VENV)/.dev
	$(BIN)/python -m pytest

test: lint typecheck unit

bench: $(VENV)/.dev
	$(BIN)/python -m bench.quality
	$(BIN)/python -m bench.index_scale

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
