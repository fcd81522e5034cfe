"""Manual airflow dag `prefab_reprocess`: the archived files of one slice re-read by today's stages.

Thin wiring only: one task per stage of `pipeline.reprocess.STAGES` (select, then the nightly's stages from
read to publish), then the run's summary. Trigger it with the slice as its conf:

    airflow dags trigger prefab_reprocess --conf '{"kind": "buildings", "unit_code_pattern": "3304*",
        "period_from": "2020-01", "period_to": "2020-12"}'
"""

from __future__ import annotations

from dataclasses import asdict

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from foundation.config import SUBMISSION_KINDS, settings
from ingestion.reprocess import PERIOD_PATTERN, UNIT_CODE_PATTERN
from pipeline.announce import REPORTING
from pipeline.announce import announce as announce_publication
from pipeline.notify import PrefabNotifier
from pipeline.reprocess import STAGES, Stage
from pipeline.stages import queue, run_task

# A reprocessing that publishes updates what the asset's consumers read (prefab_bulletin), as a night does.

DOC = """
### prefab_reprocess
Re-reads the archived files of one slice (kind, unit codes, periods) through today's stages, after a rule,
template or setting was fixed, and publishes through the nightly's own gate. Each file becomes a new version of
its submission; the version it re-reads is superseded in the ledger (nothing is edited). Trigger:

`airflow dags trigger prefab_reprocess --conf '{"kind": "buildings", "unit_code_pattern": "3304*",
"period_from": "2020-01", "period_to": "2020-12"}'`

Runs one at a time; it waits for the warehouse lock like every writer, so it never overlaps a nightly run's
writing stages. See README, "Reprocessing".
"""


def _run_id() -> str:
    return get_current_context()["run_id"]


def _stage_task(stage: Stage):
    @task(task_id=stage.name, retries=stage.retries, retry_delay=stage.retry_delay, doc_md=stage.doc,
          queue=queue(stage, settings()))
    def run(_previous: dict | None = None) -> dict:
        if stage.name == "select":
            return asdict(run_task(stage, settings(), _run_id(), params=dict(get_current_context()["params"])))
        return asdict(run_task(stage, settings(), _run_id()))

    return run


@dag(
    dag_id="prefab_reprocess",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["prefab", "reprocess", "publication"],
    doc_md=DOC,
    default_args={"retries": 0, "on_failure_callback": [PrefabNotifier("failed")]},
    params={
        "kind": Param("buildings", type="string", enum=list(SUBMISSION_KINDS),
                      description="报送种类 submission kind"),
        "unit_code_pattern": Param("*", type="string", pattern=UNIT_CODE_PATTERN,
                                   description="单位代码 unit codes, a glob: 3304*, 330402, 33040?"),
        "period_from": Param("2000-01", type="string", pattern=PERIOD_PATTERN,
                             description="起始统计期 first period: YYYY-MM (buildings) or YYYY"),
        "period_to": Param("2000-01", type="string", pattern=PERIOD_PATTERN,
                           description="截止统计期 last period, included"),
    },
)
def prefab_reprocess():
    @task(queue=settings().warehouse_queue)  # it reads warehouse.duckdb
    def summary(_: dict) -> str:
        from pipeline.summary import summary_text

        text = summary_text(settings(), _run_id())
        print(text)
        return text

    @task(outlets=[REPORTING], queue=settings().shared_queue, on_success_callback=[PrefabNotifier("published")])
    def announce(publication: dict) -> int:
        return announce_publication(publication, lambda: get_current_context()["outlet_events"])

    previous = None
    for stage in STAGES:
        previous = _stage_task(stage)() if previous is None else _stage_task(stage)(previous)
    summary(previous)
    announce(previous)  # the last stage is publish


prefab_reprocess()
