"""The raw tables, as DuckDB creates them, against two statements that do not come from the code under test:
the columns pinned as they were when the raw DDL was first generated, and the fields of the submission
template spec (../shared/specs/submission-template.md) with the few documented changes the load makes."""

from __future__ import annotations

import re

import duckdb
import pytest

from foundation.config import PROJECT_ROOT
from foundation.schema import ensure_schema

# `name TYPE [not null]`, in order, as information_schema.columns reported them for the hand-written DDL.
PINNED = {
    "buildings": """
        submission_id VARCHAR not null
        row_number INTEGER not null
        unit_code VARCHAR not null
        period DATE not null
        project_code VARCHAR not null
        project_name VARCHAR not null
        building_no VARCHAR not null
        permit_no VARCHAR
        start_date DATE not null
        building_use VARCHAR not null
        structure_system VARCHAR not null
        total_floor_area_m2 DECIMAL(18,2) not null
        prefab_floor_area_m2 DECIMAL(18,2) not null
        score_q1 DECIMAL(6,2)
        score_q2 DECIMAL(6,2)
        score_q3 DECIMAL(6,2)
        score_q4 DECIMAL(6,2)
        assembly_rate_reported_pct DECIMAL(6,2)
        evaluation_standard VARCHAR not null
        full_decoration BOOLEAN not null
        green_star VARCHAR not null
        developer VARCHAR
        remarks VARCHAR
        received_at TIMESTAMP not null
        loaded_at TIMESTAMP not null
    """,
    "production_bases": """
        submission_id VARCHAR not null
        row_number INTEGER not null
        unit_code VARCHAR not null
        year INTEGER not null
        base_name VARCHAR not null
        base_type VARCHAR not null
        design_capacity DECIMAL(18,2)
        capacity_unit VARCHAR
        commissioned_on DATE
        status VARCHAR not null
        received_at TIMESTAMP not null
        loaded_at TIMESTAMP not null
    """,
    "targets": """
        submission_id VARCHAR not null
        row_number INTEGER not null
        unit_code VARCHAR not null
        year INTEGER not null
        target_prefab_floor_area_m2 DECIMAL(18,2) not null
        target_res_pub_floor_area_m2 DECIMAL(18,2)
        target_prefab_share_pct DECIMAL(6,2)
        received_at TIMESTAMP not null
        loaded_at TIMESTAMP not null
    """,
}

# Beside the repository (or beside the folder of its worktrees).
SPEC = next((p / "shared" / "specs" / "submission-template.md" for p in PROJECT_ROOT.parents
             if (p / "shared" / "specs" / "submission-template.md").exists()),
            PROJECT_ROOT.parent / "shared" / "specs" / "submission-template.md")


def _created() -> dict[str, list[tuple[str, str, bool]]]:
    con = duckdb.connect()
    ensure_schema(con)
    tables: dict[str, list[tuple[str, str, bool]]] = {}
    for table, name, type_, nullable in con.execute(
            "select table_name, column_name, data_type, is_nullable from information_schema.columns "
            "where table_schema = 'raw' order by table_name, ordinal_position").fetchall():
        tables.setdefault(table, []).append((name, type_, nullable == "NO"))
    return tables


def test_raw_tables_are_the_pinned_columns():
    pinned = {table: [(line.split()[0], line.split()[1], line.endswith("not null"))
                      for line in text.strip().splitlines()] for table, text in PINNED.items()}
    assert _created() == pinned


def _spec_fields() -> dict[str, list[tuple[str, bool]]]:
    """Each kind's English headers in the spec's order, with whether the spec says `yes` in `required`."""
    kinds: dict[str, list[tuple[str, bool]]] = {}
    kind = None
    for line in SPEC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"## Kind `(\w+)`", line)
        if heading:
            kind = heading.group(1)
        elif line.startswith("## "):
            kind = None
        elif kind and line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[1] != "English header":
                kinds.setdefault(kind, []).append((cells[1], cells[3] == "yes"))
    return kinds


@pytest.mark.skipif(not SPEC.exists(), reason=f"{SPEC} not found (the shared specs sit beside the repository)")
def test_raw_tables_hold_the_spec_fields_with_the_loads_changes():
    expected = _spec_fields()
    assert set(expected) == {"buildings", "production_bases", "targets"}
    # What the load does to the template's fields, as the spec describes it:
    # the reported assembly rate is kept beside the one the warehouse computes, under its own name;
    b = expected["buildings"]
    b[[n for n, _ in b].index("assembly_rate_pct")] = ("assembly_rate_reported_pct", False)
    # evaluation_standard and green_star get their documented defaults, so they are never null;
    b[:] = [(n, req or n in ("evaluation_standard", "green_star")) for n, req in b]
    # a production-base snapshot's year is its file name's period.
    expected["production_bases"].insert(1, ("year", True))
    created = {table: [(name, not_null) for name, _, not_null in columns]
               for table, columns in _created().items()}
    context = [("submission_id", True), ("row_number", True)]
    stamps = [("received_at", True), ("loaded_at", True)]
    assert created == {kind: [*context, *fields, *stamps] for kind, fields in expected.items()}


def test_the_load_fills_the_columns_the_raw_schema_declares():
    from foundation.raw_schema import FILLED_AT_LOAD, RAW_TABLES, row_columns
    from ingestion.ledger import RAW_COLUMNS, RAW_EXPRESSIONS

    for kind in RAW_TABLES:
        assert set(RAW_EXPRESSIONS[kind]) <= set(RAW_COLUMNS[kind]) == {c.name for c in row_columns(kind)}
    for kind, defaults in FILLED_AT_LOAD.items():
        for column, default in defaults.items():
            assert RAW_EXPRESSIONS[kind][column] == f"coalesce(r.{column}, '{default}')"
