"""`make airflow` (demo/airflow_ui.py) and the task logs of `make demo` runs (demo/task_logs.py): the UI listens on
127.0.0.1 only, on the demo's own AIRFLOW_HOME and metadata DB, with the tasks' execution API at the same address;
and a run made by `airflow dags test` (what `make demo` runs, which writes no task log file itself) has each task's
log where Airflow's own log reader, the one behind the UI, finds it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from demo.airflow_env import airflow_env
from demo.airflow_ui import HOST, SERVICES, ui_env
from demo.task_logs import task_path, write_task_logs
from foundation.config import PROJECT_ROOT

TINY_DAG = '''
"""A two-task airflow dag for the task-log test."""
import logging

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="tiny_logs", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def tiny_logs():
    @task
    def first():
        logging.getLogger("prefab.tiny").info("first-task-marker 装配式")
        return 1

    @task
    def second(_):
        logging.getLogger("prefab.tiny").warning("second-task-marker")

    second(first())


tiny_logs()
'''


def test_make_airflow_is_the_demo_set_up_on_loopback(tmp_path, monkeypatch):
    for name in ("AIRFLOW_HOME", "AIRFLOW__API__PORT", "AIRFLOW__LOGGING__LOGGING_LEVEL",
                 "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        monkeypatch.delenv(name, raising=False)
    env, demo = ui_env(tmp_path / "home"), airflow_env(tmp_path / "home")
    assert {k: env[k] for k in demo if k != "AIRFLOW__LOGGING__LOGGING_LEVEL"} == {
        k: v for k, v in demo.items() if k != "AIRFLOW__LOGGING__LOGGING_LEVEL"}  # make demo's home, DB, DAGs
    assert env["AIRFLOW__API__HOST"] == HOST == "127.0.0.1"
    execution = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (execution.hostname, execution.port, execution.path) == ("127.0.0.1", 8080, "/execution/")
    assert env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:8080"
    assert env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] == str(tmp_path / "home" / "logs")
    assert env["AIRFLOW__LOGGING__LOGGING_LEVEL"] == "INFO"  # at WARNING a task log is nearly empty
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].startswith("admin:")
    assert set(SERVICES) == {"api-server", "scheduler", "dag-processor"}
    monkeypatch.setenv("AIRFLOW__API__PORT", "18123")
    assert ui_env(tmp_path / "home")["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18123/execution/"
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^airflow: install ##.*\n\t\$\(PY\) -m demo\.airflow_ui$", makefile, re.M)


@pytest.mark.slow
def test_a_dags_test_run_has_its_task_logs_where_the_ui_reads_them(airflow_db, tmp_path):
    """As `make demo` does: `airflow dags test` at INFO, then its console log filed per task; read back through
    Airflow's TaskLogReader (what the api-server serves the UI) for the run's task instances in the metadata DB."""
    dag_file = tmp_path / "tiny_logs.py"
    dag_file.write_text(TINY_DAG, encoding="utf-8")
    env = os.environ | {"AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO", "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path)}
    airflow = str(Path(sys.executable).with_name("airflow"))
    proc = subprocess.run([airflow, "dags", "test", "tiny_logs"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    base = Path(os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"])
    written = write_task_logs(proc.stdout + proc.stderr, base, "tiny_logs")
    assert {p.parts[-2] for p in written} == {"task_id=first", "task_id=second"}

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.log.log_reader import TaskLogReader
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == "tiny_logs")).all()
        latest = max(ti.run_id for ti in tis)
        read = {}
        for ti in (t for t in tis if t.run_id == latest):
            assert task_path(base, "tiny_logs", ti.run_id, ti.task_id, ti.try_number) in written
            stream, _ = TaskLogReader().read_log_chunks(ti, ti.try_number, {})
            read[ti.task_id] = [m.event for m in stream]
    assert any("first-task-marker 装配式" in e for e in read["first"]), read["first"]
    assert any("second-task-marker" in e for e in read["second"]), read["second"]
    assert not any("second-task-marker" in e for e in read["first"])  # each task its own lines
