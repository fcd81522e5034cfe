"""dbt's fixed cost, the part of a night's `dbt build` that does no data work, measured several ways after a build
on the same data folder (so dbt's saved manifest is there, as on a real night):

- `parse_partial`: `dbt parse` as a process, reusing the saved manifest (`partial_parse.msgpack`), which the
  nightly build does too since its target folder is kept in `<data dir>/dbt/target` from night to night;
- `parse_full`: the same with `--no-partial-parse` (a night after the project changed, or a new data folder);
- `build_nothing`: `dbt build` selecting no node: a build invocation's start-up, parse and adapter set-up;
- `inprocess_*`: in one new Python process, as one Airflow task would run it in process with `dbtRunner`:
  the import of dbt, the first `invoke(["parse"])`, and a second one (what only a long-lived process reuses).

Every variant writes to a scratch target folder seeded with a copy of the saved manifest, so the night's own
`run_results.json` and manifest are left as they were.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from foundation.config import Settings
from publishing.build import dbt_cwd, dbt_env, run_dbt

_INPROCESS = """
import json, sys, time
t0 = time.perf_counter()
from dbt.cli.main import dbtRunner
t1 = time.perf_counter()
runner = dbtRunner()
times = []
for _ in range(2):
    s = time.perf_counter()
    ok = runner.invoke(sys.argv[1:]).success
    times.append(time.perf_counter() - s)
print(json.dumps({"import": t1 - t0, "first": times[0], "second": times[1], "ok": ok}))
"""


def _scratch_target(settings: Settings, name: str) -> Path:
    target = settings.data_dir / "dbt" / f"bench_{name}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    saved = settings.data_dir / "dbt" / "target" / "partial_parse.msgpack"
    if saved.exists():
        shutil.copy2(saved, target / saved.name)
    return target


def _timed_dbt(settings: Settings, name: str, *args: str) -> float | None:
    target = _scratch_target(settings, name)
    started = time.perf_counter()
    proc = run_dbt(settings, *args, target_path=target)
    seconds = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    return seconds if proc.returncode == 0 else None


def _inprocess(settings: Settings) -> dict:
    target = _scratch_target(settings, "inprocess")
    project = settings.dbt_project_dir
    args = ["parse", "--project-dir", str(project), "--profiles-dir", str(project), "--target-path", str(target),
            "--log-path", str(settings.data_dir / "dbt" / "logs")]
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _INPROCESS, *args], env=dbt_env(settings), capture_output=True,
                          text=True, cwd=dbt_cwd(settings))
    wall = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    try:
        got = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"inprocess_error": (proc.stdout + proc.stderr)[-400:]}
    return {"inprocess_process_seconds": wall, "inprocess_import_seconds": got["import"],
            "inprocess_first_parse_seconds": got["first"], "inprocess_second_parse_seconds": got["second"]}


def dbt_fixed_costs(settings: Settings) -> dict:
    """Seconds of each variant (None for one that failed)."""
    return {"parse_partial_seconds": _timed_dbt(settings, "partial", "parse"),
            "parse_full_seconds": _timed_dbt(settings, "full", "parse", "--no-partial-parse"),
            "build_nothing_seconds": _timed_dbt(settings, "nothing", "build", "--select", "fqn:no_such_node"),
            **_inprocess(settings)}
