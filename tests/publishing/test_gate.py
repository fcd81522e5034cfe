"""The publication gate and steward reviews: a failing blocking check stops publication (reporting.duckdb is
untouched), a steward's waiver lets the next publication through and does not outlive it; decisions are
validated, append-only, and the latest one is in force."""

from __future__ import annotations

import hashlib
import json

import pytest

from expectations.results import CheckResult
from foundation import bilingual
from foundation.db import connect_warehouse
from publishing.build import DbtBuild, build
from publishing.gate import (
    GateBlocked,
    GateResult,
    _dbt_checks,
    blocked_text,
    enforce,
    is_skipped,
    may_waive,
    run_gate,
    skip_causes,
    skipped_detail,
)
from steward.cli import main as steward_cli
from steward.decisions import NotWaivable, history, open_failures, record_review
from tests.helpers.gate import (
    RECONCILIATION,
    corrupt_candidate,
    gate_rows,
    nightly_gate_and_publish,
    node,
    waivers_recorded,
)
from tests.helpers.landing import HEADER, land, row, run
from tests.helpers.warehouse import warehouse_rows


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()












def review(args: list[str]) -> int:
    """`python -m steward review ARGS...`, in process."""
    return steward_cli(["review", *args])


def add_check_result(settings, check_name: str, status: str = "fail", run_id: str = "r0") -> None:
    with connect_warehouse(settings) as con:
        con.execute("insert into dq.check_results (run_id, check_name, stage, severity, status, failing_rows, "
                    "detail, checked_at) values (?, ?, 'gate', 'error', ?, 1, 'hand-made', now())",
                    [run_id, check_name, status])


# --- the gate end to end -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_failing_check_blocks_waiver_lets_one_publication_through(data_env):
    s = data_env
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600"), 1000)
    run(s, "r1")
    gate, pub = nightly_gate_and_publish(s, "r1", build(s))
    assert gate.passed and pub.published and pub.publication_id == 1
    published = sha256(s.reporting_path)

    # A new valid file arrives; the candidate built from it is wrong: reconciliation fails and blocks.
    land(s, "330411_2020-03.csv", HEADER + row("330411", "2020-03", "P2", "1#", "2020-03-08", "800", "400"), 2000)
    run(s, "r2")
    candidate = build(s)
    corrupt_candidate(s, "330411")
    gate, pub = nightly_gate_and_publish(s, "r2", candidate)
    assert not gate.passed and pub is None
    assert [c.check_name for c in gate.blocking] == [RECONCILIATION]
    assert "/validations/gate_reconciliation/" in gate.blocking[0].report_url  # its own page, not the index
    with pytest.raises(GateBlocked, match=RECONCILIATION):
        enforce(gate)
    stage, severity, status, failing, detail = gate_rows(s, "r2")[RECONCILIATION]
    assert (stage, severity, status, failing) == ("gate", "error", "fail", 1)
    assert "330411 2020-03" in detail and "waived" not in detail
    assert sha256(s.reporting_path) == published  # nothing published
    assert open_failures(s)["failures"] == [
        {"check_name": RECONCILIATION, "failing_rows": 1, "detail": detail, "report_url": gate.blocking[0].report_url,
         "waived": False, "waived_by": None, "waiver_review_id": None}]

    # A steward waives the check: the same (still wrong) candidate now passes and is published.
    review_id = record_review(s, "wang.steward", "check", RECONCILIATION, "waive", "known rounding issue, ticket 42")
    assert history(s, "check", RECONCILIATION)[0]["review_id"] == review_id
    assert open_failures(s)["failures"][0]["waived_by"] == "wang.steward"
    assert open_failures(s)["failures"][0]["waiver_review_id"] == review_id
    gate, pub = nightly_gate_and_publish(s, "r3", candidate)
    assert gate.passed
    waived = next(c for c in gate.checks if c.check_name == RECONCILIATION)
    assert waived.status == "fail" and waived.waived_by == "wang.steward"
    assert gate_rows(s, "r3")[RECONCILIATION][2] == "fail"  # recorded as what it is: a failure, waived
    assert waivers_recorded(s, "r3") == {RECONCILIATION: ("wang.steward", review_id)}  # the waiver, as data
    assert "waived" not in gate_rows(s, "r3")[RECONCILIATION][4]  # the detail is the check's own text
    assert pub.published and pub.publication_id == 2
    published = sha256(s.reporting_path)

    # The waiver was for that publication only: the next failure blocks again.
    corrupt_candidate(s, "330411")
    gate, pub = nightly_gate_and_publish(s, "r4", candidate)
    assert not gate.passed and pub is None
    assert [c.check_name for c in gate.blocking] == [RECONCILIATION]
    assert "waived" not in gate_rows(s, "r4")[RECONCILIATION][4] and waivers_recorded(s, "r4") == {}
    assert open_failures(s)["failures"][0]["waived"] is False
    assert sha256(s.reporting_path) == published


