# The two commands of the README: `make demo` and `make test`. Everything they need is installed here,
# from the lock file, with a pinned uv bootstrapped from PyPI.
PYTHON ?= python3.11
UV_VERSION := 0.13.8
UV := .tools/bin/uv
PY := .venv/bin/python

.PHONY: help install demo test test-fast topology lint steward browser bulletin-deps bulletin duckdb-cli datadocs-assets bench bench-postgres clean dbt-docs airflow rollback

help: ## this list: every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: .venv/.installed ## the project's .venv from uv.lock (with a pinned uv)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.installed: pyproject.toml uv.lock .tools/bin/uv
	$(UV) sync --locked --python $(PYTHON)
	touch $@

demo: install ## run the nightly DAG once (on a generated sample landing zone if it is empty), print the summary
	$(PY) -m demo

test: install browser bulletin-deps duckdb-cli datadocs-assets lint ## install, chromium, the bulletin's pango and fonts, the DuckDB 1.5 CLI and the Data Docs assets for their tests, lint, then the whole test suite
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15

# The steward app's browser test drives Debian's chromium through chromedriver (and fonts-noto-cjk, so that
# its screenshot shows Chinese). Installed here when missing and possible (root with apt-get); otherwise this
# says what to install and that test is skipped.
browser: ## chromium and chromedriver for the steward browser test (installed when root with apt-get)
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver fonts-noto-cjk) || echo "could not install chromium: the browser test will be skipped"; \
	else \
		echo "The steward browser test needs chromium and chromedriver: install them with"; \
		echo "  sudo apt-get install chromium chromium-driver fonts-noto-cjk"; \
		echo "(until then that test is skipped)"; \
	fi

# The bulletin's PDF is made by WeasyPrint, which needs Debian's pango (libpangoft2), and both its PDF and its
# charts need Chinese glyphs (fonts-noto-cjk). Installed here when missing and possible (root with apt-get);
# otherwise this says what to install (without them `make bulletin` fails and the bulletin tests are skipped).
BULLETIN_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

bulletin-deps: ## pango and fonts-noto-cjk for the bulletin's PDF and charts (installed when root with apt-get)
	@if [ -f $(BULLETIN_FONT) ] && ldconfig -p | grep -q libpangoft2-1.0; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk) \
			|| echo "could not install pango and fonts-noto-cjk: the bulletin tests will be skipped"; \
	else \
		echo "The bulletin needs pango and Chinese fonts: install them with"; \
		echo "  sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk"; \
	fi

# One unit's bulletin (通报) as of DATE (default: the newest publication's data_as_of), from the published
# reporting.duckdb: $$PREFAB_DATA_DIR/bulletins/<UNIT>_<DATE>/bulletin.html, bulletin.pdf and the charts.
UNIT ?=
DATE ?=

bulletin: install bulletin-deps ## a unit's bulletin: make bulletin UNIT=140000 [DATE=2021-12-31] (after make demo)
	@if [ -z "$(UNIT)" ]; then echo "give the unit: make bulletin UNIT=140000 [DATE=2021-12-31]"; exit 2; fi
	$(PY) -m bulletin --unit $(UNIT) $(if $(DATE),--date $(DATE))

# The DuckDB 1.5 CLI from PyPI, in a tool environment of its own (not the project's .venv, which has DuckDB 2.0):
# tests/publishing/test_client_compatibility.py opens the published reporting.duckdb with it, as an analyst would.
DUCKDB_CLI_VERSION := 1.5.6

duckdb-cli: .tools/duckdb-cli/bin/duckdb ## the DuckDB 1.5 CLI (PyPI duckdb-cli) in .tools/duckdb-cli/, for the client test

.tools/duckdb-cli/bin/duckdb:
	$(PYTHON) -m venv .tools/duckdb-cli
	.tools/duckdb-cli/bin/pip install --quiet --disable-pip-version-check duckdb-cli==$(DUCKDB_CLI_VERSION)

# The files Great Expectations' Data Docs load from CDNs (Bootstrap, bootstrap-table, jQuery, ...), from the npm
# registry at the versions pinned (with their integrity hashes) in steward/datadocs_assets/package-lock.json, into
# .tools/datadocs/: the steward app serves them with the pages (steward/datadocs.py), so they render offline.
DATADOCS_LOCK := steward/datadocs_assets/package.json steward/datadocs_assets/package-lock.json

datadocs-assets: .tools/datadocs/.installed ## the Data Docs' CSS, scripts and fonts (npm ci of a lock file) for the steward app

.tools/datadocs/.installed: $(DATADOCS_LOCK)
	@if command -v npm >/dev/null 2>&1; then \
		mkdir -p .tools/datadocs && cp $(DATADOCS_LOCK) .tools/datadocs/ && \
		cd .tools/datadocs && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch .installed; \
	else \
		echo "The Data Docs assets need npm (Node.js): install it (sudo apt-get install npm), then make datadocs-assets"; \
		echo "(until then the steward app serves the Data Docs unstyled, and their test is skipped)"; \
	fi

# The data stewards' web app on 127.0.0.1:$${PREFAB_STEWARD_PORT:-8765}; see docs/stewards.md.
steward: install datadocs-assets ## the data stewards' web app (docs/stewards.md)
	$(PY) -m steward serve

# The Airflow UI of the local set-up (make demo's AIRFLOW_HOME): api-server, scheduler and dag-processor on
# 127.0.0.1:$${AIRFLOW__API__PORT:-8080}; prints the user and password; Ctrl-C stops it (demo/airflow_ui.py).
airflow: install ## the Airflow UI on 127.0.0.1:8080 for the local set-up, with the credentials it prints
	$(PY) -m demo.airflow_ui

test-fast: install ## the tests not marked slow (no DAG runs)
	$(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not slow"

# Both compose files' services run natively (PostgreSQL on 127.0.0.1:5432; Redis on 127.0.0.1:6379 for Celery).
topology: install ## the topology tests: docker-compose.yml (Celery) and docker-compose.local.yml run natively
	$(PY) -m pytest -m topology

lint: install ## ruff over the Python, sqlfluff over the dbt models
	.venv/bin/ruff check .
	.venv/bin/sqlfluff lint dbt_project/models

rollback: install ## put the previous kept publication of reporting.duckdb back (python -m publishing rollback)
	$(PY) -m publishing rollback

# dbt docs of the warehouse in PREFAB_DATA_DIR (default data/; run after a build): data/dbt/docs/static_index.html
dbt-docs: install ## dbt docs of the built warehouse: data/dbt/docs/static_index.html
	$(PY) -m publishing.build docs

SCALE ?= quick

bench: install ## a benchmark scale (SCALE=quick|bigfile|province|national; benchmarks/README.md)
	$(PY) -m benchmarks --scale $(SCALE)

bench-postgres: install ## the PostgreSQL publication timed at a scale (SCALE=province|national; skipped without a PostgreSQL)
	$(PY) -m benchmarks.postgres_publish --scale $(SCALE)

clean: ## remove the generated data and Airflow state (keeps the landing zone)
	rm -rf .airflow data/warehouse.duckdb data/reporting.duckdb data/archive data/work data/gx data/dbt
