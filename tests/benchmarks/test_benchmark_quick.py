"""The benchmark's quick scale runs end to end and produces every figure (no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.runner import KEYS

pytestmark = pytest.mark.slow


def test_quick_scale_produces_every_figure(tmp_path):
    out, work = tmp_path / "results", tmp_path / "work"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--scale", "quick", "--out-dir", str(out),
                           "--work-dir", str(work)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((out / "quick.json").read_text(encoding="utf-8"))
    for key in KEYS:
        assert key in doc, key
        assert doc[key] is None or isinstance(doc[key], int | float), (key, doc[key])
    assert {"cpu_count", "platform", "python"} <= set(doc["machine"])
    rows = doc["workload"]["big_files"]["csv_utf8"]["rows"]
    (big,) = doc["runs"]["bigfile"]
    assert (big["csv_utf8"]["rows_loaded"], big["csv_utf8"]["rows_quarantined"]) == (rows, 0)
    bad = rows // doc["workload"]["big_files"]["csv_failing"]["failing_every"]
    assert (big["csv_failing"]["rows_loaded"], big["csv_failing"]["rows_quarantined"]) == (rows - bad, bad)
    assert isinstance(doc["failing_ratio_vs_native"], float)
    # dbt's fixed cost, every way benchmarks/dbt_cost.py measures it (the quick scale runs no Airflow nights)
    assert {"parse_partial_seconds", "parse_full_seconds", "build_nothing_seconds", "inprocess_import_seconds",
            "inprocess_first_parse_seconds", "inprocess_second_parse_seconds"} <= set(doc["dbt_fixed"])
    assert all(isinstance(v, float) for v in doc["dbt_fixed"].values()), doc["dbt_fixed"]
    assert doc["dbt_fixed_seconds"] == doc["dbt_fixed"]["parse_partial_seconds"]
    assert "airflow_nights" not in doc
    assert doc["date"]
    assert "| figure | median |" in proc.stdout
    for key in KEYS:
        assert f"| {key} |" in proc.stdout
