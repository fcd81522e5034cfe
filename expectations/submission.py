"""Submission checks: validate the rows of a batch of files of one kind with Great Expectations and turn
every failure into a steward-readable reason on the row (its submission and spreadsheet row number).

All new files of a kind are validated together, so a run pays GX's fixed cost once per kind, not per file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from expectations.gx_context import docs_index, gx_modules, run_suite
from expectations.results import CheckResult
from expectations.rules import INDEX_COLUMNS, RowRule, rules
from ingestion.template import fields

RowKey = tuple[str, int]


@dataclass
class CheckOutcome:
    reasons: dict[RowKey, list[str]] = field(default_factory=dict)  # errors: the row is quarantined
    warnings: dict[RowKey, list[str]] = field(default_factory=dict)  # the row loads; the steward is told
    results: list[CheckResult] = field(default_factory=list)


_NUMERIC = ("area", "number", "percent", "year")
_CONTEXT = ("file_unit_code", "file_period", "unit_known", "unit_in_scope")


def _prepare(kind: str, rows: pa.Table) -> pd.DataFrame:
    """A validation frame built column by column from the work rows, without object columns: numbers as
    float64 with NaN, text as pandas' Arrow-backed strings, dates as Arrow dates, plus the context columns
    the rules compare against."""
    out: dict[str, object] = {c: _column(rows[c]) for c in INDEX_COLUMNS}
    for f in fields(kind):
        if f.name not in rows.column_names:
            out[f.name] = pd.Series(pa.nulls(rows.num_rows, pa.string()), dtype="str")
        elif f.type in _NUMERIC:
            out[f.name] = pc.cast(rows[f.name], pa.float64()).to_numpy()  # nulls become NaN
        else:
            out[f.name] = _column(rows[f.name])
    for c in _CONTEXT:
        if c in rows.column_names:
            out[c] = _column(rows[c])
    if kind == "buildings":
        out["start_month"] = _column(pc.strftime(rows["start_date"], format="%Y-%m"))
    if kind == "targets":
        out["year_text"] = _column(pc.cast(rows["year"], pa.string()))
    return pd.DataFrame(out)


def _column(values: pa.ChunkedArray) -> pd.Series:
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return pd.Series(values, dtype="str")
    if pa.types.is_boolean(values.type) and values.null_count == 0:
        return pd.Series(values.to_numpy())
    return values.to_pandas(types_mapper=pd.ArrowDtype) if pa.types.is_date(values.type) else values.to_pandas()


def _fmt(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return "(empty)"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"
    return str(value)


def _reason(rule: RowRule, row: dict) -> str:
    class _Values(dict):
        def __missing__(self, key: str) -> str:
            return "(empty)"

    return rule.reason.format_map(_Values({k: _fmt(v) for k, v in row.items()}))


def check_batch(kind: str, rows: pa.Table | None, cell_errors: dict[RowKey, list[str]], gx_dir) -> CheckOutcome:
    """Run the kind's row rules over `rows` (all new files of that kind, as the read stage wrote them:
    submission_id, row_number, the template's fields and the context columns) and collect reasons per row.

    `cell_errors` are the reader's reasons (a value that could not be parsed); a rule about the same field
    does not repeat them.
    """
    outcome = CheckOutcome()
    for key, errs in cell_errors.items():
        outcome.reasons.setdefault(key, []).extend(errs)
    kind_rules = rules(kind)
    if rows is None or rows.num_rows == 0:
        outcome.results = [CheckResult(f"{kind}.{r.name}", r.severity, "pass", 0, "no rows to check")
                           for r in kind_rules]
    else:
        _validate(kind, kind_rules, _prepare(kind, rows), cell_errors, gx_dir, outcome)
    parse_failures = list(cell_errors)
    outcome.results.append(CheckResult(
        f"{kind}.values_readable", "error", "fail" if parse_failures else "pass", len(parse_failures),
        "every value can be read as its field's type (number, date, yes/no, code)", None))
    return outcome


def _validate(kind: str, kind_rules: list[RowRule], data: pd.DataFrame, cell_errors: dict[RowKey, list[str]],
              gx_dir, outcome: CheckOutcome) -> None:
    _, gxe, column = gx_modules()
    expectations = []
    for r in kind_rules:
        exp = r.build(gxe, column)
        exp.meta = {"rule": r.name, "meaning": r.meaning, "severity": r.severity}
        expectations.append(exp)
    validation = run_suite(gx_dir, f"{kind}_rows", f"submission_{kind}", expectations, data, INDEX_COLUMNS,
                           meta={"stage": "submission", "kind": kind})
    url = docs_index(gx_dir)
    by_rule = {r.name: r for r in kind_rules}
    failing_keys: dict[str, list[RowKey]] = {}
    for result in validation.results:
        rule = by_rule[result.expectation_config.meta["rule"]]
        if result.exception_info and result.exception_info.get("raised_exception"):
            raise RuntimeError(f"submission check {kind}.{rule.name} could not run: "
                               f"{result.exception_info.get('exception_message')}")
        failing = result.result.get("unexpected_index_list") or []
        failing_keys[rule.name] = sorted({(item["submission_id"], int(item["row_number"])) for item in failing})
    # The values of the failing rows only (for the reasons), looked up once.
    wanted = sorted({k for keys in failing_keys.values() for k in keys})
    values = _row_values(data, wanted)
    for rule in kind_rules:
        keys = failing_keys[rule.name]
        target = outcome.reasons if rule.severity == "error" else outcome.warnings
        for key in keys:
            already = cell_errors.get(key, [])
            if any(e.startswith(rule.field) or f" {rule.field}" in e for e in already):
                continue  # the reader already said what is wrong with this field
            target.setdefault(key, []).append(_reason(rule, values[key]))
        files = len({k[0] for k in keys})
        status = "pass" if not keys else ("fail" if rule.severity == "error" else "warn")
        detail = rule.meaning if not keys else f"{rule.meaning}: {len(keys)} rows in {files} files fail"
        outcome.results.append(CheckResult(f"{kind}.{rule.name}", rule.severity, status, len(keys), detail, url))


def _row_values(data: pd.DataFrame, keys: list[RowKey]) -> dict[RowKey, dict]:
    """(submission, row number) -> the row's values, for the given keys (the first row of a key)."""
    if not keys:
        return {}
    wanted = pd.DataFrame(keys, columns=INDEX_COLUMNS).astype({"submission_id": "str", "row_number": "int64"})
    index = data[INDEX_COLUMNS].reset_index(names="_position")
    found = wanted.merge(index, on=INDEX_COLUMNS, how="left").drop_duplicates(INDEX_COLUMNS)
    picked = data.iloc[found["_position"].to_numpy()]
    return {key: row for key, row in zip(keys, picked.to_dict("records"), strict=True)}
