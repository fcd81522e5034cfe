"""Runs `dbt build` on the warehouse (the candidate: analysts never read it) and reads its results.

dbt runs in its own process: it holds the warehouse's write lock only while it runs. Its results
(`run_results.json`, with the lineage from `manifest.json`) feed the publication gate. dbt dies with the
process that started it (Linux parent-death signal), so a killed task never leaves a dbt behind that keeps
writing the warehouse after the lock was released.

Builds are incremental (the incremental models recompute only what the ledger changed since their last
build) while the dbt project is the one the warehouse was last fully built with; when the project changes
(a model, macro, seed, test or setting, or the dbt version: its fingerprint) the build is a `--full-refresh`.
Unit tests check the models' SQL on fixed inputs, not the data: they run whenever the project differs from the
one whose unit tests last passed (in this data folder or another: `publishing.parse_seed`), and are left out of
the nightly builds in between. The fingerprints are kept in `<data dir>/dbt/state.json`, beside dbt's target
folder (whose saved manifest makes parsing partial).
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

from foundation.config import Settings
from foundation.db import connect_warehouse
from foundation.workdir import read_json_file, write_json_file
from publishing import parse_seed
from publishing.unchanged import project_fingerprint, record_build, skip_if_unchanged

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
    full_refresh: bool = False
    unit_tests_run: bool = True


@dataclass
class BuildSummary:
    """The dbt_build stage's record: dbt's exit code, its wall time and how many nodes it ran."""

    returncode: int
    seconds: float
    nodes: int


PR_SET_PDEATHSIG = 1
# Resolved once in the parent: the child, between fork and exec, must not load libraries.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the dbt child, before exec: SIGKILL it when the process that started it dies (Linux only)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def dbt_env(settings: Settings) -> dict[str, str]:
    """dbt's environment. It runs in the data folder (`dbt_cwd`) and the profile's warehouse path is relative to it:
    the absolute path of each data folder would be part of the connection details dbt hashes into its saved parse,
    and so every new data folder would parse the project in full (5.0 s, against 1.5 s when the parse is reused,
    measured 2026-12-03 on tiny data)."""
    return os.environ | {"PREFAB_DATA_DIR": ".",
                         "PREFAB_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
                         "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def dbt_cwd(settings: Settings) -> Path:
    """dbt's working directory, the data folder: the profile's warehouse path is relative to it (`dbt_env`)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.data_dir.resolve()


def run_dbt(settings: Settings, *args: str, target_path: Path | None = None) -> subprocess.CompletedProcess:
    dbt_dir, project = settings.data_dir.resolve() / "dbt", settings.dbt_project_dir.resolve()
    target = (target_path or dbt_dir / "target").resolve()
    cmd = [dbt_executable(), *args, "--project-dir", str(project), "--profiles-dir", str(project),
           "--target-path", str(target), "--log-path", str(dbt_dir / "logs")]
    log.info("running %s", " ".join(cmd))
    parse_seed.offer(settings, target)
    proc = subprocess.run(cmd, env=dbt_env(settings), capture_output=True, text=True, cwd=dbt_cwd(settings),
                          preexec_fn=_die_with_parent)
    parse_seed.keep(settings, target)
    return proc


def _state_path(settings: Settings) -> Path:
    return settings.data_dir / "dbt" / "state.json"


def _read_state(settings: Settings) -> dict:
    return read_json_file(_state_path(settings), {})


def _write_state(settings: Settings, state: dict) -> None:
    write_json_file(_state_path(settings), state, indent=2)


def _accepted_rows(settings: Settings) -> list[str]:
    """The accepted quarantined rows the raw tables hold ('<submission_id>:<row_number>', sorted: a few)."""
    with connect_warehouse(settings, read_only=True) as con:
        return sorted(f"{sid}:{row}" for sid, row in con.execute(
            "select submission_id, row_number from dq.accepted_rows_loaded").fetchall())


