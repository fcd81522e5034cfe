"""Nightly airflow dag `prefab_nightly`: county submissions -> audited reporting database.

Thin wiring only: every task calls one function of the project's packages.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, get_current_context, task

from foundation.config import settings
from foundation.lock import warehouse_lock
from pipeline.alerts import notify_failure

# A logical URI: where the file lives (PREFAB_DATA_DIR) may change without the asset becoming another one.
REPORTING = Asset(name="prefab_reporting", uri="prefab://reporting/reporting.duckdb")

DOC = """
### prefab_nightly
Loads the county submissions that arrived in the landing zone (`PREFAB_LANDING_DIR`) and publishes the
`reporting` database analysts query (`PREFAB_DATA_DIR/reporting.duckdb`), only if every blocking check passed.

1. **discover**: new files are archived by hash and listed;
2. **read**: each file is parsed and normalised (encodings, headers, units, dates);
3. **check**: Great Expectations submission checks, one batch per kind;
4. **load**: ledger, quarantine and raw tables in one transaction (corrections replace their slice);
5. **dbt_build**: staging -> intermediate -> marts, with contracts, data tests and unit tests;
6. **gate**: dbt results, GX reconciliation and the checks of `expectations/gate_rules.py` recorded in
   `dq.check_results`; a blocking (`error`) failure fails the run, `warn` results are logged and never block;
7. **publish**: a new reporting file is built and swapped in atomically;
8. **summary**: what was loaded, rejected and published.
"""


def _run_id() -> str:
    return get_current_context()["run_id"]


WRITER_WAIT_SECONDS = 600  # a CLI run or another DAG writing the warehouse: wait for it, then fail naming it


@dag(
    dag_id="prefab_nightly",
    schedule="0 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=["prefab", "nightly", "publication"],
    doc_md=DOC,
    default_args={"retries": 0, "on_failure_callback": notify_failure},
)
def prefab_nightly():
    @task(retries=2, retry_delay=pendulum.duration(minutes=2))  # a file still being copied settles
    def discover() -> dict:
        from ingestion.stages import discover

        with warehouse_lock(settings(), owner=_run_id(), wait_seconds=WRITER_WAIT_SECONDS):
            return discover(settings(), _run_id())

    @task
    def read(_: dict) -> dict:
        from ingestion.stages import read

        return read(settings(), _run_id())

    @task
    def check(_: dict) -> dict:
        from ingestion.stages import check

        return check(settings(), _run_id())

    @task
    def load(_: dict) -> dict:
        from ingestion.stages import load

        with warehouse_lock(settings(), owner=_run_id(), wait_seconds=WRITER_WAIT_SECONDS):
            return load(settings(), _run_id())

    @task
    def dbt_build(_: dict) -> dict:
        from publishing.build import build

        with warehouse_lock(settings(), owner=_run_id(), wait_seconds=WRITER_WAIT_SECONDS):
            result = build(settings())
        return {"returncode": result.returncode, "seconds": round(result.seconds, 1), "nodes": len(result.nodes)}

    @task
    def gate(_: dict) -> dict:
        from publishing.gate import enforce, gate_summary, run_gate

        with warehouse_lock(settings(), owner=_run_id(), wait_seconds=WRITER_WAIT_SECONDS):
            result = run_gate(settings(), _run_id())
        enforce(result)
        return gate_summary(result)

    @task(outlets=[REPORTING])
    def publish(gate_result: dict) -> dict:
        from publishing.publish import publish

        passed = gate_result["checks"] - len(gate_result["failed"]) - gate_result["warned"]
        with warehouse_lock(settings(), owner=_run_id(), wait_seconds=WRITER_WAIT_SECONDS):
            pub = publish(settings(), _run_id(), checks_passed=passed, checks_warned=gate_result["warned"])
        return {"published": pub.published, "publication_id": pub.publication_id, "reason": pub.reason}

    @task
    def summary(_: dict) -> str:
        from pipeline.summary import summary_text

        text = summary_text(settings(), _run_id())
        print(text)
        return text

    summary(publish(gate(dbt_build(load(check(read(discover())))))))


prefab_nightly()
