"""The Arrow pre-screen of the row rules (`expectations.screen`) against Great Expectations itself: on batches
generated to hit every rule's edges (missing values, NaN, bounds and just past them, strict bounds, pairs with a
missing side, row conditions, duplicates with missing parts), the screen must name exactly the rows GX names,
rule by rule. A clean batch never reaches GX, so this agreement is what makes the screen trustworthy."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest

from expectations import screen
from expectations.rules import rules
from expectations.submission import _Batch, _keys, _validate_with_gx
from foundation.template import ENUMS, fields

ROWS = 600
FILES = ("s1", "s2", "s3")
UNITS = ("330402", "330411", "330481")


def _pool(f, rng: np.random.Generator) -> list:
    """Values for a field: valid ones and the edges its rules test, missing included."""
    if f.type in ("area", "number", "percent"):
        lo, hi = f.minimum or 0, f.maximum if f.maximum is not None else 1e10
        return [None, float("nan"), lo, lo - 0.01, lo + 0.5, hi, hi - 0.01, hi + 0.01, 0.0, -0.0, 60.0, 1000.0,
                250.5]  # -0.0: GX compares numbers (-0.0 == 0.0), Arrow's set lookups hash the bits
    if f.type == "year":
        return [None, 2023, 2024, 2025]
    if f.type == "date":
        return [None, date(2024, 2, 29), date(2024, 3, 1), date(2024, 3, 31), date(2024, 4, 1), date(2023, 3, 15)]
    if f.type == "bool":
        return [None, True, False]
    if f.type == "enum":
        return [None, *ENUMS[f.enum], "bogus"]
    if f.type == "period":
        return [None, "2024-03", "2024-04", "2023-03"]
    if f.type == "code":
        return [None, *UNITS, "999999"]
    return [None, "A", "B", "1#", ""]  # few values: duplicates happen


def _arrow_type(f) -> pa.DataType:
    return {"area": pa.float64(), "number": pa.float64(), "percent": pa.float64(), "year": pa.int64(),
            "date": pa.date32(), "bool": pa.bool_(), "code": pa.string()}.get(f.type, pa.large_string())


def _pick(pool: list, rng: np.random.Generator, n: int) -> list:
    return [pool[i] for i in rng.integers(0, len(pool), n)]


def generated_batch(kind: str, seed: int) -> pa.Table:
    """A batch of work rows as the read stage writes them (context columns included), values drawn from the
    fields' edge pools; a third of the rows share one building so that uniqueness fails too."""
    rng = np.random.default_rng(seed)
    file_of = rng.integers(0, len(FILES), ROWS)
    columns: dict[str, pa.Array] = {
        "submission_id": pa.array([FILES[i] for i in file_of], pa.string()),
        "file_unit_code": pa.array([UNITS[i] for i in file_of], pa.string()),
        "file_period": pa.array(["2024" if kind == "targets" else "2024-03"] * ROWS, pa.string()),
        "row_number": pa.array(np.arange(2, ROWS + 2), pa.int64()),
    }
    for f in fields(kind):
        columns[f.name] = pa.array(_pick(_pool(f, rng), rng, ROWS), _arrow_type(f), from_pandas=True)
    columns["unit_known"] = pa.array(rng.random(ROWS) < 0.8)
    columns["unit_in_scope"] = pa.array(rng.random(ROWS) < 0.7)
    return pa.table(columns)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("kind", ["buildings", "production_bases", "targets"])
def test_screen_names_the_rows_gx_names(kind, seed, tmp_path):
    batch = _Batch(kind, generated_batch(kind, seed))
    kind_rules = rules(kind)
    from_gx, _, _ = _validate_with_gx(kind, kind_rules, batch, tmp_path / "gx")
    for rule in kind_rules:
        from_screen = _keys(batch, screen.failing(rule, batch.plain, batch.n))
        assert from_screen == from_gx[rule.name], rule.name
    failing_rules = [r.name for r in kind_rules if from_gx[r.name]]
    assert len(failing_rules) >= len(kind_rules) - 2, f"the generator exercises too few rules: {failing_rules}"
    passing = [r.name for r in kind_rules if 0 < len(from_gx[r.name]) < ROWS]
    assert passing, "no rule both passes and fails on some rows"


def test_a_clean_batch_is_not_handed_to_gx(tmp_path, monkeypatch):
    """Clean rows: the screen finds nothing and GX is not run; one bad row and it is."""
    from expectations import submission

    start = date(2024, 3, 1)
    n = 50
    rows = {
        "submission_id": pa.array(["s1"] * n), "file_unit_code": pa.array(["330402"] * n),
        "file_period": pa.array(["2024-03"] * n), "row_number": pa.array(np.arange(2, n + 2)),
        "unit_code": pa.array(["330402"] * n), "period": pa.array(["2024-03"] * n),
        "project_code": pa.array([f"P{i // 5}" for i in range(n)]),
        "project_name": pa.array(["项目"] * n), "building_no": pa.array([f"{i % 5}#" for i in range(n)]),
        "start_date": pa.array([start + timedelta(days=i % 28) for i in range(n)]),
        "building_use": pa.array(["residential"] * n), "structure_system": pa.array(["pc_concrete"] * n),
        "total_floor_area_m2": pa.array([1000.0] * n), "prefab_floor_area_m2": pa.array([600.0] * n),
        "score_q1": pa.array([30.0] * n), "score_q2": pa.array([15.0] * n), "score_q3": pa.array([20.0] * n),
        "full_decoration": pa.array([True] * n),
    }
    calls = []
    real = submission._validate_with_gx
    monkeypatch.setattr(submission, "_validate_with_gx", lambda *a: calls.append(1) or real(*a))
    clean = submission.check_batch("buildings", [pa.table(rows)], {}, tmp_path / "gx")
    assert calls == [] and not clean.reasons
    assert {r.status for r in clean.results} == {"pass"}

    rows["prefab_floor_area_m2"] = pa.array([600.0] * (n - 1) + [1200.0])
    bad = submission.check_batch("buildings", [pa.table(rows)], {}, tmp_path / "gx")
    assert calls == [1]
    assert list(bad.reasons) == [("s1", n + 1)]
    assert "exceeds 总建筑面积" in bad.reasons[("s1", n + 1)][0]


def test_a_disagreement_with_gx_does_not_fail_the_run(tmp_path, monkeypatch, caplog):
    """A screen bug (here: a rule's mask wrong) is logged and GX's verdict stands; the check still ends."""
    from expectations import submission

    real = screen.failing

    def wrong(rule, column, n):
        mask = real(rule, column, n)
        return ~mask if rule.name == "cast_in_place_has_no_prefab_area" else mask

    monkeypatch.setattr(screen, "failing", wrong)
    batch = generated_batch("buildings", 1)
    outcome = submission.check_batch("buildings", [batch], {}, tmp_path / "gx")
    assert "disagree on cast_in_place_has_no_prefab_area" in caplog.text
    from_gx, _, _ = _validate_with_gx("buildings", rules("buildings"), _Batch("buildings", batch), tmp_path / "gx2")
    result = next(r for r in outcome.results if r.check_name == "buildings.cast_in_place_has_no_prefab_area")
    assert result.failing_rows == len(from_gx["cast_in_place_has_no_prefab_area"])
