"""The multi-host topology of docker-compose.yml (CeleryExecutor), run natively: the compose file's own Airflow
environment and service commands, with PostgreSQL on 127.0.0.1:5432 as metadata DB and Celery result backend,
Redis on 127.0.0.1:6379 (a database number of its own, `REDIS_DB`) as broker, api-server, scheduler,
dag-processor and triggerer, and the file's two Celery workers: `airflow-worker` (the shared queue) and
`airflow-worker-warehouse` (the warehouse queue, one process), each in a process of its own.

The scheduler runs the nightly DAG; each task is put on the queue of its stage (`pipeline.stages.queue`) and run
by the worker serving that queue, as the task instances and the workers' own logs show; the run publishes
`reporting.duckdb` and the analysts' PostgreSQL database. Small sample data and one scheduled run: what is
checked is where each task runs, not the volume.
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from foundation.config import PROJECT_ROOT, settings
from pipeline.stages import STAGES, queue
from tests.helpers.topology import (
    REDIS,
    SERVICES,
    assert_published,
    compose_file,
    free_port,
    require_redis,
    run_the_nightly_dag,
    running,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.topology]

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
WORKERS = ("airflow-worker", "airflow-worker-warehouse")
REDIS_DB = 13  # not 0: the machine's Redis may serve others; this database is flushed before the test
START_TIMEOUT, RUN_TIMEOUT = 240, 900


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    require_redis()
    import redis

    redis.Redis(*REDIS, db=REDIS_DB).flushdb()  # no message left by an earlier, killed run
    common = compose_file(COMPOSE)["x-airflow-common"]["environment"]
    assert common["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    root = tmp_path_factory.mktemp("celery")
    services = {name: {} for name in SERVICES} | {
        # Two workers on one host: each serves its task logs on a port of its own.
        name: {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())} for name in WORKERS}
    extra = {"AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}"}
    with running(COMPOSE, root, services, START_TIMEOUT, extra) as t:
        yield t


@pytest.fixture(scope="module")
def nightly(topology):
    return run_the_nightly_dag(topology, START_TIMEOUT, RUN_TIMEOUT)


def _executed(log: str) -> set[str]:
    """Task ids a Celery worker's log says it executed ("Executing workload in Celery: ... task_id='x'")."""
    return {m.group(1) for line in log.splitlines() if "Executing workload in Celery" in line
            for m in re.finditer(r"task_id='([^']+)'", line)}


def test_the_nightly_dag_runs_each_task_on_its_queue_and_publishes(topology, nightly):
    run, tasks = nightly
    logs = topology["logs"]
    states = {t["task_id"]: t["state"] for t in tasks}
    assert run["state"] == "success", states
    assert set(states.values()) == {"success"}, states

    # The queue of each task is its stage's, from the compose file's queue names.
    compose_env = compose_file(COMPOSE)["x-airflow-common"]["environment"]
    warehouse_q, shared_q = compose_env["PREFAB_WAREHOUSE_QUEUE"], compose_env["PREFAB_SHARED_QUEUE"]
    s = dataclasses.replace(settings(), warehouse_queue=warehouse_q, shared_queue=shared_q)
    expected = {stage.name: queue(stage, s) for stage in STAGES} | {"summary": warehouse_q, "announce": shared_q}
    assert {t["task_id"]: t["queue"] for t in tasks} == expected
    assert {q for q in expected.values()} == {warehouse_q, shared_q}  # both workers had work

    # ... and the worker serving that queue is the one that ran it (its own log says so), the other did not.
    ran = {name: _executed((logs / f"{name}.log").read_text(errors="replace")) for name in WORKERS}
    assert ran["airflow-worker-warehouse"] == {t for t, q in expected.items() if q == warehouse_q}, ran
    assert ran["airflow-worker"] == {t for t, q in expected.items() if q == shared_q}, ran
    assert all(t["hostname"] for t in tasks)

    # Published: reporting.duckdb, and the analysts' PostgreSQL (reporting-postgres) by the warehouse worker.
    assert_published(topology)
