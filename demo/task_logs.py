"""The task logs of a `make demo` run, filed where the Airflow UI reads them.

Why the UI showed empty task logs: `airflow dags test` (what `make demo` runs) executes every task inside its
own process (Airflow 3.3's `InProcessTestSupervisor`) and writes no task log file, so the UI finds nothing under
`$AIRFLOW_HOME/logs` for the demo's runs (and at the demo's old WARNING level, its console held only warnings).
The demo now logs at INFO into `data/demo-airflow.log` and then files each task's part of it, as JSON lines (the
format Airflow's log reader parses), at the path Airflow's `log_filename_template` names for that task:
`$AIRFLOW_HOME/logs/dag_id=<dag>/run_id=<run>/task_id=<task>/attempt=<n>.log`. Runs the scheduler of
`make airflow` makes write their own logs there (demo/airflow_ui.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

START = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")
END = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")
RUN_ID = re.compile(r"run_id=((?:manual|scheduled|backfill)__[^\s,>\]']+)")
CONSOLE = re.compile(r"^(\d{4}-\d\d-\d\d[T ][\d:.]+(?:Z|[+-]\d\d:?\d\d)?) \[(\w+)\s*\] (.*)$")


def task_path(base_log_folder: Path, dag_id: str, run_id: str, task_id: str, attempt: int = 1) -> Path:
    """Airflow's default `log_filename_template` (3.3), for a task that is not mapped."""
    return base_log_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}" / f"attempt={attempt}.log"


def split_by_task(text: str) -> dict[str, list[str]]:
    """task_id -> the console lines `airflow dags test` printed while that task ran (its start and end lines
    included)."""
    tasks: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        started = START.search(line)
        if started:
            current = started.group(1)
            tasks.setdefault(current, [])
        if current is not None:
            tasks[current].append(line)
        if current is not None and END.search(line):
            current = None
    return tasks


def _record(line: str) -> dict:
    found = CONSOLE.match(line)
    if not found:
        return {"event": line}
    timestamp, level, event = found.groups()
    return {"timestamp": timestamp.replace(" ", "T", 1), "level": level.lower(), "event": event.rstrip()}


def write_task_logs(text: str, base_log_folder: Path, dag_id: str) -> list[Path]:
    """File each task's lines of an `airflow dags test` console log (the last run in it) where the UI reads
    them; returns the files written."""
    runs = RUN_ID.findall(text)
    if not runs:
        return []
    written = []
    for task_id, lines in split_by_task(text).items():
        path = task_path(base_log_folder, dag_id, runs[-1], task_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(_record(line), ensure_ascii=False) + "\n" for line in lines),
                        encoding="utf-8")
        written.append(path)
    return written