# --- dbt results as gate checks ------------------------------------------------------------------------------

def test_dbt_results_map_to_gate_checks():
    checks = {c.check_name: c for c in _dbt_checks(DbtBuild(1, 1.0, [
        node("model", "fct_building", "success"),
        node("test", "not_null_fct_building_unit_code", "pass"),
        node("test", "unique_fct_building_building_key", "fail", failures=3, message="Got 3 results"),
        node("test", "accepted_values_fct_building_use", "warn", severity="warn", failures=2),
        node("unit_test", "fct_building.test_dedup", "fail", message="actual differs from expected"),
        node("model", "fct_indicators_daily", "error", message="Binder Error"),
    ], ""))}
    status = {name: (c.severity, c.status, c.failing_rows) for name, c in checks.items()}
    assert status == {
        "dbt.model.fct_building": ("error", "pass", 0),
        "dbt.test.not_null_fct_building_unit_code": ("error", "pass", 0),
        "dbt.test.unique_fct_building_building_key": ("error", "fail", 3),
        "dbt.test.accepted_values_fct_building_use": ("warn", "warn", 2),
        "dbt.unit_test.fct_building.test_dedup": ("error", "fail", 0),
        "dbt.model.fct_indicators_daily": ("error", "fail", 0),
    }
    assert checks["dbt.test.unique_fct_building_building_key"].detail == bilingual.join(
        "dbt 数据测试 unique_fct_building_building_key 未通过：3 行不符合（以下为 dbt 的原文）：Got 3 results",
        "Got 3 results")  # dbt's own message as dbt wrote it, after a Chinese lead-in
    assert bilingual.part(checks["dbt.model.fct_indicators_daily"].detail, "zh").startswith(
        "dbt 模型 fct_indicators_daily 失败：这是模型本身的问题，由运维人员修复，不能豁免")
    gate = GateResult(list(checks.values()))
    assert {c.check_name for c in gate.blocking} == {"dbt.test.unique_fct_building_building_key",
                                                     "dbt.unit_test.fct_building.test_dedup",
                                                     "dbt.model.fct_indicators_daily"}
    warn_only = GateResult(_dbt_checks(DbtBuild(0, 1.0, [node("model", "m", "success"),
                                                         node("test", "t", "warn", severity="warn", failures=1)], "")))
    assert warn_only.passed
    enforce(warn_only)  # does not raise


def test_a_failing_data_test_blocks_until_waived_and_its_skipped_children_follow_it(data_env):
    s = data_env
    failing = DbtBuild(1, 1.0, [node("test", "not_null_x", "fail", failures=2, message="Got 2 results"),
                                node("model", "fct_child", "skipped"), node("test", "unique_child", "skipped")], "",
                       parents={"model.prefab.fct_child": ["test.prefab.not_null_x"],
                                "test.prefab.unique_child": ["model.prefab.fct_child"]})
    gate = run_gate(s, "r1", failing)
    assert {c.check_name for c in gate.blocking} == {"dbt.test.not_null_x", "dbt.model.fct_child",
                                                     "dbt.test.unique_child"}
    with pytest.raises(GateBlocked, match="dbt.test.not_null_x"):
        enforce(gate)
    # A skipped node has no decision of its own: it follows the failure that made dbt skip it.
    with pytest.raises(NotWaivable, match="skipped"):
        record_review(s, "li", "check", "dbt.test.unique_child", "waive", "it only follows the failure")
    review_id = record_review(s, "li", "check", "dbt.test.not_null_x", "waive", "two test rows, ticket 7")
    assert run_gate(s, "r2", failing).passed
    assert waivers_recorded(s, "r2") == {name: ("li", review_id) for name in
                                         ("dbt.test.not_null_x", "dbt.model.fct_child", "dbt.test.unique_child")}
    record_review(s, "li", "check", "dbt.test.not_null_x", "reopen", "not acceptable after all")
    assert {c.check_name for c in run_gate(s, "r3", failing).blocking} == {
        "dbt.test.not_null_x", "dbt.model.fct_child", "dbt.test.unique_child"}


