"""Running a compose file's Airflow services natively (there is no Docker engine here): the file's own Airflow
environment and service commands, with what names a container (the `postgres`, `reporting-postgres`, `redis`
and `airflow-apiserver` hosts, the image's paths) replaced by this machine's equivalent, each service in a
process of its own as the containers run them, on fresh PostgreSQL databases. For the topology tests in
tests/deployment/."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
import yaml

from demo.airflow_ui import stop_processes
from foundation.config import PROJECT_ROOT

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS = ("127.0.0.1", 6379)
SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
DAG = "prefab_nightly"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def interpolate(value: str, variables: dict[str, str]) -> str:
    """docker compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}`, from `variables`."""
    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if name in variables:
            return variables[name]
        if op == ":-":
            return arg
        raise KeyError(f"compose variable {name} is required: {arg}")
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-?])([^}]*))?\}", one, value)


def compose_file(compose: Path) -> dict:
    return yaml.safe_load(compose.read_text(encoding="utf-8"))


def compose_environment(compose: Path, database: str, root: Path, api_port: int, health_port: int,
                        reporting_database: str) -> dict[str, str]:
    """The environment of the compose file's Airflow services, mapped onto this machine: both PostgreSQL
    servers (`postgres`, `reporting-postgres`) become databases of the local PostgreSQL."""
    common = compose_file(compose)["x-airflow-common"]["environment"]
    from cryptography.fernet import Fernet

    variables = {"POSTGRES_PASSWORD": "unused-with-trust-auth", "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
                 "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32), "AIRFLOW_API_SECRET_KEY": secrets.token_urlsafe(32),
                 "REPORTING_POSTGRES_PASSWORD": "unused"}
    env = {k: _string(v, variables) for k, v in common.items()}
    url = f"postgresql+psycopg://{PG['user']}@{PG['host']}:{PG['port']}/{database}"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"].startswith("postgresql+psycopg://")
    env |= {
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
    if "AIRFLOW__CELERY__RESULT_BACKEND" in env:  # Celery results in the metadata DB, as the compose file has it
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://")
        env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + url
    assert "@reporting-postgres:5432/" in env["PREFAB_REPORTING_POSTGRES_URL"]
    env["PREFAB_REPORTING_POSTGRES_URL"] = f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{reporting_database}"
    # This process's Airflow settings (the test session's SQLite, unit-test mode) must not leak in.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PREFAB_"))}
    return base | env


def _string(value, variables: dict[str, str]) -> str:
    return interpolate(str(value), variables)


def postgres():
    """An autocommit connection to the local PostgreSQL's `postgres` database, or the test is skipped."""
    psycopg = pytest.importorskip("psycopg")
    try:
        return psycopg.connect(**PG, dbname="postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("start PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres to run this test "
                    "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)")


def require_redis() -> None:
    try:
        with socket.create_connection(REDIS, timeout=2):
            return
    except OSError:
        pytest.skip("start Redis on 127.0.0.1:6379 to run this test "
                    "(redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no)")


def wait(what: str, probe, timeout: float, procs: dict[str, subprocess.Popen], logs: Path):
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


def get(url: str, **kw):
    try:
        return httpx.get(url, timeout=5, **kw)
    except httpx.HTTPError:
        return None


def _children(psutil, pid: int) -> list:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


@contextmanager
def running(compose: Path, root: Path, services: dict[str, dict[str, str]], start_timeout: float,
            extra_env: dict[str, str] | None = None) -> Iterator[dict]:
    """A migrated metadata DB (a new PostgreSQL database) and the compose file's `services` running, each with
    its command from the file and the common environment plus its own overrides (`services[name]`). Yields the
    API URL, auth headers, environment, logs folder, database names (metadata, analysts') and processes."""
    admin = postgres()
    database = f"prefab_airflow_{uuid.uuid4().hex[:10]}"
    reporting_database = f"prefab_reporting_{uuid.uuid4().hex[:10]}"
    admin.execute(f'create database "{database}"')
    admin.execute(f'create database "{reporting_database}"')
    logs = root / "logs"
    for d in ("auth", "data/landing", "airflow", "logs"):
        (root / d).mkdir(parents=True, exist_ok=True)
    api_port, health_port = free_port(), free_port()
    env = compose_environment(compose, database, root, api_port, health_port, reporting_database) | (extra_env or {})
    password = secrets.token_urlsafe(12)
    user = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(":")[0]
    Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).write_text(json.dumps({user: password}))
    airflow = str(Path(sys.executable).with_name("airflow"))
    declared = compose_file(compose)["services"]
    procs: dict[str, subprocess.Popen] = {}
    try:
        # airflow-init's job: migrate the metadata DB.
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
        common = compose_file(compose)["x-airflow-common"]["environment"]
        for name, overrides in services.items():
            command = declared[name]["command"]
            if command[:3] == ["python", "-m", "airflow"]:
                command = command[2:]  # run below as `python -m airflow`, with this venv's python
                run = [sys.executable, "-m", "airflow"]
            else:
                assert command[0] == "airflow", command
                run = [airflow]
            # The service's own variables (beyond the common ones), as the file gives them.
            own = {k: interpolate(str(v), {}) for k, v in (declared[name].get("environment") or {}).items()
                   if k not in common}
            with (logs / f"{name}.log").open("wb") as out:
                procs[name] = subprocess.Popen([*run, *command[1:]], env=env | own | overrides, stdout=out,
                                               stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{api_port}"
        wait("the api-server", lambda: (r := get(f"{base}/api/v2/version")) is not None and r.status_code == 200,
             start_timeout, procs, logs)
        wait("the scheduler's health check",
             lambda: (r := get(f"http://127.0.0.1:{health_port}/health")) is not None and r.status_code == 200,
             start_timeout, procs, logs)
        token = httpx.post(f"{base}/auth/token", json={"username": user, "password": password}, timeout=10)
        assert token.status_code in (200, 201), token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        yield {"base": base, "headers": headers, "env": env, "logs": logs, "database": database, "procs": procs,
               "reporting_database": reporting_database}
    finally:
        import psutil

        # A task's supervisor leaves its worker's process group: end every descendant, not only the groups.
        descendants = [c for proc in procs.values() if proc.poll() is None
                       for c in _children(psutil, proc.pid)]
        # what is checked ran before: a process still shutting down after 5 s is killed (with 30 s to go, the Celery
        # topology's teardown took 35 s)
        stop_processes(procs, grace=5)
        for child in descendants:
            with suppress(psutil.Error):
                child.kill()
        admin.execute(f'drop database if exists "{database}" with (force)')
        admin.execute(f'drop database if exists "{reporting_database}" with (force)')
        admin.close()


def run_the_nightly_dag(topology: dict, start_timeout: float, run_timeout: float) -> tuple[dict, list[dict]]:
    """Sample submissions in the landing zone, the DAG unpaused through the REST API (as in the UI); waits for
    the run the scheduler creates itself to finish: (the run, its task instances). Checks that every file the
    generator meant to load (XLSX workbooks, read in a child process, included) was loaded."""
    from sample_data import generate

    base, headers, env, logs, procs = (topology[k] for k in ("base", "headers", "env", "logs", "procs"))
    # Small: two counties, one year, one building a month (30 files, XLSX and rejected ones among them). What
    # these tests check is where each task runs and that the run publishes, not the volume.
    zone = generate(Path(env["PREFAB_LANDING_DIR"]), seed=7, years=(2021,), units="330402,330411",
                    buildings_per_month=1)

    # The dag-processor parses the DAG file into PostgreSQL; the API then knows the DAG (paused at creation).
    dag = wait("the DAG to be parsed", lambda: (r := get(f"{base}/api/v2/dags/{DAG}", headers=headers)) is not None
               and r.status_code == 200 and r.json(), start_timeout, procs, logs)
    assert dag["is_paused"] is True
    unpaused = httpx.patch(f"{base}/api/v2/dags/{DAG}", json={"is_paused": False}, headers=headers, timeout=10)
    assert unpaused.status_code == 200, unpaused.text

    # Unpaused, the scheduler creates the run of the latest interval itself (catchup is off) and runs it.
    def finished_run():
        r = get(f"{base}/api/v2/dags/{DAG}/dagRuns", headers=headers)
        runs = r.json()["dag_runs"] if r is not None and r.status_code == 200 else []
        done = [x for x in runs if x["state"] in ("success", "failed")]
        return done[0] if done else None

    run = wait("the scheduled run to finish", finished_run, run_timeout, procs, logs)
    tasks = httpx.get(f"{base}/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances", headers=headers,
                      timeout=10).json()["task_instances"]
    if run["state"] == "success":
        _assert_loaded_as_generated(Path(env["PREFAB_DATA_DIR"]) / "warehouse.duckdb", zone)
    return run, tasks


def assert_published(topology: dict) -> None:
    """One publication in reporting.duckdb with buildings in it, and the same in the analysts' PostgreSQL
    database of the compose file (reporting-postgres)."""
    import duckdb
    import psycopg

    con = duckdb.connect(str(Path(topology["env"]["PREFAB_DATA_DIR"]) / "reporting.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from publication").fetchone() == (1,)
        buildings = con.execute("select count(*) from fct_building").fetchone()[0]
        publication_id = con.execute("select publication_id from publication").fetchone()[0]
    finally:
        con.close()
    assert buildings > 0
    with psycopg.connect(**PG, dbname=topology["reporting_database"]) as analysts:
        assert analysts.execute("select count(*) from reporting.fct_building").fetchone()[0] == buildings
        assert analysts.execute("select publication_id from reporting.publication").fetchall() == [(publication_id,)]


def _assert_loaded_as_generated(warehouse: Path, zone) -> None:
    import duckdb

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        taken = dict(con.execute("select landing_path, status from dq.submission_ledger").fetchall())
        reasons = [r for (r,) in con.execute("select reason from dq.submission_ledger where reason is not null")
                   .fetchall()]
    finally:
        con.close()
    meant = [f for f in zone.files if f.expected_outcome == "loaded"]
    assert any(f.path.endswith(".xlsx") for f in meant)
    wrong = {f.path: taken.get(f.path) for f in meant if taken.get(f.path) not in ("loaded", "superseded")}
    assert not wrong, (wrong, reasons[:5])
