"""A run's checks arranged for a person to act on: failures first (each with the dbt nodes it made dbt skip
listed under it, never as decisions of their own), then warnings, then the passing checks (collapsed on the
page); each failure says whether a steward may waive it (data checks) or an operator must fix the model (the
project's own failures: publishing.gate.may_waive decides, and the gate and steward.decisions enforce it), and
links to the units, periods and files it is about.

Where the links come from: a gate check's detail names its examples as `<unit_code> <YYYY-MM>` (the
reconciliation, the range and plausibility checks); a submission check (`<kind>.<rule>`) is about the rows of the
run's files that its rule's field made the readers quarantine (or load with a warning).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from expectations.rules import rules
from foundation.config import SUBMISSION_KINDS
from publishing.gate import may_waive, project_resource, skip_causes
from steward.messages import plain

UNIT_PERIOD = re.compile(r"\b(\d{6}) (\d{4}-\d{2})\b")
MAX_LINKS = 12


def _ledger(**filters: object) -> str:
    return "/ledger?" + urlencode({k: v for k, v in filters.items() if v not in (None, "")})


def _rule_field(kind: str, rule_name: str) -> str | None:
    try:
        return next((r.field for r in rules(kind) if r.name == rule_name), None)
    except (KeyError, ValueError):
        return None


def links(check: dict, run_id: str) -> list[dict]:
    """What a failing or warned check is about, as ledger links: [{"label", "href"}]."""
    found: list[dict] = []
    kind, _, rule_name = check["check_name"].partition(".")
    if check["stage"] == "submission" and kind in SUBMISSION_KINDS:
        warned = check["status"] == "warn"
        field = None if rule_name == "values_readable" else _rule_field(kind, rule_name)
        found.append({"label": None, "href": _ledger(run=run_id, kind=kind, warnings=1 if warned else None,
                                                     quarantined=None if warned else 1, row_reason=field)})
        return found
    seen = set()
    for unit, period in UNIT_PERIOD.findall(check.get("detail") or ""):
        if (unit, period) not in seen and len(seen) < MAX_LINKS:
            seen.add((unit, period))
            found.append({"label": f"{unit} {period}", "href": _ledger(unit=unit, period=period)})
    return found


def arrange(checks: list[dict], run_id: str) -> dict:
    """{"failures", "warnings", "passing", "orphans"}: failures and warnings as items with `detail` cleaned,
    `project` (the dbt resource type of a project failure, else None), `waivable`, `skipped` (the checks dbt
    skipped because of this one) and `links`; orphans are skipped checks whose cause is not among the failures."""
    items = [{**c, "detail": plain(c.get("detail") or "")} for c in checks]
    failing = [c for c in items if c["status"] == "fail"]
    skipped = {c["check_name"]: skip_causes(c["detail"]) for c in failing if skip_causes(c["detail"]) is not None}
    causes = [c for c in failing if c["check_name"] not in skipped]
    by_name = {c["check_name"]: c for c in causes}
    for c in causes:
        c.update(project=project_resource(c["check_name"]), skipped=[], links=links(c, run_id),
                 waivable=c["stage"] == "gate" and c["severity"] == "error" and may_waive(c["check_name"],
                                                                                          c["detail"]))
    orphans = []
    for c in failing:
        if c["check_name"] not in skipped:
            continue
        owner = next((by_name[name] for name in skipped[c["check_name"]] if name in by_name), None)
        (owner["skipped"] if owner else orphans).append(c)
    warnings = [{**c, "project": None, "skipped": [], "links": links(c, run_id), "waivable": False}
                for c in items if c["status"] == "warn"]
    order = {"gate": 0, "submission": 1}
    causes.sort(key=lambda c: (c["project"] is None, order.get(c["stage"], 2), c["check_name"]))
    return {"failures": causes, "warnings": warnings, "orphans": orphans,
            "passing": [c for c in items if c["status"] == "pass"]}
