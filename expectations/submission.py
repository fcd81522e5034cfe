"""Submission checks: the row rules of a kind (`expectations.rules`) over the new files' rows, every failure
turned into a steward-readable reason on the row (its submission and spreadsheet row number).

The new files of a kind are checked in the read stage's batches (many files each), holding one batch in memory
at a time. Each batch is screened with Arrow kernels (`expectations.screen`); a batch where a rule fails is
validated by Great Expectations, the validator of record (its result is stored and rendered as Data Docs), and
GX's verdict must equal the screen's. A clean batch costs the screen only.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from expectations import screen
from expectations.gx_context import gx_modules, run_suite
from expectations.results import EMPTY, CheckResult, format_value
from expectations.rules import INDEX_COLUMNS, RowRule, rules
from foundation import bilingual
from foundation.template import fields
from ingestion.normalise import empty_column

RowKey = tuple[str, int]
log = logging.getLogger(__name__)


@dataclass
class CheckOutcome:
    reasons: dict[RowKey, list[str]] = field(default_factory=dict)  # errors: the row is quarantined
    warnings: dict[RowKey, list[str]] = field(default_factory=dict)  # the row loads; the steward is told
    results: list[CheckResult] = field(default_factory=list)
    # The names of the `error` rules each quarantined row fails (`READABLE` for a value the reader could not
    # parse), kept with the row (`dq.quarantine.rules`): what decides whether a steward may accept it.
    rules: dict[RowKey, list[str]] = field(default_factory=dict)


READABLE = "values_readable"  # the rule name of the reader's reasons (a value that could not be parsed)

_NUMERIC = ("area", "number", "percent", "year")


def _columns_used(rules_: list[RowRule]) -> set[str]:
    """Every column a rule reads (its columns and row condition) or its reason shows."""
    used = set(INDEX_COLUMNS)
    for rule in rules_:
        used |= set(rule.columns())
        for template in (rule.reason, rule.reason_zh):
            used |= {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return used


class _Batch:
    """The columns of a batch of work rows that the rules read: the rows' own, and the context columns derived
    from them (`start_month` of a building, `year_text` of a target), each built once."""

    def __init__(self, kind: str, rows: pa.Table) -> None:
        self.kind, self.rows, self.n = kind, rows, rows.num_rows
        self.fields = {f.name: f for f in fields(kind)}
        self.types = {name: f.type for name, f in self.fields.items()}
        self._columns: dict[str, pa.Array | None] = {}

    def column(self, name: str) -> pa.Array | None:
        """The column as one array (derived ones dictionary-encoded); None if the batch has no such column."""
        if name not in self._columns:
            self._columns[name] = self._build(name)
        return self._columns[name]

    def plain(self, name: str) -> pa.Array:
        values = self.column(name)
        return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values

    def _build(self, name: str) -> pa.Array | None:
        if self.kind == "buildings" and name == "start_month":
            return _encoded(self.rows["start_date"], lambda d: pc.strftime(d, format="%Y-%m"))
        if self.kind == "targets" and name == "year_text":
            return _encoded(self.rows["year"], lambda d: pc.cast(d, pa.string()))
        if name in self.rows.column_names:
            return self.rows[name].combine_chunks()
        if name in self.fields:  # a field no file of the batch has: all missing, of the field's type
            return pa.array(empty_column(self.fields[name], self.n))
        return None


def _prepare(batch: _Batch, used: set[str], compared: set[str]) -> pd.DataFrame:
    """A validation frame of the `used` columns, built column by column from the work rows without object
    columns (GX fingerprints the whole frame before validating it, and hashing object or Arrow-backed
    columns costs seconds per million rows): numbers as float64 with NaN, dates as datetime64, text as
    categoricals; the text columns that rules compare with each other (`compared`) share one category set,
    as pandas compares categoricals only then."""
    types = batch.types
    arrays = {c: batch.column(c) for c in used if batch.column(c) is not None}
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
    """The rule's reason for the row, in Chinese and in English (`foundation.bilingual`)."""
    class _Values(dict):
        def __init__(self, values: dict, empty: str):
            super().__init__(values)
            self.empty = empty

        def __missing__(self, key: str) -> str:
            return self.empty

    english = rule.reason.format_map(_Values({k: format_value(v) for k, v in row.items()}, EMPTY["en"]))
    if not rule.reason_zh:
        return english
    shown_zh = {k: format_value(v, "zh") for k, v in row.items()}
    return bilingual.join(rule.reason_zh.format_map(_Values(shown_zh, EMPTY["zh"])), english)


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
        outcome.rules.setdefault(key, []).append(READABLE)
    kind_rules = rules(kind)
    failing: dict[str, set[RowKey]] = {r.name: set() for r in kind_rules}
    pages: dict[str, str] = {}  # rule -> the Data Docs page of the first batch it failed in
    checked = 0
    for rows in batches:
        if rows.num_rows:
            _validate(kind, kind_rules, rows, cell_errors, gx_dir, outcome, failing, pages)
            checked += rows.num_rows
    outcome.rules = {key: sorted(set(names)) for key, names in outcome.rules.items()}
    for rule in kind_rules:
        url = pages.get(rule.name)
        keys = failing[rule.name]
        files = len({k[0] for k in keys})
        status = "pass" if not keys else ("fail" if rule.severity == "error" else "warn")
        if not checked:
            detail = bilingual.join("没有可检查的行", "no rows to check")
        elif not keys:
            detail = bilingual.join(rule.meaning_zh, rule.meaning) if rule.meaning_zh else rule.meaning
        else:
            detail = bilingual.join(f"{rule.meaning_zh}：{files} 个文件中 {len(keys)} 行未通过",
                                    f"{rule.meaning}: {len(keys)} rows in {files} files fail")
        outcome.results.append(CheckResult(f"{kind}.{rule.name}", rule.severity, status, len(keys), detail, url))
    if checked:
        parse_failures = list(cell_errors)
        outcome.results.append(CheckResult(
            f"{kind}.values_readable", "error", "fail" if parse_failures else "pass", len(parse_failures),
            bilingual.join("每个值都能按其字段的类型读取（数字、日期、是/否、代码）",
                           "every value can be read as its field's type (number, date, yes/no, code)"), None))
    return outcome


