"""The ingestion corpus (tests/corpus/expected.yaml: bad, awkward and hostile county submissions, each with
its expected outcome) landed in one landing zone and run through the real DAG (`dag.test()`), twice.

Asserted per case against the warehouse: the ledger status and reason, the row counts, the exact
quarantined rows with the rules each breaks, warnings, and values in the raw tables. Asserted for every
file: conservation (rows received = loaded + quarantined + ignored), one ledger row per landed file, the
archived copy hashing to the ledger's sha256, nothing loaded twice; and a second run changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import string
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from foundation import bilingual
from ingestion.discover import sha256_of
from tests.corpus.build import Case, land_corpus, load_cases
from tests.helpers.e2e import pipeline_env, query, run_nightly

pytestmark = [pytest.mark.slow]

MAX_FILE_BYTES = 1_000_000
CASES = load_cases()
INGESTION_TASKS = ("discover", "read", "check", "load", "dbt_build")


def _snapshot(warehouse: Path) -> dict[str, list]:
    """What a second run over the same landing zone must leave unchanged."""
    tables = {
        "files": "select * exclude (processed_at) from dq.submission_files order by submission_id",
        "status": "select submission_id, status, reason, run_id from dq.submission_status_log order by all",
        "quarantine": "select submission_id, row_number, raw, reasons from dq.quarantine order by all",
        "ignored": "select submission_id, row_number, what, text from dq.ignored_rows order by all",
    }
    for kind in ("buildings", "production_bases", "targets"):
        tables[kind] = f"select * exclude (loaded_at) from raw.{kind} order by submission_id, row_number"
    return {name: query(warehouse, sql).astype(str).values.tolist() for name, sql in tables.items()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, airflow_db):
    from foundation.config import settings

    root = tmp_path_factory.mktemp("corpus")
    with pipeline_env(root, PREFAB_MAX_FILE_BYTES=str(MAX_FILE_BYTES)):
        land_corpus(root / "landing", root / "outside")
        first = run_nightly()
        s = settings()
        after_first = _snapshot(s.warehouse_path)
        second = run_nightly()
        yield {"settings": s, "first": first, "second": second, "after_first": after_first,
               "after_second": _snapshot(s.warehouse_path),
               "ledger": query(s.warehouse_path, "select * from dq.submission_ledger").set_index("landing_path")}


# ---------------------------------------------------------------------------------------------------------
# Reasons -> rule names


def _template_regex(template: str) -> str:
    out = ""
    for literal, field_name, _, _ in string.Formatter().parse(template):
        out += re.escape(literal)
        if field_name is not None:
            out += ".*"
    return out


def _rule_patterns(kind: str) -> dict[str, re.Pattern]:
    from expectations.rules import rules
    from foundation.template import fields

    patterns = {r.name: re.compile(_template_regex(r.reason), re.S) for r in rules(kind)}
    for f in fields(kind):
        patterns[f"{f.name}_readable"] = re.compile(rf"column '.*' \({f.name}\): .*", re.S)
    patterns["extra_cells"] = re.compile(r"row has more cells than the header.*", re.S)
    patterns["no_header"] = re.compile(r"cell in column \d+ has no header.*", re.S)
    return patterns


def rule_names(kind: str, reasons: list[str]) -> list[str]:
    """The rule each reason was written by (a reason that matches no rule, or several, is named as such)."""
    patterns = _rule_patterns(kind)
    names = []
    for reason in reasons:
        english = bilingual.part(reason, "en")  # the Chinese part says the same (foundation.bilingual)
        hits = [name for name, p in patterns.items() if p.fullmatch(english)]
        names.append(hits[0] if len(hits) == 1 else f"<{len(hits)} rules match: {reason}>")
    return sorted(names)


def test_rule_names_are_recognised_from_reasons():
    assert rule_names("buildings", ["总建筑面积 total_floor_area_m2 is -500; expected > 0",
                                    "column '开工日期' (start_date): '2020-02-30' is not a valid calendar date"]) \
        == ["start_date_readable", "total_floor_area_positive"]
    assert rule_names("buildings", ["something else"])[0].startswith("<0 rules")


# ---------------------------------------------------------------------------------------------------------
# The corpus itself


def test_corpus_covers_the_brief():
    kinds = {c.kind for c in CASES}
    assert len(CASES) >= 40 and {"buildings", "production_bases", "targets"} <= kinds
    outcomes = {c.outcome for c in CASES}
    assert outcomes == {"loaded", "rejected", "duplicate", "superseded"}
    encodings = {c.spec.get("encoding") for c in CASES}
    assert {"utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"} <= encodings
    assert any(c.spec.get("delimiter") == "tab" for c in CASES)
    assert sum(c.path.endswith(".xlsx") for c in CASES) >= 8
    for kind in ("buildings", "production_bases", "targets"):
        assert {"loaded", "rejected"} <= {c.outcome for c in CASES if c.kind == kind}, kind
        assert any(c.spec.get("quarantined") for c in CASES if c.kind == kind), kind


# ---------------------------------------------------------------------------------------------------------
# Per case


def _null(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _raw_value(kind: str, value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):  # datetime.date, or a pandas Timestamp
        return value.strftime("%Y-%m-%d")
    return value


@pytest.mark.parametrize("case", CASES, ids=[c.path for c in CASES])
def test_case_outcome(corpus, case: Case):
    ledger = corpus["ledger"]
    s = corpus["settings"]
    assert case.path in ledger.index, f"{case.path} is not in the ledger"
    row = ledger.loc[case.path]
    assert row["status"] == case.outcome, f"{case.path}: {row['status']} ({row['reason']}); expected {case.outcome}"
    if "reason" in case.spec:
        assert not _null(row["reason"]) and case.reason in row["reason"], (case.path, row["reason"])
    if case.outcome == "loaded":
        assert _null(row["reason"]), (case.path, row["reason"])
    if case.outcome == "rejected":
        assert row["rows_loaded"] == row["rows_quarantined"] == 0

    sid = row["submission_id"]
    quarantine = query(s.warehouse_path, "select row_number, raw, reasons, status from dq.quarantined_rows "
                                         "where submission_id = ? order by row_number", [sid])
    expected_q = {int(r): sorted(rules) for r, rules in (case.spec.get("quarantined") or {}).items()}
    got_q = {int(r["row_number"]): rule_names(case.kind, list(r["reasons"])) for _, r in quarantine.iterrows()}
    assert got_q == expected_q, f"{case.path}: quarantined rows and their rules"
    for _, q in quarantine.iterrows():
        raw = json.loads(q["raw"])
        assert isinstance(raw, dict) and any(str(v).strip() for v in raw.values()), (case.path, q["raw"])
        assert q["status"] == ("fixed" if case.outcome == "superseded" else "open")

    if "ignored" in case.spec:
        kept = query(s.warehouse_path, "select row_number, what, text from dq.ignored_rows where submission_id = ?",
                     [sid])
        assert dict(zip(kept["row_number"], kept["what"], strict=True)) == \
            {int(r): w for r, w in case.spec["ignored"].items()}, f"{case.path}: ignored rows"
        assert all(t.strip() for t in kept["text"]), case.path
    if "rows_received" in case.spec:
        assert row["rows_received"] == case.rows_received, case.path
        assert row["rows_ignored"] == case.rows_ignored, case.path
        assert row["rows_quarantined"] == len(expected_q), case.path
        assert row["rows_loaded"] == case.rows_received - case.rows_ignored - len(expected_q), case.path

    warnings = [] if _null(row["warnings"]) else list(row["warnings"])
    if case.spec.get("warnings") == []:
        assert warnings == [], f"{case.path}: unexpected warnings {warnings}"
    for w in case.spec.get("warnings") or []:
        assert any(w in got for got in warnings), f"{case.path}: no warning contains {w!r} in {warnings}"

    if case.outcome in ("loaded", "superseded"):
        assert row["unit_code"] == case.spec.get("unit_code", Path(case.path).name[:6])

    if case.kind and case.outcome in ("loaded", "superseded"):
        raw_rows = query(s.warehouse_path, f"select * from raw.{case.kind} where submission_id = ?", [sid])
        if case.outcome == "superseded":
            assert raw_rows.empty, f"{case.path}: a superseded file's rows are still in raw.{case.kind}"
            return
        assert len(raw_rows) == row["rows_loaded"]
        assert not set(raw_rows["row_number"]) & (set(expected_q) | set(case.spec.get("ignored") or {}))
        by_row = raw_rows.set_index("row_number")
        for r, values in (case.spec.get("values") or {}).items():
            for name, want in values.items():
                got = _raw_value(case.kind, by_row.loc[int(r), name])
                if name == "period":
                    got = str(got)[:10]
                if isinstance(want, int | float) and not isinstance(want, bool):
                    assert got is not None and abs(float(got) - want) < 1e-9, (case.path, r, name, got, want)
                else:
                    assert got == want, (case.path, r, name, got, want)


# ---------------------------------------------------------------------------------------------------------
# Every file


def _landed_paths(landing: Path) -> dict[str, Path]:
    """Every entry a submitter put in the landing zone: regular files and symbolic links (to files or to
    folders, which are never followed)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(landing, followlinks=False):
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            path = Path(dirpath) / name
            found[path.relative_to(landing).as_posix()] = path
    return found


