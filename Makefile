# Two commands on a fresh clone: `make demo` and `make test`. Everything else is optional.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
CHECKOV_VENV := .tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
TERRAFORM ?= terraform
PYTEST_ARGS ?=

.PHONY: setup demo test lint fmt bench tf-check checkov layer package clean screenshots

$(UV):
	python3 -m pip install --user --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python 3.11 --extra dev --extra bench
	@touch $@

setup: $(VENV)/.synced  ## create .venv with the project and its dev tools

demo: setup  ## run the whole system offline on ./lake, then serve the API and the dashboard until Ctrl-C
	$(VENV)/bin/rebalancer demo

screenshots: setup  ## docs/screenshots/<page>.png from the demo lake (./lake, built when empty; needs /usr/bin/chromium)
	$(PY) -m tests.dashboard.screenshots --lake lake --out docs/screenshots

test: setup $(CHECKOV)  ## the test suite (the command CI runs)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: setup tf-check  ## ruff + mypy + terraform fmt + checkov
	$(VENV)/bin/ruff check src tests benchmarks layers
	$(VENV)/bin/ruff format --check src tests benchmarks layers
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy layers/build_layer.py layers/package.py layers/reproducible.py

fmt: setup
	$(VENV)/bin/ruff format src tests benchmarks layers
	$(VENV)/bin/ruff check --fix src tests benchmarks layers

bench: setup  ## benchmarks; results go to benchmarks/results/*.json and the README table
	$(PY) benchmarks/bench_lake_query.py
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_generate.py
	$(PY) benchmarks/bench_recommend.py
	$(PY) benchmarks/bench_api.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_backtest.py
	$(PY) benchmarks/learned_folds.py
	$(PY) benchmarks/bench_shards.py
	$(PY) benchmarks/bench_shards.py --accounts 1000000 --whole-max 0 --singles 200 --out shards_1m
	$(PY) benchmarks/report.py

# checkov lives in its own tool env: it pins an old boto3 and ships its own hcl2.
$(CHECKOV): | $(UV)
	$(UV) venv --quiet --python 3.11 $(CHECKOV_VENV)
	$(UV) pip install --quiet --python $(CHECKOV_VENV)/bin/python checkov

checkov: $(CHECKOV)  ## checkov on terraform/ (zero failed checks; skips are inline with reasons)
	$(CHECKOV) --directory terraform --framework terraform --compact --quiet --skip-download

tf-check: checkov  ## terraform fmt + checkov (terraform validate runs in tests/terraform, on the local provider mirror)
	$(TERRAFORM) fmt -check -recursive terraform

layer: setup  ## Lambda layer of runtime deps for python3.12/x86_64 -> dist/layer/ (+ .sha256)
	$(PY) layers/build_layer.py

package: setup  ## one reproducible zip per Lambda function -> dist/lambda/ (+ .sha256); the endpoint's inference sourcedir.tar.gz -> dist/sagemaker/
	$(PY) layers/package.py
	$(PY) src/training/sagemaker_job.py --package-inference dist/sagemaker/sourcedir.tar.gz

clean:
	rm -rf $(VENV) .tools lake .pytest_cache .mypy_cache .ruff_cache dist
