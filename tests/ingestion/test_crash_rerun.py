"""Crash and rerun: a nightly run is SIGKILLed at a chosen point (between the archive, ledger and raw writes),
then a normal run with a new run id follows; the warehouse must end in the same state as one uninterrupted run
over an identical landing zone (same ledger, quarantine and raw rows, nothing twice, every archived copy intact).

The kills are real: each crashing run is a child process that kills itself with SIGKILL, so nothing (no
`finally`, no rollback, no `con.close()`) runs after the chosen point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from foundation.config import PROJECT_ROOT, Settings
from tests.helpers.landing import HEADER, land, row, run
from tests.helpers.soundness import assert_sound
from tests.helpers.warehouse import warehouse_rows

T0 = 1_600_000_000

# Runs the ingestion stages (discover to load, as the DAG does) in a fresh interpreter and SIGKILLs it at
# KILL_POINT (argv[1]) with run id argv[2].
CHILD = r"""
import os, signal, sys
from ingestion import stages
from ingestion.ledger import Ledger
from foundation.workdir import WorkDir
from foundation.config import settings
from pipeline.stages import run_stage, select

point, run_id = sys.argv[1], sys.argv[2]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def kill_on_call(owner, name, n, before):
    original, calls = getattr(owner, name), [0]
    def wrapper(*args, **kwargs):
        calls[0] += 1
        if before and calls[0] == n:
            die()
        result = original(*args, **kwargs)
        if not before and calls[0] == n:
            die()
        return result
    setattr(owner, name, wrapper)

if point == "mid_discover":  # the 1st file archived, the 2nd not, no manifest written
    kill_on_call(stages, "archive", 2, before=True)
elif point.startswith("load_insert_raw_"):  # inside the load transaction, after the n-th raw insert
    kill_on_call(Ledger, "insert_raw", int(point.rsplit("_", 1)[1]), before=False)
elif point == "load_committed":  # committed, but the work folder is still there
    WorkDir.remove = lambda self: die()

s = settings()
for stage in select(last="load"):
    run_stage(stage, s, run_id)
    if point == f"after_{stage.name}":
        die()
sys.exit(3)  # not killed: the kill point was never reached
"""

KILL_POINTS = [
    "mid_discover",
    "after_discover",  # files archived, nothing in the ledger
    "after_read",
    "after_check",
    # inside the load transaction, after every ledger row, the quarantined row, the correction's superseding
    # and the one batched insert of the buildings' accepted rows
    "load_insert_raw_1",
    "load_committed",  # after the commit, before the work folder is removed
]


def make_settings(root: Path) -> Settings:
    return Settings(landing_dir=root / "landing", data_dir=root / "data", max_file_bytes=200 * 1024 * 1024)


def make_landing(s: Settings) -> None:
    """Five files in received order: 330402, 330424, 330411 (no rows), 999999 (rejected before loading) and
    the correction of 330402, which supersedes it in the same run. The load inserts the accepted rows of all
    buildings files with one insert_raw call."""
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
         + row("330402", "2020-03", "P1", "2#", "2020-03-06", "2000", "2500"), T0)  # 2nd row: prefab > total
    land(s, "330424_2020-03.csv", HEADER + row("330424", "2020-03", "P9", "1#", "2020-03-09", "500", "100"), T0 + 1,
         encoding="gb18030")
    land(s, "330411_2020-03.csv", HEADER, T0 + 2)  # zero report
    land(s, "999999_2020-03.csv", HEADER, T0 + 3)  # placeholder unit code: rejected
    land(s, "330402_2020-03_更正.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "700")
         + row("330402", "2020-03", "P1", "3#", "2020-03-07", "800", "400"), T0 + 4)  # correction


def state(s: Settings) -> dict[str, list[tuple]]:
    """What an uninterrupted run and a crashed-then-rerun one must agree on (no run ids, no load timestamps)."""
    raw_cols = [r[0] for r in warehouse_rows(s, "select column_name from information_schema.columns where "
                                                "table_schema = 'raw' and table_name = 'buildings' "
                                                "order by ordinal_position")
                if r[0] not in ("received_at", "loaded_at", "run_id")]
    return {
        "ledger": warehouse_rows(s, "select file_name, kind, unit_code, period, sha256, size_bytes, received_at, "
                                    "status, reason, rows_received, rows_loaded, rows_quarantined, rows_ignored "
                                    "from dq.submission_ledger order by file_name"),
        "history": warehouse_rows(s, "select f.file_name, l.status, l.reason from dq.submission_status_log l "
                                     "join dq.submission_files f using (submission_id) order by all"),
        "quarantine": warehouse_rows(s, "select l.file_name, q.row_number, q.raw, q.reasons, q.status "
                                        "from dq.quarantined_rows q join dq.submission_ledger l using (submission_id) "
                                        "order by all"),
        "raw.buildings": warehouse_rows(s, f"select {', '.join(raw_cols)} from raw.buildings order by all"),
        "archive": sorted(p.relative_to(s.archive_dir).as_posix() for p in s.archive_dir.rglob("*") if p.is_file()),
    }




@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, list[tuple]]:
    s = make_settings(tmp_path_factory.mktemp("reference"))
    make_landing(s)
    run(s, "reference")
    assert_sound(s)
    got = state(s)
    assert {r[0]: r[7] for r in got["ledger"]} == {
        "330402_2020-03.csv": "superseded", "330402_2020-03_更正.csv": "loaded", "330424_2020-03.csv": "loaded",
        "330411_2020-03.csv": "loaded", "999999_2020-03.csv": "rejected"}
    assert len(got["quarantine"]) == 1 and len(got["raw.buildings"]) == 3
    return got


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_run_then_rerun_ends_like_an_uninterrupted_run(point, reference, tmp_path):
    s = make_settings(tmp_path)
    make_landing(s)
    env = os.environ | {"PREFAB_LANDING_DIR": str(s.landing_dir), "PREFAB_DATA_DIR": str(s.data_dir),
                        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                                    os.environ.get("PYTHONPATH")]))}
    child = subprocess.run([sys.executable, "-c", CHILD, point, "crashed"], cwd=PROJECT_ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, (
        f"the child was not killed at {point} (exit {child.returncode}):\n{child.stderr[-3000:]}")

    # What the crash left: the archive is written first, the ledger only by a committed load.
    archived = [p for p in s.archive_dir.rglob("*") if p.is_file() and not p.name.startswith(".")] \
        if s.archive_dir.exists() else []  # the copies, not their landing manifests (`ingestion.recover`)
    assert len(archived) == (1 if point == "mid_discover" else 5)
    files = warehouse_rows(s, "select count(*) from dq.submission_files")[0][0] if s.warehouse_path.exists() else 0
    assert files == (5 if point == "load_committed" else 0), "a killed load left part of its transaction behind"
    if point == "load_committed":
        assert state(s) == reference and (s.data_dir / "work" / "crashed").is_dir()

    result = run(s, "rerun")

    if point == "load_committed":
        assert result["discover"]["new"] == 0  # everything was accounted for before the crash
    assert_sound(s)
    got = state(s)
    for part, expected in reference.items():
        assert got[part] == expected, f"{part} differs from the uninterrupted run after a kill at {point}"
