"""Gate test helpers: a nightly run up to the gate and publication, the gate's recorded rows, a corrupted
candidate, a dbt node result."""

from __future__ import annotations

from foundation.db import connect_warehouse
from publishing.build import DbtBuild, DbtNodeResult
from publishing.gate import enforce, run_gate
from publishing.publish import publish
from tests.helpers.warehouse import warehouse_rows

RECONCILIATION = "gx.reconciliation_prefab_floor_area"


def gate_rows(settings, run_id: str) -> dict[str, tuple]:
    rows = warehouse_rows(settings, "select check_name, stage, severity, status, failing_rows, detail "
                                    "from dq.check_results where run_id = ? and stage = 'gate'", [run_id])
    return {r[0]: r[1:] for r in rows}


def nightly_gate_and_publish(settings, run_id: str, dbt_build: DbtBuild):
    """As the DAG does it: gate, enforce, and publish only if the gate passed."""
    gate = run_gate(settings, run_id, dbt_build)
    if not gate.passed:
        return gate, None
    enforce(gate)
    warned = sum(1 for c in gate.checks if c.status == "warn")
    failed = sum(1 for c in gate.checks if c.status == "fail")
    return gate, publish(settings, run_id, checks_passed=len(gate.checks) - failed - warned, checks_warned=warned)


def corrupt_candidate(settings, unit: str) -> None:
    """Make the candidate marts disagree with the accepted raw rows (as a broken model would)."""
    with connect_warehouse(settings) as con:
        changed = con.execute("update marts.fct_prefab_floor_area_monthly set prefab_floor_area_m2 = "
                              "prefab_floor_area_m2 + 1 where unit_code = ? and prefab_floor_area_m2 > 0",
                              [unit]).fetchone()[0]
    assert changed >= 1


def node(resource_type: str, name: str, status: str, severity: str = "error", failures: int = 0,
         message: str | None = None) -> DbtNodeResult:
    return DbtNodeResult(f"{resource_type}.prefab.{name}", resource_type, name, status, failures, severity, message)




def waivers_recorded(settings, run_id: str) -> dict[str, tuple[str, str]]:
    """check_name -> (waived_by, waiver_review_id) of the run's gate results that a waiver let through."""
    rows = warehouse_rows(settings, "select check_name, waived_by, waiver_review_id from dq.check_results "
                                    "where run_id = ? and stage = 'gate' and waived_by is not null", [run_id])
    return {name: (by, review_id) for name, by, review_id in rows}

