"""The publication gate: every check on the candidate marts, recorded in `dq.check_results`.

Blocking (`error`) failures stop publication unless a steward has waived that check since the last
publication; `warn` results never block. Checks: every dbt node (models must build, data tests and
unit tests pass) and the Great Expectations reconciliation of the marts against the accepted raw rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pandas as pd

from expectations.results import CheckResult
from warehouse.config import Settings
from warehouse.db import connect_warehouse
from warehouse.dbt import DbtBuild, last_build


@dataclass
class GateResult:
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def blocking(self) -> list[CheckResult]:
        return [c for c in self.checks if c.severity == "error" and c.status == "fail" and not c.waived_by]

    @property
    def passed(self) -> bool:
        return not self.blocking


def _dbt_checks(build: DbtBuild) -> list[CheckResult]:
    checks = []
    for n in build.nodes:
        if n.status in ("success", "pass"):
            status = "pass"
        elif n.status == "warn":
            status = "warn"
        else:
            status = "fail"
        detail = n.message or n.status
        checks.append(CheckResult(f"dbt.{n.resource_type}.{n.name}", "warn" if status == "warn" else n.severity,
                                status, n.failures, detail[:2000]))
    return checks


RECONCILIATION_SQL = """
with accepted as (
    select unit_code, period as month, count(*) as buildings, sum(prefab_floor_area_m2) as prefab
    from (select *, row_number() over (partition by project_code, building_no
                                        order by received_at desc, submission_id desc) as rn
          from raw.buildings) where rn = 1
    group by all
), published as (
    select unit_code, month, sum(building_count) as buildings, sum(prefab_floor_area_m2) as prefab
    from marts.fct_prefab_floor_area_monthly
    where unit_code in (select unit_code from accepted)
    group by all
)
select coalesce(a.unit_code, p.unit_code) as unit_code, coalesce(a.month, p.month) as month,
    coalesce(a.buildings, 0) as accepted_buildings, coalesce(p.buildings, 0) as published_buildings,
    coalesce(a.prefab, 0)::double as accepted_prefab_m2, coalesce(p.prefab, 0)::double as published_prefab_m2
from accepted as a full join published as p on a.unit_code = p.unit_code and a.month = p.month
"""


def _reconciliation(settings: Settings) -> list[CheckResult]:
    """Reporting totals equal the accepted raw rows, per unit and month (validated with GX)."""
    from expectations.gx_context import docs_index, gx_modules, run_suite

    with connect_warehouse(settings, read_only=True) as con:
        frame = con.execute(RECONCILIATION_SQL).df()
    if frame.empty:
        return [CheckResult("gx.reconciliation", "error", "pass", 0, "no accepted building rows yet")]
    frame["row_key"] = frame["unit_code"] + " " + pd.to_datetime(frame["month"]).dt.strftime("%Y-%m")
    _, gxe, _ = gx_modules()
    expectations = [
        gxe.ExpectColumnPairValuesToBeEqual(column_A="accepted_buildings", column_B="published_buildings",
                                            meta={"check": "reconciliation_building_count"}),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="accepted_prefab_m2", column_B="published_prefab_m2",
                                            meta={"check": "reconciliation_prefab_floor_area"}),
    ]
    result = run_suite(settings.gx_dir, "candidate_reconciliation", "gate_reconciliation", expectations, frame,
                       ["row_key"], meta={"stage": "gate"})
    url = docs_index(settings.gx_dir)
    checks = []
    for r in result.results:
        failing = r.result.get("unexpected_index_list") or []
        keys = [i["row_key"] for i in failing]
        detail = ("reporting totals equal the accepted raw rows per unit and month" if not keys else
                  f"{len(keys)} unit-months differ between reporting and accepted rows, e.g. {', '.join(keys[:5])}")
        checks.append(CheckResult(f"gx.{r.expectation_config.meta['check']}", "error",
                                "pass" if r.success else "fail", len(keys), detail, url))
    return checks


def _waivers(con) -> dict[str, str]:
    """Checks a steward waived since the last publication: check_name -> reviewer."""
    rows = con.execute("""
        select target_id, reviewer from (
            select *, row_number() over (partition by target_id order by reviewed_at desc, review_id desc) as rn
            from dq.steward_reviews where target_type = 'check')
        where rn = 1 and decision = 'waive'
          and reviewed_at > coalesce((select max(published_at) from dq.publication_log), '1970-01-01')
    """).fetchall()
    return dict(rows)


class GateBlocked(Exception):
    """Raised when blocking checks failed: the run ends failed and nothing is published."""


def run_gate(settings: Settings, run_id: str, build: DbtBuild | None = None) -> GateResult:
    """Evaluate every gate check on the candidate (the last dbt build unless given) and record them."""
    gate = GateResult(_dbt_checks(build or last_build(settings)))
    if not any(c.status == "fail" and c.check_name.startswith("dbt.model.") for c in gate.checks):
        gate.checks += _reconciliation(settings)
    now = datetime.now(UTC).replace(tzinfo=None)
    with connect_warehouse(settings) as con:
        waivers = _waivers(con)
        for c in gate.checks:
            if c.status == "fail" and c.check_name in waivers:
                c.waived_by = waivers[c.check_name]
                c.detail = f"{c.detail} (waived by steward {c.waived_by})"
            con.execute("insert into dq.check_results values (?, ?, 'gate', ?, ?, ?, ?, ?, ?)",
                        [run_id, c.check_name, c.severity, c.status, c.failing_rows, c.detail, now, c.report_url])
    return gate


def gate_summary(gate: GateResult) -> dict:
    return {"passed": gate.passed, "checks": len(gate.checks),
            "failed": [asdict(c) for c in gate.checks if c.status == "fail"],
            "warned": sum(1 for c in gate.checks if c.status == "warn")}


def enforce(gate: GateResult) -> None:
    if gate.blocking:
        lines = [f"- {c.check_name}: {c.detail} ({c.failing_rows} failing rows)" for c in gate.blocking]
        raise GateBlocked("publication blocked by failing checks (waive or fix them, then rerun):\n"
                          + "\n".join(lines))
