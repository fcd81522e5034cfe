"""The failure alert: one JSON line in the alerts file per failed task (with the message the channels send);
when the data folder cannot be written (often the failure itself), the alert goes to a fallback file and the task
log says where, never lost."""

from __future__ import annotations

import json
import logging
import types

from pipeline.alerts import FALLBACK_NAME
from pipeline.notify import PrefabNotifier

notify_failure = PrefabNotifier("failed").notify  # every DAG's failure callback


def context(task_id: str = "load", error: str = "disk full") -> dict:
    ti = types.SimpleNamespace(dag_id="prefab_nightly", task_id=task_id)
    return {"task_instance": ti, "run_id": "scheduled__2026-12-01", "exception": RuntimeError(error)}


def test_an_alert_is_one_json_line_in_the_data_folder(data_env):
    notify_failure(context())
    notify_failure(context("gate", "publication blocked by failing checks"))
    lines = (data_env.data_dir / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["task_id"], r["error"]) for r in records] == [
        ("load", "disk full"), ("gate", "publication blocked by failing checks")]
    assert {r["dag_id"] for r in records} == {"prefab_nightly"}
    assert {r["run_id"] for r in records} == {"scheduled__2026-12-01"}
    assert {r["event"] for r in records} == {"failed"} and all(r["sent"] == [] for r in records)  # nothing set
    assert records[0]["message"].startswith("运行 scheduled__2026-12-01（prefab_nightly）在任务「load」失败")
    assert "disk full" in records[0]["message"] and "下一步" in records[0]["message"]


def test_an_unwritable_data_folder_does_not_lose_the_alert(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be", encoding="utf-8")
    monkeypatch.setenv("PREFAB_DATA_DIR", str(blocker / "data"))  # nothing below a file can be created (as root too)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    with caplog.at_level(logging.CRITICAL, logger="pipeline.alerts"):
        notify_failure(context("discover", "could not create the warehouse"))
    fallback = tmp_path / "airflow" / FALLBACK_NAME
    record = json.loads(fallback.read_text(encoding="utf-8"))
    assert (record["task_id"], record["error"]) == ("discover", "could not create the warehouse")
    assert str(fallback) in caplog.text and "could not create the warehouse" in caplog.text


def test_the_alerts_file_can_be_put_elsewhere(data_env, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFAB_ALERTS_FILE", str(tmp_path / "monitoring" / "prefab.jsonl"))
    notify_failure(context())
    assert json.loads((tmp_path / "monitoring" / "prefab.jsonl").read_text(encoding="utf-8"))["task_id"] == "load"
    assert not (data_env.data_dir / "alerts.jsonl").exists()
