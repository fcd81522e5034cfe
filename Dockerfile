# syntax=docker/dockerfile:1
#
# Image of the prefab warehouse: Airflow 3.3 + dbt-duckdb + Great Expectations, installed from uv.lock.
# Every Airflow service in docker-compose.yml (api-server, scheduler, dag-processor, triggerer, init)
# runs this one image with a different command.
#
#   docker build -t prefab-warehouse .
#   docker compose up airflow-init && docker compose up -d
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/venv

# The bulletin (prefab_bulletin DAG): WeasyPrint needs pango, and its PDF and charts need Chinese glyphs.
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

# uv is pinned: the lock file format and `--locked` semantics are tied to the uv version that wrote it.
RUN pip install --no-cache-dir "uv==0.13.8"

WORKDIR /opt/prefab

# Dependencies first, so this (slow) layer is only rebuilt when pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN uv sync --locked --no-dev --no-install-project

# Then the project itself. Directories are copied one by one (there is no .dockerignore, and the
# developer's .venv, data/ and .git must not end up in the image). Keep this list in step with
# [tool.hatch.build.targets.wheel].packages in pyproject.toml (tests/deployment/test_docker_compose.py checks it).
COPY README.md ./
COPY foundation ./foundation
COPY ingestion ./ingestion
COPY expectations ./expectations
COPY publishing ./publishing
COPY bulletin ./bulletin
COPY pipeline ./pipeline
COPY steward ./steward
COPY demo ./demo
COPY sample_data ./sample_data
COPY dbt_project ./dbt_project
COPY dags ./dags
# Editable install (uv's default): foundation.config.PROJECT_ROOT then resolves to /opt/prefab, so
# DBT_PROJECT_DIR is /opt/prefab/dbt_project -- the path docker-compose.yml bind-mounts ./dbt_project to.
RUN uv sync --locked --no-dev

# The PostgreSQL driver of the Airflow metadata DB (psycopg 3, for both the sync and the async engine, as
# docker-compose.yml sets them) comes from uv.lock with everything else: nothing is installed beside the lock.

ENV PATH="/opt/venv/bin:${PATH}" \
    VIRTUAL_ENV=/opt/venv \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/prefab/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PREFAB_DATA_DIR=/opt/prefab-data \
    PREFAB_LANDING_DIR=/opt/prefab-data/landing

# Non-root user as in the official apache/airflow image: uid 50000, primary group 0 (root), so that
# running with another uid (`user: "${AIRFLOW_UID}:0"` in compose) still has group write access.
RUN useradd --uid 50000 --gid 0 --home-dir /opt/airflow --no-create-home --shell /bin/bash airflow \
    && mkdir -p /opt/airflow/logs /opt/airflow/auth /opt/prefab-data/landing \
    && chown -R 50000:0 /opt/airflow /opt/prefab-data /opt/prefab/dbt_project \
    && chmod -R g+rwX /opt/airflow /opt/prefab-data /opt/prefab/dbt_project

USER 50000
WORKDIR /opt/prefab

CMD ["airflow", "version"]