def test_the_ingestion_tasks_succeed(corpus):
    first, second = ({ti.task_id: ti.state for ti in run.get_task_instances()}
                     for run in (corpus["first"], corpus["second"]))
    assert {task: first[task] for task in INGESTION_TASKS} == dict.fromkeys(INGESTION_TASKS, "success"), first
    # The second run over the same landing zone reads nothing new: the ingestion tasks succeed, and the build
    # (with the gate and publication after it) is skipped, as a night with nothing new is (publishing.unchanged).
    assert {task: second[task] for task in INGESTION_TASKS} == {
        **dict.fromkeys(INGESTION_TASKS, "success"), "dbt_build": "skipped"}, second


def test_every_landed_file_is_in_the_ledger_once_and_archived(corpus):
    s, ledger = corpus["settings"], corpus["ledger"]
    landed = _landed_paths(s.landing_dir)
    assert sorted(landed) == sorted(c.path for c in CASES)
    assert sorted(ledger.index) == sorted(landed), "one ledger row per landed file, and no other"
    assert ledger.index.is_unique
    for path, entry in landed.items():
        row = ledger.loc[path]
        archived = Path(row["archived_path"])
        assert archived.is_file() and archived.is_relative_to(s.archive_dir), path
        assert sha256_of(archived) == row["sha256"], path
        if entry.is_symlink():  # the link itself is what was received, never its target
            assert archived.read_text(encoding="utf-8") == os.readlink(entry), path
        else:
            assert sha256_of(entry) == row["sha256"] and entry.stat().st_size == row["size_bytes"], path


