"""No work when nothing changed (`publishing.unchanged`): a run with no new file, the same dbt project and gate
rules and no new steward decision skips dbt, the gate and publication; anything else that changed builds again.
Skipped is observed from outside the code under test: dbt's results file is not rewritten, the published file's
bytes are unchanged and no publication row is added."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from pipeline.stages import Skipped
from publishing.unchanged import inputs_fingerprint
from steward.decisions import record_review
from tests.helpers.e2e import query
from tests.helpers.landing import HEADER, land, row
from tests.helpers.nightly import nightly_without_airflow

pytestmark = pytest.mark.slow


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _results_stamp(s) -> int:
    return (s.data_dir / "dbt" / "target" / "run_results.json").stat().st_mtime_ns


def _clock(monkeypatch, now: datetime):
    """Sets the clock `publishing.unchanged` reads to `now` (UTC); returns the setter to move it again."""
    import publishing.unchanged

    clock = {"now": now}

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return clock["now"].astimezone(tz)

    monkeypatch.setattr(publishing.unchanged, "datetime", Clock)
    return lambda moved: clock.update(now=moved)


def _publications(s) -> list[str]:
    return list(query(s.reporting_path, "select run_id from publication order by publication_id")["run_id"])


def test_nothing_new_skips_build_gate_and_publication_and_any_change_builds_again(data_env, monkeypatch):
    s = data_env
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600"), 1000)
    assert nightly_without_airflow(s, "r1").published

    # Nothing new: dbt never starts (its results file is not rewritten), the published file is untouched.
    published, stamp = _sha(s.reporting_path), _results_stamp(s)
    second = nightly_without_airflow(s, "r2")
    assert isinstance(second, Skipped) and "r1" in second.reason
    assert _results_stamp(s) == stamp and _sha(s.reporting_path) == published
    gate_rows = "select count(*) as n from dq.check_results where run_id = 'r2' and stage = 'gate'"
    assert query(s.warehouse_path, gate_rows)["n"][0] == 0
    from pipeline.summary import summary_text

    text = summary_text(s, "r2")
    assert "跳过 dbt、质量门禁和发布" in text and "Gate: skipped" in text
    assert "跳过" not in summary_text(s, "r1")

    # A steward's decision is an input: the next run builds and gates again (identical data: not republished).
    record_review(s, "wang", "submission", query(s.warehouse_path, "select submission_id from dq.submission_files")
                  ["submission_id"][0], "request_resubmission", "please send the March file again")
    third = nightly_without_airflow(s, "r3")
    assert not isinstance(third, Skipped) and not third.published
    assert _results_stamp(s) != stamp
    assert isinstance(nightly_without_airflow(s, "r4"), Skipped)

    # The published file lost (or replaced by hand): its content is not the candidate's, so it is published again.
    s.reporting_path.unlink()
    fifth = nightly_without_airflow(s, "r5")
    assert not isinstance(fifth, Skipped) and fifth.published
    assert _publications(s)[-1] == "r5"

    # A new file: built, gated and published.
    land(s, "330411_2020-04.csv", HEADER + row("330411", "2020-04", "P2", "1#", "2020-04-08", "800", "400"), 2000)
    sixth = nightly_without_airflow(s, "r6")
    assert not isinstance(sixth, Skipped) and sixth.published
    assert isinstance(nightly_without_airflow(s, "r7"), Skipped)

    # Nothing new, but the first night of the next month in Shanghai: built and gated again (the grid of
    # missing submissions gains a month; dbt itself still reads today's date here: nothing to republish).
    shanghai = ZoneInfo("Asia/Shanghai")
    today = datetime.now(shanghai)
    next_month = datetime(today.year + today.month // 12, today.month % 12 + 1, 1, 2, 0, tzinfo=shanghai)
    _clock(monkeypatch, next_month.astimezone(UTC))
    stamp = _results_stamp(s)
    eighth = nightly_without_airflow(s, "r8")
    assert not isinstance(eighth, Skipped) and not eighth.published, eighth
    assert _results_stamp(s) != stamp
    assert isinstance(nightly_without_airflow(s, "r9"), Skipped)


def test_a_failed_gate_is_never_skipped(data_env, monkeypatch):
    """A blocked gate stays blocked, run after run, until something changes: the failure is never hidden as a
    skip."""
    import publishing.build
    from publishing.gate import GateBlocked
    from tests.helpers.gate import corrupt_candidate

    s = data_env
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600"), 1000)
    original = publishing.build.build

    def broken_build(settings, full_refresh=False):
        result = original(settings, full_refresh)
        corrupt_candidate(settings, "330402")
        return result

    monkeypatch.setattr(publishing.build, "build", broken_build)
    for run_id in ("r1", "r2"):
        with pytest.raises(GateBlocked):
            nightly_without_airflow(s, run_id)
    assert not s.reporting_path.exists()


def test_fingerprint_follows_the_project_the_gate_rules_the_ledger_and_the_decisions(data_env, tmp_path, monkeypatch):
    """Without dbt: each input changes the fingerprint; nothing else (a gate result, a publication row) does."""
    from foundation.config import DBT_PROJECT_DIR, settings
    from foundation.db import connect_warehouse
    from foundation.schema import ensure_schema

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    monkeypatch.setenv("PREFAB_DBT_PROJECT_DIR", str(project))
    s = settings()
    with connect_warehouse(s) as con:
        ensure_schema(con)
    base = inputs_fingerprint(s)
    assert inputs_fingerprint(s) == base

    with connect_warehouse(s) as con:  # what the gate and publication write are outputs, not inputs
        con.execute("insert into dq.check_results (run_id, check_name, stage, severity, status, checked_at) "
                    "values ('r1', 'x', 'gate', 'error', 'pass', now())")
        con.execute("insert into dq.publication_log (publication_id, run_id, published_at, submissions_included, "
                    "checks_passed, checks_warned, content_checksum) values (1, 'r1', now(), 0, 1, 0, 'c')")
    assert inputs_fingerprint(s) == base

    model = project / "models" / "marts" / "fct_building.sql"
    model.write_text(model.read_text(encoding="utf-8") + "\n-- a comment\n", encoding="utf-8")
    changed_project = inputs_fingerprint(s)
    assert changed_project != base

    # What main's publication takes from the project: the dim_* labels (seeds) and the comments (model docs).
    seed = project / "seeds" / "building_uses.csv"
    seed.write_text(seed.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    with_label = inputs_fingerprint(s)
    assert with_label != changed_project
    docs = project / "models" / "marts" / "_marts__models.yml"
    docs.write_text(docs.read_text(encoding="utf-8") + "\n# a described column\n", encoding="utf-8")
    assert inputs_fingerprint(s) != with_label
    changed_project = inputs_fingerprint(s)

    with connect_warehouse(s) as con:
        con.execute("insert into dq.steward_reviews values ('v1', now(), 'wang', 'check', 'gx.x', 'waive', 'ok')")
    with_decision = inputs_fingerprint(s)
    assert with_decision != changed_project

    with connect_warehouse(s) as con:
        con.execute("insert into dq.submission_status_log values ('s1', 'rejected', 'bad name', 'r2', now())")
    with_status = inputs_fingerprint(s)
    assert with_status != with_decision

    # The row-level tables on their own, with no ledger or review row beside them: a quarantined row added, then
    # rewritten in place (same row count), and an ignored row each build again.
    with connect_warehouse(s) as con:
        con.execute("insert into dq.quarantine (submission_id, row_number, raw, reasons, run_id, quarantined_at) "
                    "values ('s1', 3, '{}', ['total_floor_area_m2: empty'], 'r1', now())")
    with_quarantined = inputs_fingerprint(s)
    assert with_quarantined != with_status
    with connect_warehouse(s) as con:
        con.execute("update dq.quarantine set reasons = ['start_date: after the period'] where row_number = 3")
    rewritten = inputs_fingerprint(s)
    assert rewritten != with_quarantined
    with connect_warehouse(s) as con:
        con.execute("insert into dq.ignored_rows values ('s1', 9, 'totals', '合计 | 1000', 'r1', now())")
    assert inputs_fingerprint(s) != rewritten

    import publishing.unchanged

    # The month dbt takes as today (Asia/Shanghai): the last evening of December and the first of January are
    # 2 hours apart in UTC but a month apart for the submission-status grid; two days of one month are alike.
    at = _clock(monkeypatch, datetime(2026, 12, 1, 0, 30, tzinfo=UTC))  # 08:30 on 1 December in Shanghai
    first_of_december = inputs_fingerprint(s)
    at(datetime(2026, 12, 31, 15, 59, tzinfo=UTC))  # 23:59 on 31 December in Shanghai
    assert inputs_fingerprint(s) == first_of_december
    at(datetime(2026, 12, 31, 16, 0, tzinfo=UTC))  # 00:00 on 1 January in Shanghai, still 31 December in UTC
    assert inputs_fingerprint(s) != first_of_december

    rules = tmp_path / "gate_rules.py"
    rules.write_text("RULES = ()\n", encoding="utf-8")
    before = inputs_fingerprint(s)
    monkeypatch.setattr(publishing.unchanged, "PROJECT_ROOT", tmp_path)  # the gate's sources read from elsewhere
    monkeypatch.setattr(publishing.unchanged, "GATE_SOURCES", ("gate_rules.py",))
    one = inputs_fingerprint(s)
    rules.write_text("RULES = ('another rule',)\n", encoding="utf-8")
    assert inputs_fingerprint(s) != one != before


def test_a_row_decision_since_the_last_build_builds_again(data_env):
    """A steward's decision on a quarantined row (waived, then reopened) is an input: the night after it builds
    and gates again instead of skipping; the night after that, with nothing new, skips."""
    s = data_env
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
         + row("330402", "2020-03", "P1", "2#", "2020-03-06", "0", "0"), 1000)  # row 3: total area not > 0
    assert nightly_without_airflow(s, "r1").published
    quarantined = query(s.warehouse_path, "select submission_id, row_number, status from dq.quarantined_rows")
    assert list(zip(quarantined["row_number"], quarantined["status"], strict=True)) == [(3, "open")]
    sid = quarantined["submission_id"][0]
    assert isinstance(nightly_without_airflow(s, "r2"), Skipped)

    for run_id, decision, status in (("r3", "waive", "waived"), ("r5", "reopen", "open")):
        stamp = _results_stamp(s)
        record_review(s, "wang", "quarantined_row", f"{sid}:3", decision, "checked by phone with the county")
        assert query(s.warehouse_path, "select status from dq.quarantined_rows")["status"][0] == status
        night = nightly_without_airflow(s, run_id)
        assert not isinstance(night, Skipped) and not night.published, night  # same data: not republished
        assert _results_stamp(s) != stamp
        gate_rows = f"select count(*) as n from dq.check_results where run_id = '{run_id}' and stage = 'gate'"
        assert query(s.warehouse_path, gate_rows)["n"][0] > 0
        assert isinstance(nightly_without_airflow(s, f"{run_id}+1"), Skipped)
    # dbt's fixed cost once a night: each later build reused the manifest the first one saved (partial parsing);
    # the first parsed in full or from the parse another data folder shared (publishing/parse_seed.py)
    builds = (s.data_dir / "dbt" / "logs" / "dbt.log").read_text(encoding="utf-8").split("Running with dbt=")[1:]
    assert len(builds) == 3
    assert all("Partial parsing enabled, no changes found, skipping parsing" in b for b in builds[1:])


def test_the_gates_modules_are_its_sources_and_every_project_module_they_import(tmp_path, monkeypatch):
    """`gate_modules` follows imports at the top and inside functions, `import a.b` and `from a import b`, to
    files of the project only; a module nothing imports is not in it. The real gate's list holds modules it
    imports beyond its own files (the journal, retention, the connection), which `inputs_fingerprint` hashes."""
    from publishing.unchanged import GATE_SOURCES, gate_modules

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "gate.py").write_text("import json\nfrom pkg import helper\n\ndef f():\n    import pkg.lazy\n",
                                      encoding="utf-8")
    (tmp_path / "pkg" / "helper.py").write_text("from pkg.deep import X\n", encoding="utf-8")
    (tmp_path / "pkg" / "deep.py").write_text("X = 1\n", encoding="utf-8")
    (tmp_path / "pkg" / "lazy.py").write_text("", encoding="utf-8")
    (tmp_path / "pkg" / "unused.py").write_text("", encoding="utf-8")
    assert gate_modules(tmp_path, ("gate.py",)) == ["gate.py", "pkg/__init__.py", "pkg/deep.py", "pkg/helper.py",
                                                    "pkg/lazy.py"]

    from foundation.config import PROJECT_ROOT

    real = gate_modules(PROJECT_ROOT, GATE_SOURCES)
    assert set(GATE_SOURCES) <= set(real)
    assert {"foundation/journal.py", "publishing/retention.py", "foundation/db.py"} <= set(real)
