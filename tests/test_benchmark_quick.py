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
    assert doc["date"]
    assert "| figure | median |" in proc.stdout
    for key in KEYS:
        assert f"| {key} |" in proc.stdout