def test_conservation_for_every_file(corpus):
    ledger = corpus["ledger"]
    assert (ledger["rows_received"] == ledger["rows_loaded"] + ledger["rows_quarantined"]
            + ledger["rows_ignored"]).all()
    s = corpus["settings"]
    counts = query(s.warehouse_path, "select submission_id, count(*) as n from dq.quarantine group by all")
    by_sid = ledger.set_index("submission_id")
    for sid, n in zip(counts["submission_id"], counts["n"], strict=True):
        assert by_sid.loc[sid, "rows_quarantined"] == n
    # every ignored row is kept with its text: as many as the ledger counts, none of them a data row
    kept = query(s.warehouse_path, "select submission_id, count(*) as n from dq.ignored_rows group by all")
    assert dict(zip(kept["submission_id"], kept["n"], strict=True)) == \
        {sid: n for sid, n in by_sid["rows_ignored"].items() if n}
    overlap = query(s.warehouse_path, "select i.submission_id, i.row_number from dq.ignored_rows i "
                                      "join dq.quarantine q using (submission_id, row_number)")
    assert overlap.empty


def test_nothing_loaded_twice(corpus):
    s, ledger = corpus["settings"], corpus["ledger"]
    for kind in ("buildings", "production_bases", "targets"):
        raw = query(s.warehouse_path, f"select submission_id, row_number from raw.{kind}")
        assert not raw.duplicated().any(), kind
        loaded = ledger[(ledger["kind"] == kind) & (ledger["status"] == "loaded")]
        assert set(raw["submission_id"]) <= set(loaded["submission_id"]), kind
        assert len(raw) == loaded["rows_loaded"].sum(), kind
    buildings = query(s.warehouse_path, "select unit_code, period, project_code, building_no, submission_id "
                                        "from raw.buildings")
    assert not buildings.duplicated(["unit_code", "period", "project_code", "building_no"]).any()
    # a building in raw twice comes from two periods' files, and the later one warns the steward of it
    again = buildings[buildings.duplicated(["project_code", "building_no"], keep=False)]
    warned = {sid for sid, w in zip(ledger["submission_id"], ledger["warnings"], strict=True)
              if not _null(w) and any("already reported in" in x for x in w)}
    for key, group in again.groupby(["project_code", "building_no"]):
        assert set(group["submission_id"]) & warned, (key, list(group["submission_id"]))
    dupes = query(s.warehouse_path, "select submission_id, row_number from dq.quarantine group by all "
                                    "having count(*) > 1")
    assert dupes.empty


def test_a_second_run_changes_nothing(corpus):
    assert corpus["after_second"] == corpus["after_first"]


def test_formula_text_is_kept_verbatim_and_neutralised_in_the_spreadsheet_export(corpus, tmp_path):
    import csv

    from steward.export import FORMULA_STARTS, export_quarantine

    s, ledger = corpus["settings"], corpus["ledger"]
    sid = ledger.loc["buildings/330421_2020-04.csv", "submission_id"]
    raw = query(s.warehouse_path, "select raw from dq.quarantined_rows where submission_id = ? and row_number = 3",
                [sid])["raw"][0]
    assert json.loads(raw)["项目名称"] == "=1+2" and json.loads(raw)["建设单位"] == "－3+4"

    out = tmp_path / "quarantine.csv"
    n = export_quarantine(s, out, status=None)
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert n == len(rows) == int(ledger["rows_quarantined"].sum())
    row = next(r for r in rows if r["文件"] == "330421_2020-04.csv" and r["行号"] == "3")
    assert (row["项目名称"], row["单体编号"], row["建设单位"]) == ("'=1+2", "'@A1", "'－3+4")
    for r in rows:
        for value in [*r.values(), *r.keys()]:
            assert not (value or "").startswith(FORMULA_STARTS), value
