"""Nightly airflow dag `prefab_nightly`: county submissions -> audited reporting database.

Thin wiring only: one task per stage of `pipeline.stages.STAGES`, in its order, then the run's summary.
"""

from __future__ import annotations

from dataclasses import asdict

import pendulum
from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from foundation.config import settings
from foundation.skip import NothingToDo
from pipeline.announce import REPORTING
from pipeline.announce import announce as announce_publication
from pipeline.notify import PrefabNotifier
from pipeline.stages import STAGES, Stage, markdown, queue, run_task

DOC = f"""
### prefab_nightly
Loads the county submissions that arrived in the landing zone (`PREFAB_LANDING_DIR`) and publishes the
`reporting` database analysts query (`PREFAB_DATA_DIR/reporting.duckdb`), only if every blocking check passed.
One task per stage of `pipeline.stages.STAGES`:

{markdown()}
{len(STAGES) + 1}. **summary** (`pipeline.summary.summary_text`): what was loaded, rejected and published;
beside it, **announce**: updates the `prefab_reporting` asset (which schedules `prefab_bulletin`) only when
publish made a new publication, and is skipped otherwise.
"""


def _run_id() -> str:
    return get_current_context()["run_id"]


def _stage_task(stage: Stage):
    @task(task_id=stage.name, retries=stage.retries, retry_delay=stage.retry_delay, doc_md=stage.doc,
          queue=queue(stage, settings()))
    def run(_previous: dict | None = None) -> dict:
        try:
            return asdict(run_task(stage, settings(), _run_id()))
        except NothingToDo as e:  # skipped in the UI; the tasks after it are skipped by their trigger rule
            raise AirflowSkipException(str(e)) from e

    return run


@dag(
    dag_id="prefab_nightly",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["prefab", "nightly", "publication"],
    doc_md=DOC,
    default_args={"retries": 0, "on_failure_callback": [PrefabNotifier("failed")]},
)
def prefab_nightly():
    # Also after a skipped build (nothing changed), never after a failure. It reads warehouse.duckdb (so does the
    # overdue alert), which only the warehouse queue's host holds.
    @task(trigger_rule="none_failed", queue=settings().warehouse_queue,
          on_success_callback=[PrefabNotifier("overdue")])
    def summary(_: dict | None) -> str:
        from pipeline.summary import summary_text

        text = summary_text(settings(), _run_id())
        print(text)
        return text

    # Skipped when publish made no new publication: then nothing is announced either.
    @task(outlets=[REPORTING], queue=settings().shared_queue, on_success_callback=[PrefabNotifier("published")])
    def announce(publication: dict) -> int:
        return announce_publication(publication, lambda: get_current_context()["outlet_events"])

    previous, records = None, {}
    for stage in STAGES:
        previous = _stage_task(stage)() if previous is None else _stage_task(stage)(previous)
        records[stage.name] = previous
    summary(previous)
    announce(records["publish"])


prefab_nightly()
