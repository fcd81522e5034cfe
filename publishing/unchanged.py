"""No work when nothing changed: the dbt_build stage skips (with dbt, the gate and publication after it)
when the build's inputs are those of the last build whose gate passed and whose candidate is what analysts
read.

The inputs are fingerprinted (`inputs_fingerprint`): the dbt project (`project_fingerprint`:
models, macros, seeds, tests, settings, dbt's version), the gate's code and rules (`GATE_SOURCES` and the project
modules they import, `gate_modules`), the versions of Great Expectations and DuckDB, and the
warehouse's ledger and steward decisions (a row hash summed over each of `LEDGER_TABLES`: a new file,
received, rejected or loaded, a superseded submission, a recovered archive, a waiver, a row decision or a
reopened row each change it). The raw tables change with the ledger, in the load stage's transaction, and
with the accepted rows that load puts in or takes out (`dq.accepted_rows_loaded`, fingerprinted too).
Not in it: `dq.check_results` and `dq.publication_log`, which the gate and publication themselves write.
And the month the build takes as today (`as_of_month`): with no new file at all, the first night of a month
must still build, since the missing-submissions grid gains that month and `fct_submission_status` the month
now due and its newly overdue units; the day within the month changes no output.

A build records its fingerprint (`record_build`); a gate that passes on that build records it as passed
(`record_gate_passed`). The next run skips (`skip_if_unchanged` raises `foundation.skip.NothingToDo`) only
when its fingerprint is the passed one AND the live `reporting.duckdb`'s latest publication holds the
candidate's content checksum and the comments `publishing.publish` would give it (the dbt docs of the
models, sources and `dim_*` label seeds are project files, in the fingerprint; the file's comments are compared
too, so a changed `publishing/describe.py` publishes again) AND, with `PREFAB_REPORTING_POSTGRES_URL` set,
the PostgreSQL target's views show that file's publication: a publication that died after its gate, a file
replaced by hand, or a PostgreSQL target left behind (server down at the last publish, a new target URL, views
dropped by hand) is published or completed again (`publishing.publish.publish`: the file is found up to date
and `complete_postgres` loads the target; an unreachable server fails the run, visibly, as on main). A gate
that failed is never skipped: the run fails again, visibly, until the data or a steward's decision changes.
The records are kept in `<data dir>/dbt/last_inputs.json`, written under the warehouse lock (both stages hold it).
"""

from __future__ import annotations

import ast
import hashlib
from datetime import datetime
from importlib import metadata
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import psycopg

from foundation.config import PROJECT_ROOT, Settings
from foundation.db import DUCKDB_CONFIG, connect_warehouse
from foundation.skip import NothingToDo
from foundation.workdir import read_json_file, write_json_file
from publishing.postgres import connect, file_publication, live_publication
from publishing.publish import CANDIDATE_SCHEMA, REPORTING_TABLES, content_checksum, expected_comments, file_comments

PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests")
# What the gate evaluates with, besides the dbt project: a change to any of them, or to a project module they
# import (directly or not, at the top or inside a function: `gate_modules`), re-runs the gate; so does another
# version of Great Expectations (its validator) or DuckDB (which evaluates the gate's frames).
GATE_SOURCES = ("expectations/gate_rules.py", "expectations/gx_context.py", "expectations/results.py",
                "publishing/gate.py", "publishing/collapse.py", "publishing/build.py")
GATE_PACKAGES = ("great-expectations", "duckdb")
# The warehouse's part: every table whose rows say what data there is and what stewards decided. The row-level
# tables (`dq.quarantine`, `dq.ignored_rows`) are in it too, not only the files' counts: a row decision on them
# is recorded in `dq.steward_reviews`, but whatever rewrites a quarantined or ignored row (a decision, a restore,
# a fix by hand) without a new ledger row must still make the next night build instead of skipping.
LEDGER_TABLES = ("dq.submission_files", "dq.submission_status_log", "dq.steward_reviews", "dq.quarantine",
                 "dq.ignored_rows")
# The zone of dbt's as_of_date() (dbt_project/macros/as_of_date.sql), which names it whatever PREFAB_TIMEZONE says.
AS_OF_TIMEZONE = ZoneInfo("Asia/Shanghai")


