"""Airflow dag `prefab_bulletin`: the bulletins (通报) of the province and of every city, for each new
publication of the reporting database.

Scheduled on the `prefab_reporting` asset, which `prefab_nightly`'s `announce` task updates only when it made a
new publication. Idempotent per publication (`bulletin.render.write_publication` leaves a bulletin already made
from the newest publication as it is), one run at a time: asset events from backfills or reruns
(apache/airflow#52665) queue runs that find nothing to do, instead of writing the same bulletins again.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from foundation.config import settings
from pipeline.announce import REPORTING
from pipeline.notify import PrefabNotifier


@dag(
    dag_id="prefab_bulletin",
    schedule=[REPORTING],
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["prefab", "bulletin", "publication"],
    doc_md=__doc__,
    default_args={"retries": 1, "on_failure_callback": [PrefabNotifier("failed")]},
)
def prefab_bulletin():
    @task(queue=settings().shared_queue)  # it reads reporting.duckdb only: any worker with the data volume
    def bulletins() -> list[dict]:
        """`bulletin.render.write_publication`: every province's and city's bulletin of the newest publication."""
        from bulletin.render import write_publication

        written = write_publication(settings())
        for w in written:
            print(f"{w.unit_code} {w.as_of} publication {w.publication_id}: "
                  f"{'written' if w.written else 'already made'} {w.folder}")
        return [{"unit_code": w.unit_code, "as_of": w.as_of.isoformat(), "publication_id": w.publication_id,
                 "folder": str(w.folder), "written": w.written} for w in written]

    bulletins()


prefab_bulletin()