@pytest.mark.parametrize("resource", ["model", "unit_test"])
def test_a_failure_of_the_project_itself_cannot_be_waived(data_env, resource):
    s = data_env
    failing = DbtBuild(1, 1.0, [node(resource, "fct_building", "error" if resource == "model" else "fail",
                                     message="\x1b[31mBinder Error\x1b[0m: no such column")], "")
    if resource == "unit_test":  # dbt skips the model whose unit test failed
        failing.nodes.append(node("model", "fct_building", "skipped"))
        failing.parents = {"unit_test.prefab.fct_building": ["model.prefab.fct_building"]}
    gate = run_gate(s, "r1", failing)
    assert gate.blocking[0].check_name == f"dbt.{resource}.fct_building"
    detail = gate_rows(s, "r1")[f"dbt.{resource}.fct_building"][4]
    assert bilingual.part(detail, "en") == "Binder Error: no such column"  # no colours
    assert bilingual.part(detail, "zh").endswith("不能豁免（以下为 dbt 的原文）：Binder Error: no such column")
    assert not any(name.startswith("gx.") for name in gate_rows(s, "r1"))  # no reconciliation on a broken build
    with pytest.raises(NotWaivable, match="operator must fix the model"):
        record_review(s, "li", "check", f"dbt.{resource}.fct_building", "waive", "publish anyway")
    # A waiver written past the app (straight into the table) does not let it through either.
    with connect_warehouse(s) as con:
        con.execute("insert into dq.steward_reviews values ('x1', now()::timestamp, 'li', 'check', ?, 'waive', 'n')",
                    [f"dbt.{resource}.fct_building"])
    gate = run_gate(s, "r2", failing)
    assert not gate.passed and waivers_recorded(s, "r2") == {}


# --- record_review and history -------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"decision": "approve"}, "decision must be one of"),
    ({"target_type": "file"}, "target type must be one of"),
    ({"note": "  "}, "note"),
    ({"reviewer": ""}, "reviewer"),
    ({"target_id": "no.such.check"}, "no check named 'no.such.check'"),
    ({"target_type": "submission", "target_id": "S000"}, "no submission 'S000'"),
    ({"target_type": "quarantined_row", "target_id": "S000:3"}, "no quarantined row 3"),
    ({"target_type": "quarantined_row", "target_id": "S000"}, "<submission_id>:<row_number>"),
    ({"decision": "reopen"}, "nothing to reopen"),
])
def test_record_review_rejects_invalid_input(data_env, kwargs, message):
    add_check_result(data_env, "gx.some_check")
    args = {"reviewer": "wang", "target_type": "check", "target_id": "gx.some_check", "decision": "waive",
            "note": "ok"} | kwargs
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        record_review(data_env, **args)
    assert history(data_env) == []


def test_history_is_append_only_and_newest_first(data_env):
    s = data_env
    add_check_result(s, "gx.a")
    add_check_result(s, "gx.b")
    first = record_review(s, "wang", "check", "gx.a", "waive", "first")
    second = record_review(s, "li", "check", "gx.a", "reopen", "second")
    third = record_review(s, "wang", "check", "gx.b", "reject", "third")
    fourth = record_review(s, "zhao", "check", "gx.a", "waive", "fourth")
    assert [r["review_id"] for r in history(s)] == [fourth, third, second, first]
    assert [r["note"] for r in history(s, target_id="gx.a")] == ["fourth", "second", "first"]
    assert [r["note"] for r in history(s, target_type="submission")] == []
    latest = history(s, "check", "gx.a")[0]
    assert (latest["reviewer"], latest["decision"], latest["target_type"]) == ("zhao", "waive", "check")
    times = [r["reviewed_at"] for r in history(s)]
    assert times == sorted(times, reverse=True) and len(set(times)) == 4


def test_quarantined_row_status_follows_the_latest_decision(data_env):
    s = data_env
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
         + row("330402", "2020-03", "P1", "2#", "2020-03-06", "2000", "2500"), 1000)  # row 3: prefab > total
    run(s, "r1")

    def quarantined() -> list[tuple]:
        return warehouse_rows(s, "select submission_id, row_number, status, reviewed_by, review_note "
                                 "from dq.quarantined_rows")

    [(submission_id, row_number, status, _, _)] = quarantined()
    assert (row_number, status) == (3, "open")
    target = f"{submission_id}:{row_number}"
    record_review(s, "wang", "quarantined_row", target, "waive", "typo confirmed by phone; corrected file follows")
    assert quarantined() == [(submission_id, 3, "waived", "wang", "typo confirmed by phone; corrected file follows")]
    record_review(s, "li", "quarantined_row", target, "reopen", "no corrected file after two weeks")
    assert quarantined() == [(submission_id, 3, "open", "li", "no corrected file after two weeks")]
    assert [r["decision"] for r in history(s, "quarantined_row", target)] == ["reopen", "waive"]  # both kept

    record_review(s, "li", "submission", submission_id, "request_resubmission", "please resend with row 3 fixed")
    assert history(s, "submission")[0]["decision"] == "request_resubmission"
    assert review(["waive-row", submission_id, "3", "--reviewer", "zhao", "--note", "fine"]) == 0
    assert quarantined()[0][2:4] == ("waived", "zhao")


