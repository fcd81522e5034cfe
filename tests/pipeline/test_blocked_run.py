"""When the gate blocks, an operator reads a short list of what failed and the next step (the steward page of
the run, the commands), Chinese first, in the task log, the alert and `make demo`'s last lines; the task still
fails (a SystemExit, which Airflow's task runner logs as "Task exited" without a traceback)."""

from __future__ import annotations

import json
import logging
import types

import pytest

from demo.__main__ import failure_text
from expectations.results import CheckResult
from pipeline.notify import PrefabNotifier
from pipeline.stages import Stage, StageFailed, run_task
from publishing.gate import SKIPPED_PREFIX, GateBlocked, GateResult, enforce

DATA_CHECK = CheckResult("gx.reconciliation_prefab_floor_area", "error", "fail", 1,
                         "1 unit-months differ between reporting and accepted rows, e.g. 330402 2020-03")
UNIT_TEST = CheckResult("dbt.unit_test.fct_prefab_floor_area_monthly.test_rolls_up", "error", "fail", 0,
                        "\x1b[31mFailure in unit_test test_rolls_up\x1b[0m\n\nactual differs from expected: "
                        + "x" * 1000)
SKIPPED = [CheckResult(f"dbt.model.m{i}", "error", "fail", 0, SKIPPED_PREFIX + "dbt did not run it") for i in range(3)]
RUN_ID = "manual__2026-12-02T01:00:00+00:00"


def _message(checks: list[CheckResult], settings=None, run_id=None) -> str:
    with pytest.raises(GateBlocked) as blocked:
        enforce(GateResult(checks), settings, run_id)
    return str(blocked.value)


def test_the_message_lists_what_failed_then_the_steward_page_and_commands(data_env):
    text = _message([DATA_CHECK, CheckResult("gx.ok", "error", "pass", 0, "fine")], data_env, RUN_ID)
    lines = text.splitlines()
    assert lines[0].startswith("发布被阻止：1 项阻断性检查未通过") and "publication blocked" in lines[1]
    assert f"- {DATA_CHECK.check_name}: {DATA_CHECK.detail} (1 failing rows)" in lines
    assert "gx.ok" not in text  # passing checks are not listed
    page = "http://127.0.0.1:8765/runs/manual__2026-12-02T01%3A00%3A00%2B00%3A00"
    assert any(line.startswith("- 数据问题") and page in line for line in lines)
    assert "python -m steward review waive-check" in text and "make demo" in text
    assert "模型问题" not in text  # no model failed: no model step
    assert len(lines) <= 12


def test_a_failed_unit_test_is_for_an_operator_and_its_skipped_nodes_take_one_line(data_env):
    text = _message([UNIT_TEST, *SKIPPED], data_env, RUN_ID)
    lines = text.splitlines()
    listed = [line for line in lines if line.startswith("- dbt.")]
    assert len(listed) == 1 and "\x1b" not in text  # terminal colour codes gone
    assert len(listed[0]) < 400  # the detail cut short (the whole of it is in dq.check_results)
    assert listed[0].startswith(f"- {UNIT_TEST.check_name}: Failure in unit_test test_rolls_up actual differs")
    assert any("另有 3 个 dbt 节点" in line and "and 3 dbt nodes skipped because of the failures above" in line
               for line in lines)
    assert any(line.startswith("- 模型问题") and "不能豁免" in line for line in lines)
    assert str(data_env.data_dir / "dbt" / "logs" / "dbt.log") in text
    assert "数据问题" not in text  # nothing for a steward to waive


def blocked_stage(settings, run_id):
    enforce(GateResult([DATA_CHECK]), settings, run_id)


def broken_stage(settings, run_id):
    raise RuntimeError("disk full")


def test_the_task_fails_without_a_traceback_and_the_alert_has_the_message(data_env, caplog):
    stage = Stage("gate", f"{__name__}.blocked_stage", "blocks")
    with caplog.at_level(logging.ERROR, logger="pipeline.stages"), pytest.raises(StageFailed) as failed:
        run_task(stage, data_env, RUN_ID)
    assert isinstance(failed.value, SystemExit) and not isinstance(failed.value, Exception)
    assert failed.value.code == 1 and failed.value.__cause__ is None and failed.value.__suppress_context__
    message = str(failed.value)
    assert [r.getMessage() for r in caplog.records] == message.splitlines()  # the log ends with the list
    assert all(r.exc_info is None for r in caplog.records)
    ti = types.SimpleNamespace(dag_id="prefab_nightly", task_id="gate")
    PrefabNotifier("failed").notify({"task_instance": ti, "run_id": RUN_ID, "exception": failed.value})
    alert = json.loads((data_env.data_dir / "alerts.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert alert["error"] == message and alert["event"] == "gate_blocked"
    assert alert["subject"] == "【装配式建筑统计】发布被拦截：1 项阻断性检查未通过" and message in alert["message"]
    # `make demo` ends with that alert's message and where the whole log is.
    log_path = data_env.data_dir / "demo-airflow.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text("...\n", encoding="utf-8")
    end = failure_text([alert], log_path)
    assert "夜间运行失败于任务 gate" in end and message in end and str(log_path) in end
    assert "Traceback" not in end


def test_other_failures_are_raised_as_they_are(data_env):
    with pytest.raises(RuntimeError, match="disk full"):
        run_task(Stage("load", f"{__name__}.broken_stage", "breaks"), data_env, RUN_ID)
