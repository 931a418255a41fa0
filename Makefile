# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean dashboard

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/papra-pipeline demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check papra_pipeline tests benchmarks
	$(BIN)/ruff format --check papra_pipeline

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# Benchmark side by side with the HTTP floor, then the webhook figures (ARGS=--no-webhooks skips
# them); `make bench ARGS=--large` for 100,000 documents.
bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

# The dashboard on the demo data: `make demo`'s warehouse, whose daily reports are backfilled
# once as Dagster does it (the demo's fake clock starts on 2026-01-05 and runs ~6 weeks).
DEMO_REPORTS := .papra-demo.duckdb.reports
papra-demo.duckdb: | $(STAMP)
	$(BIN)/papra-pipeline demo

$(DEMO_REPORTS): papra-demo.duckdb
	home=$$(mktemp -d) && DAGSTER_HOME=$$home PAPRA_DUCKDB_PATH=papra-demo.duckdb $(BIN)/dg launch \
		-m papra_pipeline.definitions --partition-range 2026-01-05...2026-02-16 \
		--assets papra_report_daily_documents,papra_report_daily_activity >$@.log 2>&1 \
		|| { cat $@.log; rm -rf $$home; exit 1; }; rm -rf $$home
	touch $@

# The dashboard runs from an environment of its own: its extra brings pyarrow, which pandas
# then uses for strings, and the tests' and benchmarks' environment stays without it.
DASHBOARD_VENV := $(VENV)/dashboard
DASHBOARD_STAMP := $(DASHBOARD_VENV)/.installed
$(DASHBOARD_STAMP): pyproject.toml | $(STAMP)
	test -x $(DASHBOARD_VENV)/bin/python || $(PYTHON) -m venv $(DASHBOARD_VENV)
	$(DASHBOARD_VENV)/bin/python -m pip install --quiet -e '.[dashboard]'
	touch $@

dashboard: $(DASHBOARD_STAMP) $(DEMO_REPORTS)
	$(DASHBOARD_VENV)/bin/papra-pipeline dashboard --db papra-demo.duckdb

clean:
	rm -rf $(VENV) papra-demo.duckdb* .papra-demo.duckdb.* papra-demo.webhooks.sqlite* .pytest_cache
	rm -rf .venv-readers tests/readers/node/node_modules
