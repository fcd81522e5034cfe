"""The dbt side of the raw tables held to `foundation.raw_schema`, without running dbt: what each
`stg_raw__<kind>.sql` selects from its source (and casts it to), the columns `_raw__sources.yml` declares for
the source, and the columns `_raw__models.yml` documents for the staging model."""

from __future__ import annotations

import re

import pytest
import yaml

from foundation.config import DBT_PROJECT_DIR
from foundation.raw_schema import RAW_TABLES

STAGING = DBT_PROJECT_DIR / "models" / "staging"
SELECTED = re.compile(r"^\s*cast\((\w+) as (.+)\) as (\w+),?$")
SOURCE = re.compile(r"^from \{\{ source\('raw', '(\w+)'\) \}\}$")


def _type(sql_type: str) -> str:
    return sql_type.replace(" ", "").upper()


def _raw(kind: str) -> list[tuple[str, str]]:
    return [(c.name, _type(c.type)) for c in RAW_TABLES[kind]]


def _selected(kind: str) -> tuple[list[tuple[str, str]], str]:
    """The staging model's select list as (column, type) and the raw table it selects from; every line of
    the model is either `select`, one `cast(<column> as <type>) as <column>` or the `from` line."""
    lines = (STAGING / f"stg_raw__{kind}.sql").read_text(encoding="utf-8").strip().splitlines()
    assert lines[0] == "select"
    source = SOURCE.match(lines[-1])
    assert source, lines[-1]
    selected = []
    for line in lines[1:-1]:
        m = SELECTED.match(line)
        assert m and m.group(1) == m.group(3), f"stg_raw__{kind}.sql: not a plain cast of a column: {line!r}"
        selected.append((m.group(1), _type(m.group(2))))
    return selected, source.group(1)


@pytest.mark.parametrize("kind", list(RAW_TABLES))
def test_staging_model_selects_every_raw_column_as_its_type(kind):
    selected, source = _selected(kind)
    assert source == kind
    assert selected == _raw(kind)


def _yaml(name: str) -> dict:
    return yaml.safe_load((STAGING / name).read_text(encoding="utf-8"))


def test_raw_source_declares_the_raw_tables_and_columns():
    (raw,) = [s for s in _yaml("_raw__sources.yml")["sources"] if s["name"] == "raw"]
    tables = {t["name"]: [(c["name"], _type(c["data_type"])) for c in t["columns"]] for t in raw["tables"]}
    assert tables == {kind: _raw(kind) for kind in RAW_TABLES}


def test_staging_models_document_every_raw_column():
    models = {m["name"]: [c["name"] for c in m["columns"]] for m in _yaml("_raw__models.yml")["models"]}
    assert models == {f"stg_raw__{kind}": [name for name, _ in _raw(kind)] for kind in RAW_TABLES}
    for model in _yaml("_raw__models.yml")["models"]:
        assert all(c.get("description") for c in model["columns"]), model["name"]
