# The two commands of the README: `make demo` and `make test`. Everything they need is installed here,
# from the lock file, with a pinned uv bootstrapped from PyPI.
PYTHON ?= python3.11
UV_VERSION := 0.13.8
UV := .tools/bin/uv
PY := .venv/bin/python

.PHONY: install demo test test-fast lint steward browser bench clean dbt-docs

install: .venv/.installed

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.installed: pyproject.toml uv.lock .tools/bin/uv
	$(UV) sync --locked --python $(PYTHON)
	touch $@

demo: install
	$(PY) -m demo

test: install browser
	$(PY) -m pytest -n 2 --dist loadgroup

# The steward app's browser test drives Debian's chromium through chromedriver (and fonts-noto-cjk, so that
# its screenshot shows Chinese). Installed here when missing and possible (root with apt-get); otherwise this
# says what to install and that test is skipped.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver fonts-noto-cjk) || echo "could not install chromium: the browser test will be skipped"; \
	else \
		echo "The steward browser test needs chromium and chromedriver: install them with"; \
		echo "  sudo apt-get install chromium chromium-driver fonts-noto-cjk"; \
		echo "(until then that test is skipped)"; \
	fi

# The data stewards' web app on 127.0.0.1:$${PREFAB_STEWARD_PORT:-8765}; see docs/stewards.md.
steward: install
	$(PY) -m steward serve

test-fast: install
	$(PY) -m pytest -n 2 -m "not slow"

lint: install
	.venv/bin/ruff check .
	.venv/bin/sqlfluff lint dbt_project/models

# dbt docs of the warehouse in PREFAB_DATA_DIR (default data/; run after a build): data/dbt/docs/static_index.html
dbt-docs: install
	$(PY) -m publishing.build docs

SCALE ?= quick

bench: install
	$(PY) -m benchmarks --scale $(SCALE)

clean:
	rm -rf .airflow data/warehouse.duckdb data/reporting.duckdb data/archive data/work data/gx data/dbt
