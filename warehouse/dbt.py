"""Runs `dbt build` on the warehouse (the candidate: analysts never read it) and reads its results.

dbt runs in its own process: it holds the warehouse's write lock only while it runs. Its results
(`run_results.json`, with the lineage from `manifest.json`) feed the publication gate. dbt dies with the
process that started it (Linux parent-death signal), so a killed task never leaves a dbt behind that keeps
writing the warehouse after the lock was released.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
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
    parents: dict[str, list[str]] = field(default_factory=dict)  # unique_id -> the nodes it depends on


PR_SET_PDEATHSIG = 1
# Resolved once in the parent: the child, between fork and exec, must not load libraries.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the dbt child, before exec: SIGKILL it when the process that started it dies (Linux only)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


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
    return subprocess.run(cmd, env=dbt_env(settings), capture_output=True, text=True, cwd=project,
                          preexec_fn=_die_with_parent)


def build(settings: Settings) -> DbtBuild:
    """`dbt build` (seeds, models, data tests and unit tests); never raises for failing tests."""
    results_path = settings.data_dir / "dbt" / "target" / "run_results.json"
    results_path.unlink(missing_ok=True)  # a build that dies must not leave the previous build's results to gate
    started = time.monotonic()
    proc = run_dbt(settings, "build")
    seconds = time.monotonic() - started
    nodes = read_run_results(results_path) if results_path.exists() else []
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    if proc.returncode not in (0, 1) or not nodes:
        raise RuntimeError(f"dbt build could not run (exit {proc.returncode}):\n{tail}")
    return DbtBuild(proc.returncode, seconds, nodes, tail, read_parents(results_path.with_name("manifest.json")))


def last_build(settings: Settings) -> DbtBuild:
    """The results of the last `dbt build` on this data folder."""
    path = settings.data_dir / "dbt" / "target" / "run_results.json"
    if not path.exists():
        raise RuntimeError(f"no dbt results at {path}: run dbt build first")
    data = json.loads(path.read_text(encoding="utf-8"))
    return DbtBuild(0, float(data.get("elapsed_time") or 0), read_run_results(path), "",
                    read_parents(path.with_name("manifest.json")))


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


def read_parents(manifest_path: Path) -> dict[str, list[str]]:
    """unique_id -> the nodes it depends on (models, seeds, tests, unit tests), from dbt's manifest."""
    if not manifest_path.exists():
        return {}
    data = json.loads(manifest_path.read_text(encoding="utf-8"))
    parents = {uid: list(p) for uid, p in (data.get("parent_map") or {}).items()}
    for uid, unit_test in (data.get("unit_tests") or {}).items():
        parents.setdefault(uid, list(unit_test.get("depends_on", {}).get("nodes") or []))
    return parents
