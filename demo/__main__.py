"""`make demo`: run the nightly DAG once, exactly as Airflow runs it, on the embedded default.

If the landing zone is empty, a realistic sample landing zone is generated first (deterministic); otherwise
what is there is loaded (`PREFAB_LANDING_DIR=/some/where make demo`). Ends with the run's summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from demo.airflow_env import airflow_env
from foundation.config import settings
from pipeline.summary import summary_text
from publishing.unchanged import last_run_id


def _landing_is_empty(landing: Path) -> bool:
    return not landing.exists() or not any(p.is_file() for p in landing.rglob("*"))


def _airflow(env: dict[str, str], log_path: Path, *args: str) -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    with log_path.open("a", encoding="utf-8") as log:
        proc = subprocess.run([airflow, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(log_path.read_text(encoding="utf-8").splitlines()[-60:])
        print(tail, file=sys.stderr)
        raise SystemExit(f"`airflow {' '.join(args)}` failed (exit {proc.returncode}); full log: {log_path}")


def main() -> None:
    s = settings()
    if _landing_is_empty(s.landing_dir):
        from sample_data import generate

        print(f"Landing zone {s.landing_dir} is empty: generating the sample submissions ...", flush=True)
        generated = generate(s.landing_dir)
        print(f"  {len(generated.files)} files written", flush=True)
    env = os.environ | airflow_env()
    env["PREFAB_LANDING_DIR"], env["PREFAB_DATA_DIR"] = str(s.landing_dir), str(s.data_dir)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    s.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = s.data_dir / "demo-airflow.log"
    log_path.write_text("", encoding="utf-8")
    print("Migrating Airflow's metadata DB (SQLite, project-local) ...", flush=True)
    _airflow(env, log_path, "db", "migrate")
    print("Running the nightly DAG: airflow dags test prefab_nightly ...", flush=True)
    _airflow(env, log_path, "dags", "test", "prefab_nightly")
    print(summary_text(s, last_run_id(s)))
    print(f"\nAirflow log of this run: {log_path}")


if __name__ == "__main__":
    main()
