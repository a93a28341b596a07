# The two commands a new user needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CUSTOMERS ?= 20000
# Months of history the simulated world spans (models need 14 at least).
MONTHS ?= 24
SEED ?= 42
# The simulated world ends on 2026-09-30: score and export that business date.
BUSINESS_DATE ?= 2026-09-30
# The lake: LAKE_ROOT, a folder (default <repo>/data, set in lake/layout.py only) or s3://bucket/prefix with
# the endpoint in AWS_ENDPOINT_URL. Every location, the local catalog and Dagster's home included, comes
# from lake/layout.py (`python -m lake.locate <location>`).
LAYOUT := $(BIN)/python -m lake.locate
export DO_NOT_TRACK := 1
export PYTHONUNBUFFERED := 1

.PHONY: install demo world materialize summary test dev dashboards features features-check bench-features bench-mart clean

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip uv
	@# uv resolves and installs in seconds; plain pip is the fallback. Bytecode is compiled at install: where
	@# PYTHONDONTWRITEBYTECODE is set (as on our machines) every process would otherwise compile Dagster, dbt and
	@# sklearn from source again (importing the code location took 23 CPU-s without .pyc files, 11 with them).
	@$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev]' || $(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# The simulator writes local files; on an S3 lake they are generated in the local working folder and uploaded
# (as source systems would deliver them).
world: install
	@set -e; landing=$$($(LAYOUT) landing); truth=$$($(LAYOUT) truth); \
	case "$$landing" in \
	  s3://*) out=$$($(LAYOUT) local)/world; rm -rf "$$out"; \
	    $(BIN)/python -m simulator --customers $(CUSTOMERS) --months $(MONTHS) --seed $(SEED) --landing $$out/landing --truth $$out/truth; \
	    $(BIN)/python -m lake.storage put $$out/landing $$landing; $(BIN)/python -m lake.storage put $$out/truth $$truth;; \
	  *) $(BIN)/python -m simulator --customers $(CUSTOMERS) --months $(MONTHS) --seed $(SEED) --landing $$landing --truth $$truth;; \
	esac

# Dagster's home (run storage) is a local folder of the lake's working folder, telemetry off.
define DAGSTER_ENV
home=$${DAGSTER_HOME:-$$($(LAYOUT) dagster_home)}; mkdir -p "$$home"; \
test -f "$$home/dagster.yaml" || printf 'telemetry:\n  enabled: false\n' > "$$home/dagster.yaml"; \
export DAGSTER_HOME="$$home"; $(BIN)/python -m orchestration.dbt_cli prepare > /dev/null
endef

# materialize_everything, then score_and_export for BUSINESS_DATE, in one process (one code-location load)
materialize: install
	@$(DAGSTER_ENV) && $(BIN)/python -m orchestration.materialize --business-date $(BUSINESS_DATE)

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

dev: install
	@$(DAGSTER_ENV) && $(BIN)/dagster dev -w workspace.yaml

dashboards: install
	$(BIN)/streamlit run dashboards/app.py --server.headless true --browser.gatherUsageStats false

features: install
	$(BIN)/python -m features.generate

features-check: install
	$(BIN)/python -m features.generate --check

bench-features: install
	$(BIN)/python bench/bench_feature_mart.py --customers 100000

bench-mart: install  # whole mart by shard: in-process vs 2-worker Dask LocalCluster vs pandas (CUSTOMERS=...)
	$(BIN)/python bench/bench_mart_shards.py --customers $(CUSTOMERS)

clean:
	rm -rf data .lake_local dbt_project/target dbt_project/logs
