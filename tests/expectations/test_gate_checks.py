"""The gate's checks on the candidate marts (expectations/gate_rules.py): a unit-month about ten times the
unit's usual volume and a reported assembly rate that disagrees with the computed one are warnings that name
what the steward must look at and never block; an impossible value in a mart blocks publication. Skipped dbt
nodes name the upstream failure that caused them.

Expected figures are computed here from the submitted rows (statistics.median, plain arithmetic)."""

from __future__ import annotations

import shutil
import statistics
from dataclasses import replace

import duckdb
import pytest

from foundation.config import Settings
from foundation.db import connect_warehouse
from publishing.build import DbtBuild, build, last_build
from publishing.gate import GateBlocked, GateResult, _dbt_checks, enforce
from tests.helpers.gate import gate_rows, nightly_gate_and_publish, node
from tests.helpers.landing import HEADER, land, row, run

RATE_HEADER = HEADER.rstrip("\n") + ",装配率\n"
# row() scores every building Q1 30, Q2 15, Q3 20, Q4 empty (0), full decoration: P = 65 / 100 * 100 = 65.0.
COMPUTED_RATE = (30 + 15 + 20) / (100 - 0) * 100

# 330402's monthly new-start floor area: four ordinary months, then one typed ten times too large.
HISTORY_M2 = {"2020-01": 1000, "2020-02": 1200, "2020-03": 900, "2020-04": 1100}
OUTLIER_MONTH, OUTLIER_M2 = "2020-05", 11000
STEADY_M2 = {"2020-01": 800, "2020-02": 850, "2020-03": 900, "2020-04": 950, "2020-05": 1000}  # 330411
DIFFERING = ("330421", "R1", "1#", 80)  # reported 80 %, computed 65 %

ANOMALY = "gx.monthly.floor_area_near_usual_volume"
RATE_DIFFERS = "gx.building.reported_assembly_rate_matches"


