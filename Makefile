# The two commands a new user needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CUSTOMERS ?= 20000
SEED ?= 42
# The simulated world ends on 2026-09-30: score and export that business date.
BUSINESS_DATE ?= 2026-09-30
LAKE_ROOT ?= $(CURDIR)/data
export LAKE_ROOT
export DAGSTER_HOME ?= $(LAKE_ROOT)/dagster_home
export DO_NOT_TRACK := 1
export PYTHONUNBUFFERED := 1

.PHONY: install demo world materialize summary test dev dashboards features features-check bench-features clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip uv
	@# uv resolves and installs in seconds; plain pip is the fallback.
	@$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]' || $(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

world: install
	$(BIN)/python -m simulator --customers $(CUSTOMERS) --seed $(SEED) --landing $(LAKE_ROOT)/landing --truth $(LAKE_ROOT)/truth

$(DAGSTER_HOME)/dagster.yaml:
	@mkdir -p $(DAGSTER_HOME)
	@printf 'telemetry:\n  enabled: false\n' > $@

materialize: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster job execute -m orchestration.definitions -j materialize_everything
	$(BIN)/dagster job execute -m orchestration.definitions -j score_and_export --tags '{"dagster/partition": "$(BUSINESS_DATE)"}'

summary: install
	$(BIN)/python -m orchestration.summary

demo: install
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory world && \
	$(MAKE) --no-print-directory materialize && \
	$(MAKE) --no-print-directory summary && \
	echo "demo wall time: $$(( $$(date +%s) - start )) s"

test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=15

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

dashboards: install
	$(BIN)/streamlit run dashboards/app.py --server.headless true --browser.gatherUsageStats false

features: install
	$(BIN)/python -m features.generate

features-check: install
	$(BIN)/python -m features.generate --check

bench-features: install
	$(BIN)/python bench/bench_feature_mart.py --customers 100000

clean:
	rm -rf data dbt_project/target dbt_project/logs
