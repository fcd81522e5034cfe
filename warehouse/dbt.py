"""Runs `dbt build` on the warehouse (the candidate: analysts never read it) and reads its results.

dbt runs in its own process: it holds the warehouse's write lock only while it runs. Its results
(`run_results.json`) feed the publication gate.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from warehouse.config import Settings

log = logging.getLogger(__name__)


@dataclass
class DbtNodeResult:
    unique_id: str
    resource_type: str  # model | seed | test | unit_test | snapshot
    name: str
    status: str  # success | error | skipped | pass | fail | warn
    failures: int
    severity: str  # error | warn (tests); error for everything else
    message: str | None


@dataclass
class DbtBuild:
    returncode: int
    seconds: float
    nodes: list[DbtNodeResult]
    log_tail: str


def dbt_env(settings: Settings) -> dict[str, str]:
    return os.environ | {"PREFAB_DATA_DIR": str(settings.data_dir.resolve()),
                         "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    target, project = settings.data_dir / "dbt", settings.dbt_project_dir
    cmd = [dbt_executable(), *args, "--project-dir", str(project), "--profiles-dir", str(project),
           "--target-path", str(target / "target"), "--log-path", str(target / "logs")]
    log.info("running %s", " ".join(cmd))
    return subprocess.run(cmd, env=dbt_env(settings), capture_output=True, text=True, cwd=project)


def build(settings: Settings) -> DbtBuild:
    """`dbt build` (seeds, models, data tests and unit tests); never raises for failing tests."""
    started = time.monotonic()
    proc = run_dbt(settings, "build")
    seconds = time.monotonic() - started
    results_path = settings.data_dir / "dbt" / "target" / "run_results.json"
    nodes = read_run_results(results_path) if results_path.exists() else []
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    if proc.returncode not in (0, 1) or not nodes:
        raise RuntimeError(f"dbt build could not run (exit {proc.returncode}):\n{tail}")
    return DbtBuild(proc.returncode, seconds, nodes, tail)


def last_build(settings: Settings) -> DbtBuild:
    """The results of the last `dbt build` on this data folder."""
    path = settings.data_dir / "dbt" / "target" / "run_results.json"
    if not path.exists():
        raise RuntimeError(f"no dbt results at {path}: run dbt build first")
    data = json.loads(path.read_text(encoding="utf-8"))
    return DbtBuild(0, float(data.get("elapsed_time") or 0), read_run_results(path), "")


def read_run_results(path: Path) -> list[DbtNodeResult]:
    data = json.loads(path.read_text(encoding="utf-8"))
    nodes = []
    for r in data["results"]:
        uid = r["unique_id"]
        resource_type = uid.split(".")[0]
        severity = "error"
        if resource_type == "test" and r["status"] == "warn":
            severity = "warn"
        name = ".".join(uid.split(".")[2:])
        nodes.append(DbtNodeResult(uid, resource_type, name, r["status"], int(r.get("failures") or 0), severity,
                                   r.get("message")))
    return nodes