def rate_row(unit: str, month: str, project: str, area: int, reported: float) -> str:
    return row(unit, month, project, "1#", f"{month}-10", str(area), str(area // 2)).rstrip("\n") + f",{reported}\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Settings:
    """The landing zone loaded and the candidate built once; tests work on copies."""
    root = tmp_path_factory.mktemp("gate_checks")
    s = Settings(landing_dir=root / "landing", data_dir=root / "data", max_file_bytes=200 * 1024 * 1024)
    t = 1_600_000_000
    for i, (month, area) in enumerate([*HISTORY_M2.items(), (OUTLIER_MONTH, OUTLIER_M2)]):
        land(s, f"330402_{month}.csv", RATE_HEADER + rate_row("330402", month, f"P{i}", area, COMPUTED_RATE), t + i)
    for i, (month, area) in enumerate(STEADY_M2.items()):
        land(s, f"330411_{month}.csv", RATE_HEADER + rate_row("330411", month, f"Q{i}", area, COMPUTED_RATE + 0.5),
             t + 10 + i)
    unit, project, _, reported = DIFFERING  # one month only: too little history for the volume check
    land(s, f"{unit}_2020-03.csv", RATE_HEADER + rate_row(unit, "2020-03", project, 600, reported), t + 20)
    run(s, "load")
    result = build(s)
    assert result.returncode == 0, result.log_tail
    return s


def copy_of(built: Settings, tmp_path) -> Settings:
    shutil.copytree(built.data_dir, tmp_path / "data")
    return replace(built, data_dir=tmp_path / "data")


@pytest.mark.slow
def test_outlier_month_and_differing_rate_warn_and_still_publish(built, tmp_path):
    s = copy_of(built, tmp_path)
    gate, pub = nightly_gate_and_publish(s, "r1", last_build(s))
    assert gate.passed and pub is not None and pub.published

    rows = gate_rows(s, "r1")
    usual = statistics.median(HISTORY_M2.values())  # 330402's four previous months: 1,050 m²
    ratio = OUTLIER_M2 / usual
    assert ratio >= 8
    stage, severity, status, failing, detail = rows[ANOMALY]
    assert (stage, severity, status, failing) == ("gate", "warn", "warn", 1)  # 330411 (steady) is not named
    assert f"330402 南湖区 {OUTLIER_MONTH}: {OUTLIER_M2:,} m², usual {usual:,.0f} m²" in detail
    assert f"(median of {len(HISTORY_M2)} previous months), {ratio:,.2f}x" in detail
    assert "330411" not in detail

    stage, severity, status, failing, detail = rows[RATE_DIFFERS]
    assert (severity, status, failing) == ("warn", "warn", 1)
    unit, project, building_no, reported = DIFFERING
    assert f"{unit} {project} {building_no}: reported {reported} %, computed {COMPUTED_RATE:g} %" in detail

    warned = [name for name, r in rows.items() if r[2] == "warn"]
    assert sorted(warned) == [RATE_DIFFERS, ANOMALY]
    assert all(r[2] == "pass" for name, r in rows.items() if name not in warned)
    con = duckdb.connect(str(s.reporting_path), read_only=True)
    try:
        assert con.execute("select checks_warned from publication").fetchall() == [(2,)]
    finally:
        con.close()


@pytest.mark.slow
def test_out_of_range_values_block_publication(built, tmp_path):
    s = copy_of(built, tmp_path)
    with connect_warehouse(s) as con:
        share = con.execute("update marts.fct_indicators_daily set ytd_prefab_share_pct = 120.5 where "
                            "unit_code = '330411' and as_of_date = date '2020-05-31'").fetchone()[0]
        graded = con.execute("update marts.fct_building set grade = 'AAA' where project_code = 'Q0'").fetchone()[0]
    assert (share, graded) == (1, 1)
    gate, pub = nightly_gate_and_publish(s, "r1", last_build(s))
    assert pub is None and not s.reporting_path.exists()
    share_check, grade_check = "gx.indicators.ytd_prefab_share_pct_in_range", "gx.building.grade_matches_assembly_rate"
    assert sorted(c.check_name for c in gate.blocking) == [grade_check, share_check]
    with pytest.raises(GateBlocked, match="ytd_prefab_share_pct_in_range"):
        enforce(gate)
    rows = gate_rows(s, "r1")
    assert rows[share_check][1:4] == ("error", "fail", 1)  # one unit-year: 330411 2020 (its city is unchanged)
    assert "330411 2020: ytd_prefab_share_pct from 50 to 120.5" in rows[share_check][4]
    # Q0 is 330411's January building: recognised, P = 65.0, so grade A, not AAA.
    assert "330411 Q0 1#: grade AAA for assembly rate 65 % (recognised: True); expected A" in rows[grade_check][4]
    assert rows[ANOMALY][2] == "warn"  # warnings are still evaluated and recorded


def test_skipped_nodes_name_the_failure_upstream():
    parents = {
        "model.p.stg": [], "model.p.int": ["model.p.stg"], "model.p.fct": ["model.p.int"],
        "test.p.not_null_int": ["model.p.int"], "test.p.unique_fct": ["model.p.fct"],
        "unit_test.p.other.t": ["model.p.other"], "model.p.other": ["model.p.stg"],
        "model.p.other_child": ["model.p.other"],
    }
    nodes = [node("model", "stg", "success"), node("model", "int", "success"),
             node("test", "not_null_int", "fail", failures=2), node("model", "fct", "skipped"),
             node("test", "unique_fct", "skipped"), node("unit_test", "other.t", "fail"),
             node("model", "other", "skipped"), node("model", "other_child", "skipped")]
    for n in nodes:  # node() names ids '<type>.prefab.<name>'; use the short project name of `parents`
        n.unique_id = n.unique_id.replace(".prefab.", ".p.")
    checks = {c.check_name: c for c in _dbt_checks(DbtBuild(1, 1.0, nodes, "", parents))}
    assert "dbt.test.not_null_int failed upstream" in checks["dbt.model.fct"].detail
    assert "dbt.test.not_null_int failed upstream" in checks["dbt.test.unique_fct"].detail
    assert "dbt.unit_test.other.t failed upstream" in checks["dbt.model.other"].detail
    assert "dbt.unit_test.other.t failed upstream" in checks["dbt.model.other_child"].detail
    assert "not_null_int" not in checks["dbt.model.other_child"].detail
    assert checks["dbt.model.fct"].status == "fail"  # still blocking (conservative) ...
    with pytest.raises(GateBlocked) as blocked:
        enforce(GateResult(list(checks.values())))
    message = str(blocked.value)
    assert "- dbt.test.not_null_int: Got" not in message  # (message of node() is None: detail is the status)
    lines = message.splitlines()  # Chinese first, then dbt's own message
    assert "- dbt.test.not_null_int：dbt 数据测试 not_null_int 未通过：2 行不符合（以下为 dbt 的原文）：fail" \
           "（2 行未通过）" in lines and "  fail (2 failing rows)" in lines
    assert "- dbt.unit_test.other.t：dbt 单元测试 other.t 失败：这是模型本身的问题" in message
    assert "and 4 dbt nodes skipped because of the failures above" in message  # ... but summarised in one line