def _validate(kind: str, kind_rules: list[RowRule], rows: pa.Table, cell_errors: dict[RowKey, list[str]],
              gx_dir, outcome: CheckOutcome, failing: dict[str, set[RowKey]], pages: dict[str, str]) -> None:
    """Validate one batch; add its failing rows to `failing` (per rule) and their reasons to `outcome`.

    The Arrow pre-screen (`expectations.screen`) runs first; a batch with a failing row is then validated by
    Great Expectations, the validator of record, whose verdict must be the screen's; where they disagree (a
    bug of the screen) GX's verdict is used, with a logged warning, and a rule GX could not run keeps the
    screen's: nothing a file holds fails the run here."""
    batch = _Batch(kind, rows)
    masks = {r.name: screen.failing(r, batch.plain, batch.n) for r in kind_rules}
    if not any(mask.any() for mask in masks.values()):
        return
    screened = {name: _keys(batch, mask) for name, mask in masks.items()}
    failing_keys, data, page = _validate_with_gx(kind, kind_rules, batch, gx_dir)
    disagree = [name for name in failing_keys if failing_keys[name] != screened[name]]
    if disagree:  # a bug in expectations/screen.py, never the file's fault: GX's verdict stands
        log.warning("submission checks of %s: the pre-screen and Great Expectations disagree on %s (a bug in "
                    "expectations/screen.py); Great Expectations' verdict is used", kind, ", ".join(disagree))
    for name in set(screened) - set(failing_keys):  # a rule GX could not run: the screen's verdict stands
        failing_keys[name] = screened[name]
    # The values of the failing rows only (for the reasons), looked up once.
    wanted = sorted({k for keys in failing_keys.values() for k in keys})
    values = _row_values(data, wanted)
    for rule in kind_rules:
        keys = failing_keys[rule.name]
        failing[rule.name].update(keys)
        if keys and page:
            pages.setdefault(rule.name, page)
        target = outcome.reasons if rule.severity == "error" else outcome.warnings
        for key in keys:
            if rule.severity == "error":
                outcome.rules.setdefault(key, []).append(rule.name)
            already = [bilingual.part(e, "en") for e in cell_errors.get(key, [])]
            if any(e.startswith(rule.field) or f" {rule.field}" in e or f"({rule.field})" in e for e in already):
                continue  # the reader already said what is wrong with this field
            target.setdefault(key, []).append(_reason(rule, values[key]))


def _keys(batch: _Batch, mask: np.ndarray) -> list[RowKey]:
    """The (submission, row number) of the rows of `mask`, in order."""
    where = pa.array(np.flatnonzero(mask))
    sids = batch.column("submission_id").take(where).to_pylist()
    numbers = batch.column("row_number").take(where).to_pylist()
    return sorted({(str(s), int(r)) for s, r in zip(sids, numbers, strict=True)})


def _validate_with_gx(kind: str, kind_rules: list[RowRule], batch: _Batch, gx_dir
                      ) -> tuple[dict[str, list[RowKey]], pd.DataFrame, str | None]:
    """(rule -> its failing rows, the validation frame, its Data Docs page) from a GX checkpoint run over the
    batch; the run is stored and its page built."""
    _, gxe, column = gx_modules()
    expectations = []
    for r in kind_rules:
        exp = r.build(gxe, column)
        exp.meta = {"rule": r.name, "meaning": r.meaning, "severity": r.severity}
        expectations.append(exp)
    compared = {c for r in kind_rules for c in (r.kwargs.get("column_A"), r.kwargs.get("column_B")) if c}
    data = _prepare(batch, _columns_used(kind_rules), compared)
    run = run_suite(gx_dir, f"{kind}_rows", f"submission_{kind}", expectations, data, INDEX_COLUMNS,
                    meta={"stage": "submission", "kind": kind}, docs_on_failure_only=True)
    validation = run.validation
    by_rule = {r.name: r for r in kind_rules}
    failing_keys: dict[str, list[RowKey]] = {}
    for result in validation.results:
        rule = by_rule[result.expectation_config.meta["rule"]]
        if result.exception_info and result.exception_info.get("raised_exception"):
            log.warning("submission check %s.%s could not run in Great Expectations (%s); the pre-screen's "
                        "verdict is used", kind, rule.name, result.exception_info.get("exception_message"))
            continue
        unexpected = result.result.get("unexpected_index_list") or []
        failing_keys[rule.name] = sorted({(item["submission_id"], int(item["row_number"])) for item in unexpected})
    return failing_keys, data, run.page_url


def _row_values(data: pd.DataFrame, keys: list[RowKey]) -> dict[RowKey, dict]:
    """(submission, row number) -> the row's values, for the given keys (the first row of a key)."""
    if not keys:
        return {}
    wanted = pd.DataFrame(keys, columns=INDEX_COLUMNS).astype({"submission_id": "str", "row_number": "int64"})
    index = data[INDEX_COLUMNS].reset_index(names="_position")
    found = wanted.merge(index, on=INDEX_COLUMNS, how="left").drop_duplicates(INDEX_COLUMNS)
    picked = data.iloc[found["_position"].to_numpy()]
    return {key: row for key, row in zip(keys, picked.to_dict("records"), strict=True)}
