"""`make demo`: run the nightly DAG once, exactly as Airflow runs it, on the embedded default.

If the landing zone is empty, a realistic sample landing zone is generated first (deterministic); otherwise
what is there is loaded (`PREFAB_LANDING_DIR=/some/where make demo`). Ends with the run's summary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from demo.airflow_env import airflow_env
from demo.task_logs import write_task_logs
from foundation.config import settings
from pipeline.summary import summary_text
from publishing.unchanged import last_run_id


def _landing_is_empty(landing: Path) -> bool:
    return not landing.exists() or not any(p.is_file() for p in landing.rglob("*"))


def _airflow(env: dict[str, str], log_path: Path, *args: str, check: bool = True) -> int:
    airflow = str(Path(sys.executable).with_name("airflow"))
    with log_path.open("a", encoding="utf-8") as log:
        proc = subprocess.run([airflow, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0 and check:
        tail = "\n".join(log_path.read_text(encoding="utf-8").splitlines()[-60:])
        print(tail, file=sys.stderr)
        raise SystemExit(f"`airflow {' '.join(args)}` failed (exit {proc.returncode}); full log: {log_path}")
    return proc.returncode


def _alerts_since(path: Path, since: str) -> list[dict]:
    """The alerts the run's failure callback appended (pipeline/alerts.py) since `since` (ISO, UTC)."""
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in records if str(r.get("at", "")) >= since and r.get("dag_id") == "prefab_nightly"]


def failure_text(alerts: list[dict], log_path: Path) -> str:
    """How a failed demo run ends: the failed task and its own short message (for a blocked gate, what failed
    and the next step, `publishing.gate.blocked_text`), and where the whole log is; no traceback."""
    if not alerts:
        tail = "\n".join(log_path.read_text(encoding="utf-8").splitlines()[-20:])
        return (f"夜间运行失败 (the nightly run failed); the last lines of its log:\n{tail}\n"
                f"完整日志 (full log): {log_path}")
    last = alerts[-1]
    return (f"\n夜间运行失败于任务 {last.get('task_id')} (the nightly run failed at task {last.get('task_id')}):\n"
            f"{last.get('error')}\n完整日志 (full log): {log_path}")


def main() -> None:
    s = settings()
    if _landing_is_empty(s.landing_dir):
        from sample_data import generate

        print(f"Landing zone {s.landing_dir} is empty: generating the sample submissions ...", flush=True)
        generated = generate(s.landing_dir)
        print(f"  {len(generated.files)} files written", flush=True)
    # INFO: the tasks' own lines (each stage's progress) go into the log, and from it into each task's log file
    # for the Airflow UI (demo/task_logs.py); the console still shows only the summary.
    env = os.environ | airflow_env() | {"AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get(
        "AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")}
    env["PREFAB_LANDING_DIR"], env["PREFAB_DATA_DIR"] = str(s.landing_dir), str(s.data_dir)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = s.data_dir / "demo-airflow.log"
    log_path.write_text("", encoding="utf-8")
    print("Migrating Airflow's metadata DB (SQLite, project-local) ...", flush=True)
    _airflow(env, log_path, "db", "migrate")
    print("Running the nightly DAG: airflow dags test prefab_nightly ...", flush=True)
    started = datetime.now(UTC).isoformat()
    returncode = _airflow(env, log_path, "dags", "test", "prefab_nightly", check=False)
    write_task_logs(log_path.read_text(encoding="utf-8"), Path(env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]),
                    "prefab_nightly")
    if s.warehouse_path.exists():  # not when the run failed before its first stage made it
        # the run whose dbt_build ran last, built or skipped (a skipped night records no checks)
        print(summary_text(s, last_run_id(s)))
    if returncode != 0:
        print(failure_text(_alerts_since(s.alerts_path, started), log_path))
        raise SystemExit(1)
    print(f"\nAirflow log of this run: {log_path} (each task's part also in the Airflow UI: make airflow)")


if __name__ == "__main__":
    main()