def project_fingerprint(project: Path) -> str:
    """sha256 over the dbt project's own files (paths and contents) and the dbt versions: what a build's
    models were made with."""
    digest = hashlib.sha256()
    for package in ("dbt-core", "dbt-duckdb"):
        digest.update(f"{package}=={metadata.version(package)}\0".encode())
    for name in PROJECT_FILES:
        root = project / name
        paths = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in paths:
            digest.update(path.relative_to(project).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _state_path(settings: Settings) -> Path:
    return settings.data_dir / "dbt" / "last_inputs.json"


def read_state(settings: Settings) -> dict:
    return read_json_file(_state_path(settings), {})


def _write_state(settings: Settings, state: dict) -> None:
    write_json_file(_state_path(settings), state, indent=2)


def as_of_month() -> str:
    """The month of the day a build takes as today (dbt's as_of_date() with var as_of_date null, as the nightly
    build runs): what the date-dependent models depend on. The grid of fct_submission_status runs to the month
    before it, and a month M is overdue once today is past its due date, the last day of M + 1, that is from
    the first day of M + 2 on: a function of the month alone. (A project that sets var as_of_date fixes the
    day in dbt_project.yml, part of the project fingerprint; the month then costs one build a month.)"""
    return datetime.now(AS_OF_TIMEZONE).strftime("%Y-%m")


def _imported(path: Path, root: Path) -> set[str]:
    """The project files (relative to `root`) that the module at `path` imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:  # from p import m: m a module?
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            base = name.replace(".", "/")
            for candidate in (f"{base}.py", f"{base}/__init__.py"):
                if (root / candidate).is_file():
                    found.add(candidate)
    return found


def gate_modules(root: Path, sources: tuple[str, ...]) -> list[str]:
    """`sources` and every project module they import, transitively (relative paths under `root`, sorted)."""
    seen, todo = set(), list(sources)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if (root / name).is_file() and name.endswith(".py"):
            todo.extend(_imported(root / name, root) - seen)
    return sorted(seen)


def inputs_fingerprint(settings: Settings) -> str:
    """sha256 of what a build and its gate are made from: the dbt project, the gate's sources, the ledger and
    the steward decisions (one query per table, a few milliseconds at national scale), and today's month."""
    digest = hashlib.sha256(project_fingerprint(settings.dbt_project_dir).encode())
    digest.update(f"as_of_month:{as_of_month()}\0".encode())
    for package in GATE_PACKAGES:
        digest.update(f"{package}=={metadata.version(package)}\0".encode())
    for name in gate_modules(PROJECT_ROOT, GATE_SOURCES):
        path = PROJECT_ROOT / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    with connect_warehouse(settings, read_only=True) as con:
        for table in LEDGER_TABLES:
            count, total = con.execute(f"select count(*), coalesce(sum(hash(t)), 0) from {table} as t").fetchone()
            digest.update(f"{table}:{count}:{total}\0".encode())
        # the accepted rows the raw tables hold: a load puts them in (or takes them out) after the decision,
        # which may have been taken after the last build, and the ledger does not change with them
        count, total = con.execute("select count(*), coalesce(sum(hash(t)), 0) from dq.accepted_rows_loaded as t"
                                   ).fetchone()
        digest.update(f"accepted:{count}:{total}\0".encode())
    return digest.hexdigest()


def _published(path: Path) -> tuple[str | None, dict]:
    """The content checksum the live reporting file's latest publication recorded and the file's comments
    ((None, {}): no file)."""
    if not path.exists():
        return None, {}
    con = duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG)
    try:
        row = con.execute("select content_checksum from main.publication order by publication_id desc limit 1"
                          ).fetchone()
        comments = file_comments(con, con.execute("select current_database()").fetchone()[0])
    finally:
        con.close()
    return (row[0] if row else None), comments


def _file_is_candidate(settings: Settings) -> bool:
    """Whether the published file holds the candidate, with the comments a publication would give it now
    (the same test as `publishing.publish.publish_file`'s "nothing to publish")."""
    checksum, comments = _published(settings.reporting_path)
    candidate = _candidate_checksum(settings)
    if checksum is None or candidate is None or checksum != candidate:
        return False
    expected = expected_comments(settings)
    return all(text == expected.get(k) for k, text in comments.items())


