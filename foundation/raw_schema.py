"""The columns of the raw tables, derived from the submission template: the one definition that the raw DDL
(`foundation.schema`), the load's column list (`ingestion.ledger.RAW_COLUMNS`) and the tests of the dbt
staging models and sources read.

A raw table is its kind's template fields, in the template's order, between the row's context: the
submission and row it came from first, when it was received and loaded last. A field's column type follows
from its template type; it is not null when the template requires it or the load fills its default. Three
things the load does differ from the template's fields, each declared below: the reported assembly rate is
kept under its own name (the warehouse computes its own), two fields get their documented defaults, and a
production-base snapshot's year comes from its file name.
"""

from __future__ import annotations

from dataclasses import dataclass

from foundation.template import DEFAULT_EVALUATION_STANDARD, KIND_FIELDS, Field

AREA = "DECIMAL(18, 2)"  # areas, capacities: MAX_AREA fits
SCORE = "DECIMAL(6, 2)"  # scores and percentages: up to 9999.99
_SCORE_MAX = 9999.99

_TYPES = {"code": "varchar", "period": "date", "year": "integer", "text": "varchar", "date": "date",
          "area": AREA, "percent": SCORE, "bool": "boolean", "enum": "varchar"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # DuckDB type, as the DDL writes it
    not_null: bool
    field: str | None = None  # the template field it holds; None for the row's context

    def ddl(self) -> str:
        return f"{self.name} {self.type}{' not null' if self.not_null else ''}"


# The row's context, around the template's fields.
HEAD = (Column("submission_id", "varchar", True), Column("row_number", "integer", True))
TAIL = (Column("received_at", "timestamp", True), Column("loaded_at", "timestamp", True))

# Template field -> raw column name, where they differ: the rate as reported, beside the warehouse's own.
RENAMED = {("buildings", "assembly_rate_pct"): "assembly_rate_reported_pct"}
# Fields the load fills with the template's default when missing (so their columns are never null).
FILLED_AT_LOAD = {"buildings": {"evaluation_standard": DEFAULT_EVALUATION_STANDARD, "green_star": "none"}}
# Columns that are no template field: (kind, the column it follows) -> column. A production-base snapshot
# is as of its file name's year.
FROM_FILE_NAME = {("production_bases", "unit_code"): Column("year", "integer", True)}


def _type(f: Field) -> str:
    if f.type == "number":  # the narrower decimal where the field's maximum fits
        return SCORE if f.maximum is not None and f.maximum <= _SCORE_MAX else AREA
    return _TYPES[f.type]


def _column(kind: str, f: Field) -> Column:
    not_null = f.required or f.name in FILLED_AT_LOAD.get(kind, {})
    return Column(RENAMED.get((kind, f.name), f.name), _type(f), not_null, f.name)


def row_columns(kind: str) -> tuple[Column, ...]:
    """The columns a submission's rows fill, in order (the raw table without its context)."""
    columns: list[Column] = []
    for f in KIND_FIELDS[kind]:
        columns.append(_column(kind, f))
        if (kind, f.name) in FROM_FILE_NAME:
            columns.append(FROM_FILE_NAME[kind, f.name])
    return tuple(columns)


def columns(kind: str) -> tuple[Column, ...]:
    """Every column of `raw.<kind>`, in order."""
    return (*HEAD, *row_columns(kind), *TAIL)


RAW_TABLES = {kind: columns(kind) for kind in KIND_FIELDS}


def create_table(kind: str) -> str:
    body = ",\n".join(f"    {c.ddl()}" for c in RAW_TABLES[kind])
    return f"create table if not exists raw.{kind} (\n{body}\n);\n"


RAW_DDL = "create schema if not exists raw;\n\n" + "\n".join(create_table(kind) for kind in RAW_TABLES)
