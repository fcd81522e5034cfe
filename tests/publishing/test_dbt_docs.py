"""dbt docs of a built warehouse: every reporting model has an enforced contract, a description, and a
non-empty description for every column it was built with (the catalog's columns, read from the database)."""

from __future__ import annotations

import json

import pytest

from publishing.build import build, docs_dir, generate_docs
from publishing.publish import REPORTING_TABLES
from tests.helpers.landing import HEADER, land, row, run

pytestmark = pytest.mark.slow


def test_every_reporting_column_is_documented(data_env):
    s = data_env
    land(s, "330402_2021-03.csv", HEADER + row("330402", "2021-03", "P1", "1#", "2021-03-05", "1000", "600"),
         1_600_000_000)
    run(s, "r1")
    assert build(s).returncode == 0
    index = generate_docs(s)
    assert index.exists() and index.stat().st_size > 0
    manifest = json.loads((docs_dir(s) / "manifest.json").read_text(encoding="utf-8"))
    catalog = json.loads((docs_dir(s) / "catalog.json").read_text(encoding="utf-8"))

    for table in REPORTING_TABLES:
        uid = f"model.prefab.{table}"
        node = manifest["nodes"][uid]
        assert node["description"].strip(), f"{table} has no description"
        assert node["config"]["contract"]["enforced"], f"{table} has no enforced contract"
        built = {c.lower() for c in catalog["nodes"][uid]["columns"]}
        documented = {name.lower(): col["description"].strip() for name, col in node["columns"].items()}
        assert built, f"{table} is not in the catalog"
        assert built == set(documented), f"{table}: built {sorted(built)} vs documented {sorted(documented)}"
        undocumented = sorted(c for c in built if not documented[c])
        assert not undocumented, f"{table}: columns without a description: {undocumented}"