def build(settings: Settings, full_refresh: bool = False) -> DbtBuild:
    """`dbt build` (seeds, models, data tests and, when the project changed, unit tests); never raises for
    failing tests. Incremental unless `full_refresh` or the project changed since the last complete build."""
    fingerprint = project_fingerprint(settings.dbt_project_dir)
    state = _read_state(settings)
    accepted = _accepted_rows(settings)
    # An accepted row taken out again (reopened) leaves no trace the incremental models see (they follow new
    # rows and superseded files): the build after it is a full refresh. Rows accepted and loaded are new rows.
    withdrawn = bool(set(state.get("accepted_rows_built", [])) - set(accepted))
    full_refresh = full_refresh or withdrawn or state.get("models_built_with") != fingerprint
    # run when neither this data folder nor another (`parse_seed.unit_tests_passed`) passed them with this project
    unit_tests = fingerprint not in (state.get("unit_tests_passed_with"), parse_seed.unit_tests_passed(settings))
    args = ["build", *(["--full-refresh"] if full_refresh else []),
            *([] if unit_tests else ["--exclude-resource-type", "unit_test"])]
    results_path = settings.data_dir / "dbt" / "target" / "run_results.json"
    results_path.unlink(missing_ok=True)  # a build that dies must not leave the previous build's results to gate
    started = time.monotonic()
    proc = run_dbt(settings, *args)
    seconds = time.monotonic() - started
    nodes = read_run_results(results_path) if results_path.exists() else []
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
    if proc.returncode not in (0, 1) or not nodes:
        raise RuntimeError(f"dbt build could not run (exit {proc.returncode}):\n{tail}")
    models = [n for n in nodes if n.resource_type == "model"]
    # Every model built with this project: later builds may be incremental on top of them. A model skipped
    # or failed in an incremental build keeps its watermark and catches up next time; in a full refresh it
    # still holds what an older project built, so the next build is a full refresh again.
    # The accepted rows the models hold: exactly those of the raw tables after a complete build; after a partial
    # one, the models that did build may hold them too, besides what the others still hold.
    if models and all(n.status == "success" for n in models):
        state["models_built_with"] = fingerprint
        state["accepted_rows_built"] = accepted
    else:
        state["accepted_rows_built"] = sorted(set(state.get("accepted_rows_built", [])) | set(accepted))
        if full_refresh:
            state["models_built_with"] = None
    if unit_tests:
        ran = [n for n in nodes if n.resource_type == "unit_test"]
        state["unit_tests_passed_with"] = fingerprint if ran and all(n.status == "pass" for n in ran) else None
        if state["unit_tests_passed_with"]:
            parse_seed.keep_unit_tests_passed(settings, fingerprint)
    _write_state(settings, state)
    return DbtBuild(proc.returncode, seconds, nodes, tail, read_parents(results_path.with_name("manifest.json")),
                    full_refresh, unit_tests)


def dbt_build(settings: Settings, run_id: str) -> BuildSummary:
    """The dbt_build stage: `build` (what the ledger holds; the run id names no part of it). Raises
    `NothingToDo` when nothing changed since the last build whose gate passed and which is published
    (`publishing.unchanged`): the DAG shows this task, the gate and publication as skipped."""
    fingerprint = skip_if_unchanged(settings, run_id)
    result = build(settings)
    record_build(settings, run_id, fingerprint)
    return BuildSummary(result.returncode, round(result.seconds, 1), len(result.nodes))


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


def docs_dir(settings: Settings) -> Path:
    return settings.data_dir / "dbt" / "docs"


def generate_docs(settings: Settings) -> Path:
    """`dbt docs generate --static` against the built warehouse, into `<data dir>/dbt/docs` (its own target
    folder, so the build's run_results.json stays the gate's): `static_index.html` opens from the file system;
    `manifest.json` and `catalog.json` hold every model's and column's description and the built columns."""
    target = docs_dir(settings)
    proc = run_dbt(settings, "docs", "generate", "--static", target_path=target)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise RuntimeError(f"dbt docs generate failed (exit {proc.returncode}):\n{tail}")
    return target / "static_index.html"


def main(argv: list[str] | None = None) -> int:
    """`python -m publishing.build docs`: the dbt docs of the warehouse in PREFAB_DATA_DIR (run after a build)."""
    import argparse

    from foundation.config import settings
    from foundation.lock import warehouse_lock

    parser = argparse.ArgumentParser(prog="python -m publishing.build")
    parser.add_argument("command", choices=["docs"])
    parser.parse_args(argv)
    s = settings()
    with warehouse_lock(s, owner="dbt-docs"):
        index = generate_docs(s)
    print(f"dbt docs: {index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
