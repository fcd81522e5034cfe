"""Submission checks: validate the rows of a batch of files of one kind with Great Expectations and turn
every failure into a steward-readable reason on the row (its submission and spreadsheet row number).

The new files of a kind are validated in the read stage's batches (many files each), so a run pays GX's fixed
cost once per batch, not per file, and holds one batch in memory at a time.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


_NUMERIC = ("area", "number", "percent", "year")


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return {s for v in value.values() for s in _strings(v)}
    if isinstance(value, list | tuple):
        return {s for v in value for s in _strings(v)}
    return set()


def _columns_used(rules_: list[RowRule], expectations: list[Any]) -> set[str]:
    """Every column an expectation reads (its columns and row condition) or a reason shows."""
    used = set(INDEX_COLUMNS)
    for rule, exp in zip(rules_, expectations, strict=True):
        used |= _strings(exp.configuration.kwargs)
        used |= {name for _, name, _, _ in string.Formatter().parse(rule.reason) if name}
    return used


def _prepare(kind: str, rows: pa.Table, used: set[str], compared: set[str]) -> pd.DataFrame:
    """A validation frame of the `used` columns, built column by column from the work rows without object
    columns (GX fingerprints the whole frame before validating it, and hashing object or Arrow-backed
    columns costs seconds per million rows): numbers as float64 with NaN, dates as datetime64, text as
    categoricals; the text columns that rules compare with each other (`compared`) share one category set,
    as pandas compares categoricals only then."""
    derived = {}  # context columns the rules of a kind compare against
    if kind == "buildings":
        derived["start_month"] = lambda: _encoded(rows["start_date"], lambda d: pc.strftime(d, format="%Y-%m"))
    if kind == "targets":
        derived["year_text"] = lambda: _encoded(rows["year"], lambda d: pc.cast(d, pa.string()))
    types = {f.name: f.type for f in fields(kind)}
    arrays: dict[str, pa.Array] = {}
    for c in used:
        if c in derived:
            arrays[c] = derived[c]()
        elif c in rows.column_names:
            arrays[c] = rows[c].combine_chunks()
        elif c in types:
            arrays[c] = pa.nulls(rows.num_rows, pa.string())
    for c, values in arrays.items():
        if types.get(c) not in _NUMERIC and _is_text(values.type):
            arrays[c] = values.dictionary_encode()
    categories = sorted({v for c in compared & set(arrays) if pa.types.is_dictionary(arrays[c].type)
                         for v in arrays[c].dictionary.to_pylist() if v is not None})
    out: dict[str, Any] = {}
    for c in [*INDEX_COLUMNS, *sorted(set(arrays) - set(INDEX_COLUMNS))]:
        values = arrays[c]
        if types.get(c) in _NUMERIC:
            out[c] = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)  # nulls become NaN
        elif pa.types.is_date(values.type):
            out[c] = pc.cast(values, pa.timestamp("s")).to_numpy(zero_copy_only=False)  # nulls become NaT
        elif pa.types.is_boolean(values.type):
            out[c] = (pd.array(values.to_pylist(), dtype="boolean") if values.null_count
                      else values.to_numpy(zero_copy_only=False))
        elif pa.types.is_dictionary(values.type):
            codes = pc.fill_null(values.indices, -1).to_numpy(zero_copy_only=False)
            cat = pd.Categorical.from_codes(codes, categories=values.dictionary.to_pylist())
            out[c] = cat.set_categories(categories) if c in compared else cat
        else:
            out[c] = values.to_numpy(zero_copy_only=False)
    return pd.DataFrame(out)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _encoded(values: pa.ChunkedArray, fn) -> pa.DictionaryArray:
    """`fn` applied once per distinct value (dates and years repeat a lot), as a dictionary array."""
    encoded = values.combine_chunks().dictionary_encode()
    mapped = fn(encoded.dictionary).dictionary_encode()  # distinct inputs can map to one output
    return pa.DictionaryArray.from_arrays(pc.take(mapped.indices, encoded.indices), mapped.dictionary)


def _reason(rule: RowRule, row: dict) -> str:
    class _Values(dict):
        def __missing__(self, key: str) -> str:
            return "(empty)"

    return rule.reason.format_map(_Values({k: format_value(v) for k, v in row.items()}))


def check_batch(kind: str, batches: Iterable[pa.Table], cell_errors: dict[RowKey, list[str]],
                gx_dir) -> CheckOutcome:
    """Run the kind's row rules over the read stage's `batches` of rows (submission_id, row_number, the
    template's fields and the context columns; a file's rows are all in one batch) and collect reasons per
    row. One batch is in memory at a time: each is validated on its own, and the rules' results are summed
    over the batches.

    `cell_errors` are the reader's reasons (a value that could not be parsed); a rule about the same field
    does not repeat them.
    """
    outcome = CheckOutcome()
    for key, errs in cell_errors.items():
        outcome.reasons.setdefault(key, []).extend(errs)
    kind_rules = rules(kind)
    failing: dict[str, set[RowKey]] = {r.name: set() for r in kind_rules}
    checked = 0
    for rows in batches:
        if rows.num_rows:
            _validate(kind, kind_rules, rows, cell_errors, gx_dir, outcome, failing)
            checked += rows.num_rows
    url = docs_index(gx_dir) if checked else None
    for rule in kind_rules:
        keys = failing[rule.name]
        files = len({k[0] for k in keys})
        status = "pass" if not keys else ("fail" if rule.severity == "error" else "warn")
        detail = (rule.meaning if checked else "no rows to check") if not keys else \
            f"{rule.meaning}: {len(keys)} rows in {files} files fail"
        outcome.results.append(CheckResult(f"{kind}.{rule.name}", rule.severity, status, len(keys), detail, url))
    if checked:
        parse_failures = list(cell_errors)
        outcome.results.append(CheckResult(
            f"{kind}.values_readable", "error", "fail" if parse_failures else "pass", len(parse_failures),
            "every value can be read as its field's type (number, date, yes/no, code)", None))
    return outcome


def _validate(kind: str, kind_rules: list[RowRule], rows: pa.Table, cell_errors: dict[RowKey, list[str]],
              gx_dir, outcome: CheckOutcome, failing: dict[str, set[RowKey]]) -> None:
    """Validate one batch; add its failing rows to `failing` (per rule) and their reasons to `outcome`."""
    _, gxe, column = gx_modules()
    expectations = []
    for r in kind_rules:
        exp = r.build(gxe, column)
        exp.meta = {"rule": r.name, "meaning": r.meaning, "severity": r.severity}
        expectations.append(exp)
    compared = {c for e in expectations for c in (e.configuration.kwargs.get("column_A"),
                                                  e.configuration.kwargs.get("column_B")) if c}
    data = _prepare(kind, rows, _columns_used(kind_rules, expectations), compared)
    validation = run_suite(gx_dir, f"{kind}_rows", f"submission_{kind}", expectations, data, INDEX_COLUMNS,
                           meta={"stage": "submission", "kind": kind}, docs_on_failure_only=True)
    by_rule = {r.name: r for r in kind_rules}
    failing_keys: dict[str, list[RowKey]] = {}
    for result in validation.results:
        rule = by_rule[result.expectation_config.meta["rule"]]
        if result.exception_info and result.exception_info.get("raised_exception"):
            raise RuntimeError(f"submission check {kind}.{rule.name} could not run: "
                               f"{result.exception_info.get('exception_message')}")
        unexpected = result.result.get("unexpected_index_list") or []
        failing_keys[rule.name] = sorted({(item["submission_id"], int(item["row_number"])) for item in unexpected})
    # The values of the failing rows only (for the reasons), looked up once.
    wanted = sorted({k for keys in failing_keys.values() for k in keys})
    values = _row_values(data, wanted)
    for rule in kind_rules:
        keys = failing_keys[rule.name]
        failing[rule.name].update(keys)
        target = outcome.reasons if rule.severity == "error" else outcome.warnings
        for key in keys:
            already = cell_errors.get(key, [])
            if any(e.startswith(rule.field) or f" {rule.field}" in e or f"({rule.field})" in e for e in already):
                continue  # the reader already said what is wrong with this field
            target.setdefault(key, []).append(_reason(rule, values[key]))


def _row_values(data: pd.DataFrame, keys: list[RowKey]) -> dict[RowKey, dict]:
    """(submission, row number) -> the row's values, for the given keys (the first row of a key)."""
    if not keys:
        return {}
    wanted = pd.DataFrame(keys, columns=INDEX_COLUMNS).astype({"submission_id": "str", "row_number": "int64"})
    index = data[INDEX_COLUMNS].reset_index(names="_position")
    found = wanted.merge(index, on=INDEX_COLUMNS, how="left").drop_duplicates(INDEX_COLUMNS)
    picked = data.iloc[found["_position"].to_numpy()]
    return {key: row for key, row in zip(keys, picked.to_dict("records"), strict=True)}
