"""Submission checks: validate the rows of a batch of files of one kind with Great Expectations and turn
every failure into a steward-readable reason on the row (its submission and spreadsheet row number).

All new files of a kind are validated together, so a run pays GX's fixed cost once per kind, not per file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from expectations.gx_context import docs_index, gx_modules, run_suite
from expectations.results import CheckResult, format_value
from expectations.rules import INDEX_COLUMNS, RowRule, rules
from ingestion.template import fields

RowKey = tuple[str, int]


@dataclass
class CheckOutcome:
    reasons: dict[RowKey, list[str]] = field(default_factory=dict)  # errors: the row is quarantined
    warnings: dict[RowKey, list[str]] = field(default_factory=dict)  # the row loads; the steward is told
    results: list[CheckResult] = field(default_factory=list)


def _prepare(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A validation frame: numbers as float64 with NaN, text as object with None, context columns added."""
    out = pd.DataFrame({c: frame[c] for c in INDEX_COLUMNS})
    for f in fields(kind):
        col = frame[f.name] if f.name in frame else pd.Series([None] * len(frame), index=frame.index)
        if f.type in ("area", "number", "percent", "year"):
            out[f.name] = pd.to_numeric(col, errors="coerce").astype("float64")
        else:
            out[f.name] = col.astype(object).where(col.notna(), None)
    for c in ("file_unit_code", "file_period", "unit_known", "unit_in_scope"):
        if c in frame:
            out[c] = frame[c].astype(object)
    if kind == "buildings":
        out["start_month"] = [d.strftime("%Y-%m") if d is not None and not pd.isna(d) else None
                              for d in out["start_date"]]
    if kind == "targets":
        out["year_text"] = [str(int(y)) if not pd.isna(y) else None for y in out["year"]]
    return out


def _reason(rule: RowRule, row: dict) -> str:
    class _Values(dict):
        def __missing__(self, key: str) -> str:
            return "(empty)"

    return rule.reason.format_map(_Values({k: format_value(v) for k, v in row.items()}))


def check_batch(kind: str, frame: pd.DataFrame, cell_errors: dict[RowKey, list[str]], gx_dir) -> CheckOutcome:
    """Run the kind's row rules over `frame` (all new files of that kind; columns: submission_id,
    row_number, the template's fields and the context columns) and collect reasons per row.

    `cell_errors` are the reader's reasons (a value that could not be parsed); a rule about the same field
    does not repeat them.
    """
    outcome = CheckOutcome()
    for key, errs in cell_errors.items():
        outcome.reasons.setdefault(key, []).extend(errs)
    kind_rules = rules(kind)
    if frame.empty:
        outcome.results = [CheckResult(f"{kind}.{r.name}", r.severity, "pass", 0, "no rows to check")
                           for r in kind_rules]
        return outcome
    _, gxe, column = gx_modules()
    data = _prepare(kind, frame)
    expectations = []
    for r in kind_rules:
        exp = r.build(gxe, column)
        exp.meta = {"rule": r.name, "meaning": r.meaning, "severity": r.severity}
        expectations.append(exp)
    validation = run_suite(gx_dir, f"{kind}_rows", f"submission_{kind}", expectations, data, INDEX_COLUMNS,
                           meta={"stage": "submission", "kind": kind})
    url = docs_index(gx_dir)
    rows = data.set_index(INDEX_COLUMNS, drop=False)
    by_rule = {r.name: r for r in kind_rules}
    for result in validation.results:
        rule = by_rule[result.expectation_config.meta["rule"]]
        if result.exception_info and result.exception_info.get("raised_exception"):
            raise RuntimeError(f"submission check {kind}.{rule.name} could not run: "
                               f"{result.exception_info.get('exception_message')}")
        failing = result.result.get("unexpected_index_list") or []
        keys = sorted({(item["submission_id"], int(item["row_number"])) for item in failing})
        target = outcome.reasons if rule.severity == "error" else outcome.warnings
        for key in keys:
            already = cell_errors.get(key, [])
            if any(e.startswith(rule.field) or f" {rule.field}" in e or f"({rule.field})" in e for e in already):
                continue  # the reader already said what is wrong with this field
            row = rows.loc[key]
            row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
            target.setdefault(key, []).append(_reason(rule, row.to_dict()))
        files = len({k[0] for k in keys})
        status = "pass" if not keys else ("fail" if rule.severity == "error" else "warn")
        detail = rule.meaning if not keys else f"{rule.meaning}: {len(keys)} rows in {files} files fail"
        outcome.results.append(CheckResult(f"{kind}.{rule.name}", rule.severity, status, len(keys), detail, url))
    parse_failures = [k for k in cell_errors]
    outcome.results.append(CheckResult(
        f"{kind}.values_readable", "error", "fail" if parse_failures else "pass", len(parse_failures),
        "every value can be read as its field's type (number, date, yes/no, code)", None))
    return outcome
