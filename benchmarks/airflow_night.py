"""The nightly through Airflow itself, as an operator sees it: `airflow dags test prefab_nightly` (what `make demo`
runs) on the project's embedded default (SQLite metadata in a project-local AIRFLOW_HOME, `demo.airflow_env`),
each night a new `airflow` process that imports the DAG, Great Expectations and dbt's caller like a real run.

Three nights on one data folder: the full landing zone into an empty warehouse (full load), the same zone plus one
new month (the one-new-month night), then that zone again (nothing new: dbt, gate and publication skipped). Each
night's wall time, its exit code and every task's state and duration from Airflow's own metadata.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from demo.airflow_env import airflow_env

NIGHTS = ("full_load", "one_new_month", "nothing_new")
DAG_ID = "prefab_nightly"


def _airflow(env: dict[str, str], log: Path, *args: str) -> tuple[float, int]:
    airflow = str(Path(sys.executable).with_name("airflow"))
    started = time.perf_counter()
    with log.open("a", encoding="utf-8") as out:
        proc = subprocess.run([airflow, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    return time.perf_counter() - started, proc.returncode


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def task_times(db: Path) -> dict:
    """The latest prefab_nightly run's state and per-task (state, seconds) from Airflow's SQLite metadata."""
    con = sqlite3.connect(db)
    try:
        run = con.execute("select run_id, state, start_date, end_date from dag_run where dag_id = ? "
                          "order by id desc limit 1", [DAG_ID]).fetchone()
        if run is None:
            return {}
        tasks = con.execute("select task_id, state, start_date, end_date from task_instance "
                            "where dag_id = ? and run_id = ?", [DAG_ID, run[0]]).fetchall()
    finally:
        con.close()
    return {"run_id": run[0], "state": run[1], "run_seconds": _seconds(run[2], run[3]),
            "tasks": {t: {"state": s, "seconds": _seconds(a, b)} for t, s, a, b in tasks}}


def airflow_nights(full: Path, incr: Path, work: Path) -> dict:
    """The three nights through `airflow dags test`, on a fresh AIRFLOW_HOME and data folder under `work`."""
    home, data = work / "airflow_home", work / "airflow_data"
    for d in (home, data):
        shutil.rmtree(d, ignore_errors=True)
    home.mkdir(parents=True)
    data.mkdir(parents=True)
    env = os.environ | airflow_env(home) | {
        "AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "PREFAB_DATA_DIR": str(data), "PREFAB_LANDING_SETTLE_SECONDS": "0",
        "PREFAB_MAX_FILE_BYTES": str(1 << 31)}
    log = work / "airflow_nights.log"
    log.write_text("", encoding="utf-8")
    out = {"log": str(log)}
    out["db_migrate_seconds"], code = _airflow(env, log, "db", "migrate")
    if code != 0:
        out["error"] = f"airflow db migrate exit {code}"
        return out
    for night, landing in zip(NIGHTS, (full, incr, incr), strict=True):
        seconds, code = _airflow(env | {"PREFAB_LANDING_DIR": str(landing)}, log, "dags", "test", DAG_ID)
        out[night] = {"seconds": seconds, "returncode": code} | task_times(home / "airflow.db")
    return out
