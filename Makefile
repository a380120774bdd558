# Circle Core. `make test` and `make run` work on a fresh clone: they build .venv,
# install what they need (PyPI, npm) and start/stop the local emulators themselves.
SHELL := bash
PYTHON ?= $(shell scripts/find_python.sh)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CLOUDS := aws azure gcp
# The configuration every bundle ships as circle.toml (validated first): make bundle CONFIG=examples/circle.toml
CONFIG ?=

.PHONY: all install test test-fast run lint bench bundle deploy-aws deploy-azure deploy-gcp clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[aws,azure,gcp,gcp-monitoring,azure-monitoring,http,cli,dev]'
	touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --silent
	touch $@

install: $(STAMP) $(NODE_STAMP)

test: install
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# ---- sandbox: `make run` (RUN_ARGS=--forever keeps it running; --duration N bounds the demo) ----
run: install
	$(PY) -m scripts.sandbox $(RUN_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy core aws_lambda azure_functions gcp_functions circle_cli bench scripts

bench: install
	@command -v rclone >/dev/null || { echo "make bench: rclone is not installed (it is the baseline the copy" \
	  "and sync benchmarks compare with). Install it, e.g. 'sudo apt-get install rclone' or see https://rclone.org/install/," \
	  "then run make bench again." >&2; exit 1; }
	$(PY) -m bench.bench_copy
	$(PY) -m bench.bench_events
	$(PY) -m bench.bench_cold_start
	$(PY) -m bench.bench_sync
	$(PY) -m bench.bench_cli_help

bundle: install
	$(PY) -m scripts.bundle $(if $(CONFIG),--config $(CONFIG)) $(CLOUDS)

deploy-aws deploy-azure deploy-gcp: bundle
	$(PY) -m scripts.deploy $(@:deploy-%=%) $(if $(CONFIG),--config $(CONFIG))

clean:
	rm -rf $(VENV) node_modules dist .emulators .pytest_cache .mypy_cache .ruff_cache
