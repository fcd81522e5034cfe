"""Crash and rerun after ingestion: the nightly run is SIGKILLed inside dbt_build, gate or publish, then the
killed task is run again (as clearing it in Airflow does); the published reporting database and the
publication records must end exactly as after one uninterrupted run, with no publication recorded twice.

The kills are real: the task runs in a child process that is killed (or whose dbt subprocess is killed) at the
chosen point, so no `finally`, rollback or close runs after it. Ingestion kills are in test_crash_rerun.py.

Set-up, shared by every case: publication 1 from a first batch of files, then a second batch (a correction and
a new unit) loaded but not yet built; the reference is one uninterrupted dbt_build -> gate -> publish from there.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from foundation.config import PROJECT_ROOT, Settings
from foundation.lock import warehouse_lock
from pipeline.stages import run_stage, run_stages
from publishing.build import build, last_build
from publishing.publish import content_checksum
from tests.helpers.landing import HEADER, land, row, run
from tests.helpers.soundness import assert_sound

pytestmark = pytest.mark.slow

# Runs one task (as its Airflow task process would: its stage, under the warehouse lock) and kills it at
# KILL_POINT (argv[1]); run id argv[2].
CHILD = r"""
import os, signal, subprocess, sys, types
from publishing import gate, publish
from publishing import build as dbt
from foundation.config import settings
from pipeline.stages import run_stage

point, run_id = sys.argv[1], sys.argv[2]
s = settings()

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def run_dbt_then_kill(cmd, capture_output, text, **kwargs):
    # dbt as publishing.build runs it, its output read line by line: after the 3rd table model is built, kill
    # dbt alone (as the OOM killer might) or this whole task process.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=text, **kwargs)
    (s.data_dir / "dbt.pid").write_text(str(proc.pid))
    lines, built = [], 0
    for line in proc.stdout:
        lines.append(line)
        if "created sql table model" in line:
            built += 1
            if built == 3:
                proc.kill() if point == "dbt_process_killed" else die()
    proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, "".join(lines), "")

if point in ("dbt_process_killed", "task_killed_mid_build"):
    dbt.subprocess = types.SimpleNamespace(run=run_dbt_then_kill, CompletedProcess=subprocess.CompletedProcess)
    task = "dbt_build"
elif point == "gate_mid_results":  # some of this run's check results written, not all
    record, calls = gate.record_check, [0]
    def record_then_die(*args):
        record(*args)
        calls[0] += 1
        if calls[0] == 3:
            die()
    gate.record_check = record_then_die
    task = "gate"
else:  # publish_before_rename: the new file built and closed; publish_after_rename: swapped, not yet logged
    def replace(src, dst):
        if point == "publish_before_rename":
            die()
        os.replace(src, dst)
        die()
    publish.os = types.SimpleNamespace(getpid=os.getpid, replace=replace)
    task = "publish"

run_stage(task, s, run_id)
sys.exit(3)  # not killed: the kill point was never reached
"""

KILL_POINTS = {  # kill point -> the task that is run again
    "dbt_process_killed": "dbt_build",
    "task_killed_mid_build": "dbt_build",
    "gate_mid_results": "gate",
    "publish_before_rename": "publish",
    "publish_after_rename": "publish",
}
PUBLICATION_COLUMNS = ("publication_id, data_as_of, submissions_included, checks_passed, checks_warned, "
                       "content_checksum")


def make_settings(root: Path) -> Settings:
    return Settings(landing_dir=root / "landing", data_dir=root / "data", max_file_bytes=200 * 1024 * 1024)


def run_tasks(s: Settings, run_id: str, first: str = "dbt_build"):
    """The DAG's stages from `first` to publish (each under the warehouse lock, as the DAG runs them); returns
    the publication."""
    records = run_stages(s, run_id, first=first)
    assert "dbt_build" not in records or records["dbt_build"].returncode == 0
    return records["publish"]


def query(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def state(s: Settings) -> dict:
    """What an uninterrupted run and a killed-then-rerun one must agree on (no run ids, no timestamps)."""
    con = duckdb.connect(str(s.reporting_path), read_only=True)
    try:
        checksum = content_checksum(con, "main")
        published = con.execute(f"select {PUBLICATION_COLUMNS} from main.publication order by 1").fetchall()
    finally:
        con.close()
    return {"reporting tables": checksum, "reporting.publication": published,
            "dq.publication_log": query(s.warehouse_path,
                                        f"select {PUBLICATION_COLUMNS} from dq.publication_log order by 1")}


def assert_no_duplicates(s: Settings) -> None:
    assert_sound(s)  # ledger, quarantine and raw rows: no duplicates, archived copies intact
    for sql in ("select content_checksum, count(*) from dq.publication_log group by all having count(*) > 1",
                "select run_id, check_name, count(*) from dq.check_results group by all having count(*) > 1"):
        assert query(s.warehouse_path, sql) == []
    left = sorted(p.name for p in s.data_dir.iterdir() if p.name.startswith(".reporting") or p.suffix == ".wal")
    assert left == [], f"leftovers beside the published file: {left}"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Settings:
    """Publication 1, then a second batch loaded but not built: where every case and the reference start."""
    s = make_settings(tmp_path_factory.mktemp("loaded"))
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600"), 1000)
    land(s, "330424_2020-03.csv", HEADER + row("330424", "2020-03", "P9", "1#", "2020-03-09", "500", "100"), 1001)
    run(s, "first")
    assert run_tasks(s, "first").publication_id == 1
    land(s, "330402_2020-03_更正.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "700")
         + row("330402", "2020-03", "P1", "3#", "2020-03-07", "800", "400"), 2000)
    land(s, "330411_2020-04.csv", HEADER + row("330411", "2020-04", "P5", "1#", "2020-04-02", "900", "450"), 2001)
    run(s, "second")
    return s


@pytest.fixture(scope="module")
def built(loaded, tmp_path_factory) -> Settings:
    """`loaded` after the reference run's dbt_build: where the gate and publish cases start."""
    s = copy(loaded, tmp_path_factory.mktemp("built"))
    with warehouse_lock(s, owner="reference"):
        assert build(s).returncode == 0
    return s


