"""The single-host topology of docker-compose.local.yml, run natively (there is no Docker engine here): the
compose file's own Airflow environment and service commands, with PostgreSQL on 127.0.0.1:5432 as the metadata
DB, LocalExecutor, and api-server, scheduler, dag-processor and triggerer each in a process of its own, as the
containers run them.

A steward's day, through the real parts: the DAG is unpaused through the REST API (as in the UI), the scheduler
creates the nightly run itself, runs every task, and the run publishes `reporting.duckdb`; the run is recorded
in PostgreSQL, and the publication is also in the analysts' PostgreSQL database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.config import PROJECT_ROOT
from tests.helpers.topology import DAG, PG, SERVICES, assert_published, compose_file, run_the_nightly_dag, running

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.topology]

COMPOSE = PROJECT_ROOT / "docker-compose.local.yml"
START_TIMEOUT, RUN_TIMEOUT = 120, 600


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    assert compose_file(COMPOSE)["x-airflow-common"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    with running(COMPOSE, tmp_path_factory.mktemp("topology"), {name: {} for name in SERVICES},
                 START_TIMEOUT) as t:
        yield t


def test_scheduler_runs_the_nightly_dag_on_postgres_and_publishes(topology):
    env, database = topology["env"], topology["database"]
    run, tasks = run_the_nightly_dag(topology, START_TIMEOUT, RUN_TIMEOUT)
    states = {t["task_id"]: t["state"] for t in tasks}
    assert run["state"] == "success", states
    assert run["run_type"] == "scheduled"
    assert set(states.values()) == {"success"}, states
    assert {"discover", "read", "check", "load", "dbt_build", "gate", "publish"} <= set(states)

    # Published for analysts, in reporting.duckdb and in their PostgreSQL (reporting-postgres); the run is
    # recorded in the PostgreSQL metadata DB, not in a SQLite file.
    assert_published(topology)
    import psycopg

    with psycopg.connect(**PG, dbname=database) as meta:
        recorded = meta.execute("select run_id, state from dag_run where dag_id = %s", [DAG]).fetchall()
    assert (run["dag_run_id"], "success") in recorded
    assert not list(Path(env["AIRFLOW_HOME"]).glob("*.db")), "a SQLite metadata DB was created"
