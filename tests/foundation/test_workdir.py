"""Work folders of killed runs: kept for a retry of the same run, removed by a later run once stale."""

from __future__ import annotations

import os
import time

from expectations.check_stage import check
from foundation.workdir import WorkDir, prune
from ingestion import stages
from tests.helpers.landing import HEADER, land, ledger, row

DAY = 86400


def _age(path, days: float) -> None:
    """Make a run folder and everything in it look `days` old."""
    then = time.time() - days * DAY
    for p in [*path.iterdir(), path]:
        os.utime(p, (then, then))


def test_prune_removes_only_stale_folders_of_other_runs(data_env):
    s = data_env
    for run_id in ("old killed run", "recent killed run", "current"):
        WorkDir(s, run_id).write_json("manifest.json", [])
    _age(WorkDir(s, "old killed run").path, 8)
    _age(WorkDir(s, "recent killed run").path, 6)
    _age(WorkDir(s, "current").path, 30)  # the current run's folder is kept whatever its age
    (s.data_dir / "work" / "stray file").write_text("not a run folder")

    assert prune(s, "current") == ["old_killed_run"]
    assert sorted(p.name for p in (s.data_dir / "work").iterdir()) == ["current", "recent_killed_run", "stray file"]
    assert s.work_retention_days == 7


def test_a_folder_touched_recently_is_not_stale(data_env):
    s = data_env
    work = WorkDir(s, "killed")
    work.write_json("manifest.json", [])
    _age(work.path, 10)
    work.write_json("read.json", [])  # a retry of that run wrote to it just now
    assert prune(s, "another") == []
    assert prune(s, "another", now=time.time() + 8 * DAY) == ["killed"]


def test_retention_is_configurable(data_env, monkeypatch):
    from foundation.config import settings

    monkeypatch.setenv("PREFAB_WORK_RETENTION_DAYS", "1")
    s = settings()
    WorkDir(s, "killed").write_json("manifest.json", [])
    _age(WorkDir(s, "killed").path, 2)
    assert prune(s, "now") == ["killed"]


def test_a_later_run_prunes_a_stale_killed_run_and_a_retried_run_still_finishes(data_env):
    """Run A is killed after `read`; run B (another night) discovers while A's folder is fresh: A's folder
    survives and A, retried, finishes from it. Run C's discover, once A's leftovers are stale, removes them."""
    s = data_env
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600"),
         1_600_000_000)
    stages.discover(s, "A")
    stages.read(s, "A")  # ... and A is killed here
    stages.discover(s, "B")  # B finds the same file new (A never loaded it) and leaves A's folder alone
    assert WorkDir(s, "A").path.is_dir()
    check(s, "A")  # A's tasks are cleared and rerun: they need A's folder
    stages.load(s, "A")
    assert ledger(s)["330402_2020-03.csv"][0] == "loaded"
    assert not WorkDir(s, "A").path.exists()  # a load removes its own run's folder
    _age(WorkDir(s, "B").path, 8)  # B was killed after discover, long ago
    stages.discover(s, "C")
    assert not WorkDir(s, "B").path.exists()
    assert WorkDir(s, "C").path.is_dir()
