"""The stage list: every stage resolves to a `(settings, run_id)` function; selections; the gate counts that
the publication records."""

from __future__ import annotations

import inspect
from datetime import datetime

import duckdb
import pytest

from pipeline.stages import STAGES, select, stage
from publishing.publish import gate_counts


def test_every_stage_resolves_to_a_settings_run_id_function():
    for s in STAGES:
        assert list(inspect.signature(s.resolve()).parameters)[:2] == ["settings", "run_id"], s.name
    assert [s.name for s in STAGES if s.writes_warehouse] == ["discover", "load", "dbt_build", "gate", "publish"]


def test_select():
    assert [s.name for s in select(last="load")] == ["discover", "read", "check", "load"]
    assert [s.name for s in select("dbt_build")] == ["dbt_build", "gate", "publish"]
    with pytest.raises(KeyError, match="no stage 'nope'"):
        stage("nope")


def test_gate_counts_are_the_latest_gate_of_the_run():
    con = duckdb.connect()
    con.execute("create schema dq")
    con.execute("create table dq.check_results (run_id varchar, check_name varchar, stage varchar, status varchar, "
                "checked_at timestamp)")
    first, second = datetime(2026, 1, 1, 2), datetime(2026, 1, 1, 3)
    rows = [("r1", "a", "gate", "pass", first), ("r1", "b", "gate", "fail", first),
            ("r1", "a", "gate", "pass", second), ("r1", "b", "gate", "pass", second),
            ("r1", "c", "gate", "warn", second), ("r1", "d", "gate", "fail", second),
            ("r1", "x", "submission", "pass", second), ("r2", "a", "gate", "pass", second)]
    con.executemany("insert into dq.check_results values (?, ?, ?, ?, ?)", rows)
    assert gate_counts(con, "r1") == (2, 1)  # the second evaluation; a failed (waived) check counts in neither
    assert gate_counts(con, "none") == (0, 0)
