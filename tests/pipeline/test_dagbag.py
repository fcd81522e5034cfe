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
    assert set(dag.task_ids) == set(chain) | {"announce"}
    for upstream, downstream in zip(chain, chain[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    # retries only where a retry can help: discovering files that may still be arriving
    assert dag.get_task("discover").retries > 0
    assert all(dag.get_task(t).retries == 0 for t in chain[1:])
    # the asset is updated by `announce` (skipped when nothing new was published), never by publish itself
    assert dag.get_task("publish").outlets == []
    assert [o.name for o in dag.get_task("announce").outlets] == ["prefab_reporting"]
    assert dag.get_task("announce").upstream_task_ids == {"publish"}


def test_announce_is_skipped_when_publish_published_nothing(dagbag):
    """publish succeeds without publishing when a rebuild gives the published content again: no asset event."""
    from airflow.sdk.exceptions import AirflowSkipException

    announce = dagbag.dags["prefab_nightly"].get_task("announce")
    record = {"published": False, "publication_id": 3, "reason": "the published content is unchanged"}
    with pytest.raises(AirflowSkipException, match="no new publication .the published content is unchanged."):
        announce.python_callable(record)


def test_bulletin_dag_is_scheduled_on_the_published_asset(dagbag):
    nightly, bulletin = dagbag.dags["prefab_nightly"], dagbag.dags["prefab_bulletin"]
    (asset,) = nightly.get_task("announce").outlets
    assert [(a.name, a.uri) for a in bulletin.timetable.asset_condition.objects] == [(asset.name, asset.uri)]
    assert bulletin.max_active_runs == 1 and bulletin.catchup is False


def test_tasks_and_doc_come_from_the_stage_list(dagbag):
    from pipeline.stages import STAGES

    dag = dagbag.dags["prefab_nightly"]
    order = [t.task_id for t in dag.topological_sort() if t.task_id != "announce"]
    assert [s.name for s in STAGES] + ["summary"] == order
    for s in STAGES:
        assert dag.get_task(s.name).retries == s.retries
        assert f"**{s.name}** (`{s.function}`" in dag.doc_md


def _events(task, kind: str) -> list[str]:
    from pipeline.notify import PrefabNotifier

    callbacks = getattr(task, f"on_{kind}_callback") or []
    return [c.event for c in (callbacks if isinstance(callbacks, list) else [callbacks])
            if isinstance(c, PrefabNotifier)]


def test_every_task_alerts_on_failure(dagbag):
    for dag_id in ("prefab_nightly", "prefab_reprocess", "prefab_bulletin"):
        for task in dagbag.dags[dag_id].tasks:
            assert _events(task, "failure") == ["failed"], (dag_id, task.task_id)


def test_each_task_is_on_the_queue_of_its_stage(dagbag):
    """The tasks that open warehouse.duckdb on the warehouse queue (one worker), the others on the shared one."""
    from foundation.config import settings
    from pipeline import reprocess
    from pipeline.stages import STAGES, queue

    s = settings()
    nightly, again, bulletin = (dagbag.dags[d] for d in ("prefab_nightly", "prefab_reprocess", "prefab_bulletin"))
    assert {t.task_id: t.queue for t in nightly.tasks} == (
        {st.name: queue(st, s) for st in STAGES} | {"summary": s.warehouse_queue, "announce": s.shared_queue})
    assert {t.task_id: t.queue for t in again.tasks} == (
        {st.name: queue(st, s) for st in reprocess.STAGES} | {"summary": s.warehouse_queue,
                                                               "announce": s.shared_queue})
    assert {t.task_id: t.queue for t in bulletin.tasks} == {"bulletins": s.shared_queue}
    assert {t.queue for t in nightly.tasks} == {"warehouse", "default"}
    assert nightly.get_task("read").queue == "default" and again.get_task("select").queue == "warehouse"


def test_publication_and_overdue_alerts_are_attached(dagbag):
    """A publication is announced by announce's success (skipped when publish made none), in both DAGs that
    publish; the overdue units after the nightly summary; no other success alerts."""
    for dag_id in ("prefab_nightly", "prefab_reprocess"):
        dag = dagbag.dags[dag_id]
        assert _events(dag.get_task("announce"), "success") == ["published"]
        assert _events(dag.get_task("publish"), "success") == []
    nightly = dagbag.dags["prefab_nightly"]
    assert _events(nightly.get_task("summary"), "success") == ["overdue"]
    assert {t.task_id for t in nightly.tasks if _events(t, "success")} == {"announce", "summary"}
