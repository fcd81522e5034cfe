# The two commands of the README: `make demo` and `make test`. Everything they need is installed here,
# from the lock file, with a pinned uv bootstrapped from PyPI.
PYTHON ?= python3.11
UV_VERSION := 0.13.8
UV := .tools/bin/uv
PY := .venv/bin/python

.PHONY: install demo test test-fast lint steward bench clean dbt-docs

install: .venv/.installed

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.installed: pyproject.toml uv.lock .tools/bin/uv
	$(UV) sync --locked --python $(PYTHON)
	touch $@

demo: install
	$(PY) -m warehouse.demo

test: install
	$(PY) -m pytest -n 2 --dist loadgroup

test-fast: install
	$(PY) -m pytest -n 2 -m "not slow"

lint: install
	.venv/bin/ruff check .
	.venv/bin/sqlfluff lint dbt_project/models

# dbt docs of the warehouse in PREFAB_DATA_DIR (default data/; run after a build): data/dbt/docs/static_index.html
dbt-docs: install
	$(PY) -m warehouse.dbt docs

SCALE ?= quick

bench: install
	$(PY) -m benchmarks --scale $(SCALE)

clean:
	rm -rf .airflow data/warehouse.duckdb data/reporting.duckdb data/archive data/work data/gx data/dbt