# --- the CLI -------------------------------------------------------------------------------------------------

def test_cli(data_env, capsys):
    add_check_result(data_env, "gx.reconciliation_building_count", run_id="r9")
    assert review(["open-failures"]) == 0
    assert "NOT waived" in capsys.readouterr().out
    assert review(["waive-check", "gx.reconciliation_building_count", "--reviewer", "wang", "--note", "ok"]) == 0
    assert "recorded waive on check gx.reconciliation_building_count" in capsys.readouterr().out
    assert review(["open-failures", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["run_id"] == "r9" and result["failures"][0]["waived_by"] == "wang"
    assert review(["history", "--target-id", "gx.reconciliation_building_count"]) == 0
    assert "wang  waive  check gx.reconciliation_building_count  -- ok" in capsys.readouterr().out
    assert review(["history", "--json"]) == 0
    assert [r["decision"] for r in json.loads(capsys.readouterr().out)] == ["waive"]

    assert review(["waive-check", "gx.nope", "--reviewer", "wang", "--note", "ok"]) == 2
    assert "no check named 'gx.nope'" in capsys.readouterr().err
    assert review(["reject-submission", "S1", "--reviewer", "wang", "--note", " "]) == 2
    assert review(["reopen", "check", "gx.reconciliation_building_count", "--reviewer", "li", "--note", "no"]) == 0
    with pytest.raises(SystemExit) as exc:
        review(["waive-check", "gx.reconciliation_building_count", "--note", "no reviewer"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        review(["waive-row", "S1", "three", "--reviewer", "wang", "--note", "x"])
    assert exc.value.code == 2
    assert len(history(data_env)) == 2


# --- skipped nodes: their causes read back from the detail, old (English only) or Chinese first --------------

def test_the_causes_of_a_skip_are_read_from_old_and_bilingual_details():
    causes = ["dbt.test.not_null_x", "dbt.unit_test.fct.t"]
    new = skipped_detail(causes)
    zh, en = new.split(bilingual.SEPARATOR)
    assert zh == ("已跳过：dbt 没有运行它，因为上游的 dbt.test.not_null_x, dbt.unit_test.fct.t 未通过；修复后，下次构建"
                  "会自动重新运行（无需单独处理）")
    assert en == ("skipped: dbt did not run it because dbt.test.not_null_x, dbt.unit_test.fct.t failed upstream; fix "
                  "that and it runs again on the next build (no separate action needed)")
    old = en  # what the gate stored before the details were bilingual
    for detail in (new, old):
        assert skip_causes(detail) == causes and is_skipped(detail)
        assert not may_waive("dbt.model.fct_child", detail) and not may_waive("gx.some_check", detail)
    assert skip_causes(zh) == causes  # a Chinese part alone (an English part cut off) still names them
    unknown = skipped_detail([])
    assert skip_causes(unknown) == [] and skip_causes("skipped: dbt did not run it") == []
    for detail in (None, "", "Got 3 results", bilingual.join("发现 1 处", "1 found: 330402 2020-03 share 120 %")):
        assert skip_causes(detail) is None and not is_skipped(detail)
        assert may_waive("dbt.test.not_null_x", detail)
    blocked = blocked_text([CheckResult("dbt.test.not_null_x", "error", "fail", 2, bilingual.join("两行", "two rows")),
                            CheckResult("dbt.model.fct_child", "error", "fail", 0, new),
                            CheckResult("dbt.model.fct_old", "error", "fail", 0, old)])
    lines = blocked.splitlines()
    assert "- dbt.test.not_null_x：两行（2 行未通过）" in lines and "  two rows (2 failing rows)" in lines
    assert any(line.startswith("- 另有 2 个 dbt 节点因上述失败被跳过") for line in lines)
    assert "fct_child" not in "\n".join(line for line in lines if line.startswith("- dbt."))