def postgres_is_current(settings: Settings) -> bool:
    """Whether the configured PostgreSQL target (none configured: True) shows the published file's publication.
    Asked of the server itself, not of `dq.publication_targets`: views dropped by hand or a new target URL are
    seen too. An unreachable server is not current: the run goes on to publish, whose `complete_postgres`
    fails with the reason and the alert, as on a run with new data."""
    url = settings.reporting_postgres_url
    if not url:
        return True
    try:
        with connect(url) as conn:
            return live_publication(conn) == file_publication(settings.reporting_path)
    except psycopg.Error:
        return False


def _candidate_checksum(settings: Settings) -> str | None:
    """The candidate marts' checksum; None when the warehouse holds none (rebuilt from the journal and the
    archive after it was lost or corrupt: the raw tables and decisions are back, the marts are not, so the
    night must build them even though its inputs are those of the last build)."""
    with connect_warehouse(settings, read_only=True) as con:
        present = con.execute(
            "select count(*) from duckdb_tables() where schema_name = ? and list_contains(?, table_name)",
            [CANDIDATE_SCHEMA, list(REPORTING_TABLES)]).fetchone()[0]
        if present < len(REPORTING_TABLES):
            return None
        return content_checksum(con, CANDIDATE_SCHEMA)


def skip_if_unchanged(settings: Settings, run_id: str) -> str:
    """The build's input fingerprint; raises `NothingToDo` (recording the skip for the summary) when nothing
    changed since the last build whose gate passed and whose candidate is published, to the file and to the
    PostgreSQL target if one is configured."""
    fingerprint = inputs_fingerprint(settings)
    state = read_state(settings)
    state["last_run_id"] = run_id
    passed = state.get("gate_passed") or {}
    if passed.get("inputs") == fingerprint and _file_is_candidate(settings) and postgres_is_current(settings):
        state["skipped"] = {"run_id": run_id, "since_run_id": passed.get("run_id")}
        _write_state(settings, state)
        raise NothingToDo(skip_reason(state["skipped"]))
    _write_state(settings, state)
    return fingerprint


def skip_reason(skipped: dict) -> str:
    """The sentence the task log and the summary print for a skipped build (Chinese first)."""
    since = skipped.get("since_run_id")
    return (f"自上次构建（运行 {since}，同一月份）以来没有新文件，dbt 项目、门禁规则和数据管理员的决定均未改变："
            f"跳过 dbt、质量门禁和发布，已发布的数据保持不变。 / Nothing changed since the build of run {since} "
            "(in the same month; no new file; the dbt project, the gate's rules and the stewards' decisions as "
            "they were): dbt, the gate and publication skipped; the published data stays as it is.")


def record_build(settings: Settings, run_id: str, fingerprint: str) -> None:
    """After a build: its inputs; a gate passed on an earlier build no longer stands for the candidate."""
    state = read_state(settings)
    state.update(built={"run_id": run_id, "inputs": fingerprint}, gate_passed=None)
    _write_state(settings, state)


def record_gate_passed(settings: Settings, run_id: str) -> None:
    """After the gate passed for `run_id`: its build's inputs are passed, if that build was this run's and
    nothing changed since it (a steward's decision between the build and the gate makes the next run build)."""
    state = read_state(settings)
    built = state.get("built") or {}
    if built.get("run_id") == run_id and built.get("inputs") == inputs_fingerprint(settings):
        state["gate_passed"] = {"run_id": run_id, "inputs": built["inputs"]}
        _write_state(settings, state)


def skipped_in(settings: Settings, run_id: str | None) -> str | None:
    """The reason the build of `run_id` was skipped; None if it was not (or no run is named)."""
    skipped = read_state(settings).get("skipped") or {}
    return skip_reason(skipped) if run_id and skipped.get("run_id") == run_id else None


def last_run_id(settings: Settings) -> str | None:
    """The run whose dbt_build stage ran last (built or skipped)."""
    return read_state(settings).get("last_run_id")
