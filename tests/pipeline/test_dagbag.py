"""DagBag integrity: every DAG file imports, and the nightly DAG is wired as the design says."""

from __future__ import annotations

import pytest

from foundation.config import PROJECT_ROOT


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "prefab_nightly" in dagbag.dag_ids


def test_nightly_schedule_and_policy(dagbag):
    dag = dagbag.dags["prefab_nightly"]
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert str(dag.timezone.name) == "Asia/Shanghai"
    assert dag.timetable.expression == "0 2 * * *"
    assert dag.doc_md and "publish" in dag.doc_md
    assert {"prefab", "nightly"} <= set(dag.tags)


def test_nightly_task_chain(dagbag):
    dag = dagbag.dags["prefab_nightly"]
    chain = ["discover", "read", "check", "load", "dbt_build", "gate", "publish", "summary"]
    assert set(dag.task_ids) == set(chain)
    for upstream, downstream in zip(chain, chain[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    # retries only where a retry can help: discovering files that may still be arriving
    assert dag.get_task("discover").retries > 0
    assert all(dag.get_task(t).retries == 0 for t in chain[1:])
    assert [o.name for o in dag.get_task("publish").outlets] == ["prefab_reporting"]


def test_tasks_and_doc_come_from_the_stage_list(dagbag):
    from pipeline.stages import STAGES

    dag = dagbag.dags["prefab_nightly"]
    assert [s.name for s in STAGES] + ["summary"] == [t.task_id for t in dag.topological_sort()]
    for s in STAGES:
        assert dag.get_task(s.name).retries == s.retries
        assert f"**{s.name}** (`{s.function}`" in dag.doc_md


def test_every_task_alerts_on_failure(dagbag):
    from pipeline.alerts import notify_failure

    dag = dagbag.dags["prefab_nightly"]
    for task in dag.tasks:
        callbacks = task.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert notify_failure in callbacks, task.task_id


def test_each_task_is_on_the_queue_of_its_stage(dagbag):
    from foundation.config import settings
    from pipeline.stages import STAGES, queue

    dag, s = dagbag.dags["prefab_nightly"], settings()
    assert {t.task_id: t.queue for t in dag.tasks} == (
        {st.name: queue(st, s) for st in STAGES} | {"summary": s.warehouse_queue})
    assert {t.queue for t in dag.tasks} == {"warehouse", "default"}


def test_publication_and_overdue_alerts_are_attached(dagbag):
    from pipeline.notify import PrefabNotifier

    dag = dagbag.dags["prefab_nightly"]

    def events(task, kind):
        callbacks = getattr(task, f"on_{kind}_callback") or []
        return [c.event for c in (callbacks if isinstance(callbacks, list) else [callbacks])
                if isinstance(c, PrefabNotifier)]

    assert events(dag.get_task("publish"), "success") == ["published"]
    assert events(dag.get_task("summary"), "success") == ["overdue"]
    assert all(events(t, "failure") == ["failed"] for t in dag.tasks)