@pytest.fixture(scope="module")
def reference(built, tmp_path_factory) -> dict:
    """The uninterrupted run: dbt_build (in `built`), gate, publish."""
    s = copy(built, tmp_path_factory.mktemp("reference"))
    pub = run_tasks(s, "reference", "gate")
    assert pub.published and pub.publication_id == 2
    assert_no_duplicates(s)
    got = state(s)
    assert [r[0] for r in got["dq.publication_log"]] == [1, 2]
    return got


def copy(s: Settings, root: Path) -> Settings:
    shutil.copytree(s.data_dir, root / "data")
    return replace(s, data_dir=root / "data")


def wait_until_gone(pid: int, warehouse: Path, seconds: float = 60) -> bool:
    """True once `pid` no longer runs and its file lock on `warehouse` is released; a bounded wait for the
    kernel, not a timing check. (A killed multi-threaded process shows as a zombie while its other threads are
    still exiting, and its files, with DuckDB's lock, are closed only when the last one has.)"""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            gone = "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            gone = True
        if gone:
            try:
                duckdb.connect(str(warehouse), read_only=True).close()
                return True
            except duckdb.IOException:
                pass
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_task_then_rerun_publishes_as_an_uninterrupted_run(point, loaded, built, reference, tmp_path):
    task = KILL_POINTS[point]
    s = copy(loaded if task == "dbt_build" else built, tmp_path)  # the tasks before the killed one succeeded
    before = state(s)
    if task == "publish":
        run_stage("gate", s, "crashed")
    env = os.environ | {"PREFAB_LANDING_DIR": str(s.landing_dir), "PREFAB_DATA_DIR": str(s.data_dir),
                        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.run([sys.executable, "-c", CHILD, point, "crashed"], cwd=PROJECT_ROOT, env=env,
                           capture_output=True, text=True, timeout=600)

    # What the kill left behind.
    if point == "dbt_process_killed":
        assert child.returncode == 1 and "dbt build could not run (exit -9)" in child.stderr, child.stderr[-3000:]
    else:
        assert child.returncode == -signal.SIGKILL, f"not killed at {point} (exit {child.returncode}):\n" \
                                                    f"{child.stderr[-3000:]}"
    if task == "dbt_build":
        dbt_pid = int((s.data_dir / "dbt.pid").read_text())
        assert wait_until_gone(dbt_pid, s.warehouse_path), \
            "dbt outlived the task that started it and still writes the warehouse"
        # The half-done build left no results for a gate to trust (and a dbt that outlived its task would
        # have finished the build and written them).
        with pytest.raises(RuntimeError, match="run dbt build first"):
            last_build(s)
    if point == "gate_mid_results":
        assert query(s.warehouse_path, "select count(*) from dq.check_results where run_id = 'crashed'") == [(0,)]
    if point == "publish_before_rename":
        assert state(s) == before  # nothing published
        assert [p.name for p in s.data_dir.glob(".reporting.duckdb.*.building")] != []
    if point == "publish_after_rename":
        got = state(s)
        assert got["reporting tables"] == reference["reporting tables"]
        assert got["dq.publication_log"] == before["dq.publication_log"]  # swapped, never logged
    if task != "publish":
        assert state(s) == before

    result = run_tasks(s, "crashed", task)  # clearing the killed task in Airflow reruns it in the same run

    assert result.published == (point != "publish_after_rename")  # that one was published before the kill
    assert_no_duplicates(s)
    got = state(s)
    for part, expected in reference.items():
        assert got[part] == expected, f"{part} differs from the uninterrupted run after a kill at {point}"
