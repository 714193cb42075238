# Two commands on a fresh clone: `make demo` and `make test`. Everything else is optional.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
CHECKOV_VENV := .tools/checkov
PYTEST_ARGS ?=

.PHONY: setup demo test lint fmt bench tf-check checkov layer package clean

$(UV):
	python3 -m pip install --user --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python 3.11 --extra dev --extra bench
	@touch $@

setup: $(VENV)/.synced  ## create .venv with the project and its dev tools

demo: setup  ## run the whole system offline on ./lake
	$(VENV)/bin/rebalancer demo

test: setup  ## the test suite (the command CI runs)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: setup  ## ruff + mypy + terraform fmt + checkov
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

fmt: setup
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: setup  ## benchmarks; results go to benchmarks/results/*.json and the README table
	$(PY) benchmarks/bench_lake_query.py

clean:
	rm -rf $(VENV) .tools lake .pytest_cache .mypy_cache .ruff_cache dist
