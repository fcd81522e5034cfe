"""The docker-compose.yml topology, run natively (there is no Docker engine here): the compose file's own Airflow
environment and service commands, with PostgreSQL on 127.0.0.1:5432 as the metadata DB, LocalExecutor, and
api-server, scheduler, dag-processor and triggerer each in a process of its own, as the containers run them.

A steward's day, through the real parts: the DAG is unpaused through the REST API (as in the UI), the scheduler
creates the nightly run itself, runs every task, and the run publishes `reporting.duckdb`; the run is recorded
in PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import httpx
import pytest
import yaml

from foundation.config import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
START_TIMEOUT, RUN_TIMEOUT = 120, 600
DAG = "prefab_nightly"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _interpolate(value: str, variables: dict[str, str]) -> str:
    """docker compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}`, from `variables`."""
    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if name in variables:
            return variables[name]
        if op == ":-":
            return arg
        raise KeyError(f"compose variable {name} is required: {arg}")
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-?])([^}]*))?\}", one, value)


def compose_environment(database: str, root: Path, api_port: int, health_port: int,
                        reporting_database: str) -> dict[str, str]:
    """The environment of the compose file's Airflow services, with what names a container (the `postgres`,
    `reporting-postgres` and `airflow-apiserver` hosts, the image's paths) replaced by this machine's
    equivalent: both servers become databases of the local PostgreSQL."""
    common = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["x-airflow-common"]["environment"]
    from cryptography.fernet import Fernet

    variables = {"POSTGRES_PASSWORD": "unused-with-trust-auth", "REPORTING_POSTGRES_PASSWORD": "unused-too",
                 "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
                 "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32), "AIRFLOW_API_SECRET_KEY": secrets.token_urlsafe(32)}
    env = {k: _interpolate(str(v), variables) for k, v in common.items()}
    url = f"postgresql+psycopg://{PG['user']}@{PG['host']}:{PG['port']}/{database}"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert "@reporting-postgres:5432/" in env["PREFAB_REPORTING_POSTGRES_URL"]
    env |= {
        "PREFAB_REPORTING_POSTGRES_URL": f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{reporting_database}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(health_port),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(root / "auth" / "passwords.json"),
        "PREFAB_DATA_DIR": str(root / "data"),
        "PREFAB_LANDING_DIR": str(root / "data" / "landing"),
        "AIRFLOW_HOME": str(root / "airflow"),
    }
    # This process's Airflow settings (the test session's SQLite, unit-test mode) must not leak in.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PREFAB_"))}
    return base | env


def _postgres():
    psycopg = pytest.importorskip("psycopg")
    try:
        return psycopg.connect(**PG, dbname="postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("start PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres to run this test")


def _wait(what: str, probe, timeout: float, procs: dict[str, subprocess.Popen], logs: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited ({proc.returncode}) while waiting for {what}:\n"
                            + (logs / f"{name}.log").read_text(errors="replace")[-4000:])
        result = probe()
        if result:
            return result
        time.sleep(1)
    tails = "\n".join(f"--- {n}\n" + (logs / f"{n}.log").read_text(errors="replace")[-2000:] for n in procs)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


def _get(url: str, **kw):
    try:
        return httpx.get(url, timeout=5, **kw)
    except httpx.HTTPError:
        return None


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    """Migrated metadata DB, the four services running: their API URL, auth headers, environment, logs,
    database name and processes."""
    admin = _postgres()
    database = f"prefab_airflow_{uuid.uuid4().hex[:10]}"
    reporting_database = f"prefab_reporting_{uuid.uuid4().hex[:10]}"
    admin.execute(f'create database "{database}"')
    admin.execute(f'create database "{reporting_database}"')
    root = tmp_path_factory.mktemp("topology")
    logs = root / "logs"
    for d in ("auth", "data/landing", "airflow", "logs"):
        (root / d).mkdir(parents=True, exist_ok=True)
    api_port, health_port = _free_port(), _free_port()
    env = compose_environment(database, root, api_port, health_port, reporting_database)
    password = secrets.token_urlsafe(12)
    user = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(":")[0]
    Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).write_text(json.dumps({user: password}))
    airflow = str(Path(sys.executable).with_name("airflow"))
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    procs: dict[str, subprocess.Popen] = {}
    try:
        # airflow-init's job: migrate the metadata DB.
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
        for name in SERVICES:
            command = services[name]["command"]
            assert command[0] == "airflow", command
            with (logs / f"{name}.log").open("wb") as out:
                procs[name] = subprocess.Popen([airflow, *command[1:]], env=env, stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True)
        base = f"http://127.0.0.1:{api_port}"
        _wait("the api-server", lambda: (r := _get(f"{base}/api/v2/version")) is not None and r.status_code == 200,
              START_TIMEOUT, procs, logs)
        _wait("the scheduler's health check",
              lambda: (r := _get(f"http://127.0.0.1:{health_port}/health")) is not None and r.status_code == 200,
              START_TIMEOUT, procs, logs)
        token = httpx.post(f"{base}/auth/token", json={"username": user, "password": password}, timeout=10)
        assert token.status_code in (200, 201), token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        yield {"base": base, "headers": headers, "env": env, "logs": logs, "database": database, "procs": procs,
               "reporting_database": reporting_database}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        admin.execute(f'drop database if exists "{database}" with (force)')
        admin.execute(f'drop database if exists "{reporting_database}" with (force)')
        admin.close()


def test_scheduler_runs_the_nightly_dag_on_postgres_and_publishes(topology):
    from sample_data import generate

    base, headers, env, logs, database, procs = (topology[k] for k in ("base", "headers", "env", "logs",
                                                                      "database", "procs"))
    generate(Path(env["PREFAB_LANDING_DIR"]), seed=7, years=(2021,), units="jiaxing", buildings_per_month=2)

    # The dag-processor parses the DAG file into PostgreSQL; the API then knows the DAG (paused at creation).
    dag = _wait("the DAG to be parsed", lambda: (r := _get(f"{base}/api/v2/dags/{DAG}", headers=headers)) is not None
                and r.status_code == 200 and r.json(), START_TIMEOUT, procs, logs)
    assert dag["is_paused"] is True
    unpaused = httpx.patch(f"{base}/api/v2/dags/{DAG}", json={"is_paused": False}, headers=headers, timeout=10)
    assert unpaused.status_code == 200, unpaused.text

    # Unpaused, the scheduler creates the run of the latest interval itself (catchup is off) and runs it.
    def finished_run():
        r = _get(f"{base}/api/v2/dags/{DAG}/dagRuns", headers=headers)
        runs = r.json()["dag_runs"] if r is not None and r.status_code == 200 else []
        done = [x for x in runs if x["state"] in ("success", "failed")]
        return done[0] if done else None

    run = _wait("the scheduled run to finish", finished_run, RUN_TIMEOUT, procs, logs)
    tasks = httpx.get(f"{base}/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances", headers=headers,
                      timeout=10).json()["task_instances"]
    states = {t["task_id"]: t["state"] for t in tasks}
    assert run["state"] == "success", states
    assert run["run_type"] == "scheduled"
    assert set(states.values()) == {"success"}, states
    assert {"discover", "read", "check", "load", "dbt_build", "gate", "publish"} <= set(states)

    # Published for analysts; the run is recorded in the PostgreSQL metadata DB, not in a SQLite file.
    reporting = Path(env["PREFAB_DATA_DIR"]) / "reporting.duckdb"
    con = duckdb.connect(str(reporting), read_only=True)
    try:
        assert con.execute("select count(*) from publication").fetchone()[0] == 1
        buildings = con.execute("select count(*) from fct_building").fetchone()[0]
        publication_id = con.execute("select publication_id from publication").fetchone()[0]
        assert buildings > 0
    finally:
        con.close()
    import psycopg

    # ... and in the analysts' PostgreSQL of the compose file (reporting-postgres), the same publication.
    with psycopg.connect(**PG, dbname=topology["reporting_database"]) as analysts:
        assert analysts.execute("select count(*) from reporting.fct_building").fetchone()[0] == buildings
        assert analysts.execute("select publication_id from reporting.publication").fetchall() == [(publication_id,)]

    with psycopg.connect(**PG, dbname=database) as meta:
        recorded = meta.execute("select run_id, state from dag_run where dag_id = %s", [DAG]).fetchall()
    assert (run["dag_run_id"], "success") in recorded
    assert not list(Path(env["AIRFLOW_HOME"]).glob("*.db")), "a SQLite metadata DB was created"
