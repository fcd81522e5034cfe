"""A process outside the pipeline that holds `warehouse.duckdb` open (an operator's `duckdb -readonly` shell
left open) no longer fails the next writing stage at once: every writing stage waits for it, up to
PREFAB_WRITER_WAIT_SECONDS, and then fails naming the process and its command line."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from foundation.config import settings
from foundation.lock import WarehouseBusy
from pipeline.stages import STAGES, run_stage
from tests.helpers.landing import HEADER, land, ledger, row, run

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); " \
       "time.sleep(float(sys.argv[2]))"


def hold(path, seconds: float) -> subprocess.Popen:
    """A separate process holding the file open read-only for `seconds`, as `duckdb -readonly FILE` does."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    return proc


@pytest.fixture
def loaded(data_env):
    land(data_env, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600"),
         1_600_000_000)
    run(data_env, "r1")
    return data_env


def test_every_writing_stage_names_a_holder_that_stays(loaded, monkeypatch):
    monkeypatch.setenv("PREFAB_WRITER_WAIT_SECONDS", "1")
    holder = hold(loaded.warehouse_path, 120)
    try:
        for stage in [s for s in STAGES if s.writes_warehouse]:
            started = time.monotonic()
            with pytest.raises(WarehouseBusy) as raised:
                run_stage(stage, settings(), "r2")
            message = str(raised.value)
            assert f"process {holder.pid}" in message, (stage.name, message)
            assert "read_only=True" in message  # its command line, so the operator knows which session
            assert "warehouse.duckdb is held open" in message
            assert 1 <= time.monotonic() - started < 30, stage.name  # it waited, then gave up
    finally:
        holder.kill()
        holder.wait()


def test_a_holder_that_closes_in_time_is_waited_for(loaded, monkeypatch):
    monkeypatch.setenv("PREFAB_WRITER_WAIT_SECONDS", "60")
    land(loaded, "330411_2020-03.csv", HEADER + row("330411", "2020-03", "P2", "1#", "2020-03-06", "900", "500"),
         1_600_000_100)
    run_stage("discover", settings(), "r2")
    run_stage("read", settings(), "r2")
    run_stage("check", settings(), "r2")
    holder = hold(loaded.warehouse_path, 2)
    started = time.monotonic()
    try:
        result = run_stage("load", settings(), "r2")
    finally:
        holder.wait()
    assert time.monotonic() - started >= 1.5  # it waited for the holder to close the file
    assert result.loaded == 1
    assert ledger(loaded)["330411_2020-03.csv"][0] == "loaded"
