"""The per-file part of reading, after the grid: columns matched to fields (duplicates, units, unknown
headers), rows classified (blank, title, totals 合计/小计/总计, notes 注：..., data), and totals rows checked
against the data rows they sum."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from foundation import template
from foundation.bilingual import join
from ingestion import normalise as nz
from ingestion.errors import RejectedFile
from ingestion.headers import (
    fold_header,
    header_unit,
    header_unit_factor,
    is_unknown_area_unit,
    match_headers,
    unknown_headers,
)
from ingestion.read.grid import Grid
from ingestion.read.header_row import field_label
from ingestion.read.raw_json import RawSource

EXTRA_SHOWN = 5  # extra cells beyond the header quoted in a quarantine reason
# A column that only numbers the rows (序号) is not template data and does not make a row non-blank.
ROW_INDEX_HEADERS = frozenset(fold_header(h) for h in ("序号", "行号", "No.", "No", "#"))

_TOTALS_RE = r"(?i)(合\s*计|小\s*计|总\s*计|\b(?:sub)?totals?\b)"  # loose: finds the candidate rows
# Strict: a cell that *is* a totals label ('合计', '全县合计：', '南湖区小计(5个项目)', 'Grand total'), not a
# name that happens to contain the word ('总计量站').
_TOTALS_LABEL = re.compile(
    r"(?i)^(?:[\u4e00-\u9fff]{0,8}(?:合\s*计|小\s*计|总\s*计)|(?:grand\s*|sub\s*-?\s*)?totals?)"
    r"\s*(?:[:：]\s*)?(?:[(（].*[)）])?\s*$")
_SUBTOTALS_RE = re.compile(r"(?i)(小\s*计|\bsub\s*-?\s*totals?\b)")
_NOTE_PREFIX_RE = r"(?i)^\s*(?:注\s*\d*\s*[:：.、]|" + "|".join(
    "".join("[:：]" if ch in ":：" else re.escape(ch) for ch in p) for p in template.NOTE_PREFIXES) + ")"
_NOTE_PY = re.compile(_NOTE_PREFIX_RE)
_CANDIDATE_RE = f"(?m)(?:{_TOTALS_RE})|(?:{_NOTE_PREFIX_RE})"

# The fields that identify a data row of each kind. A row with all of them filled is data, whatever its
# first cell says ('Total' is a legal project code; a 备注 column first may start '注：'), and so is a row
# with an area value unless it is a totals row: only rows that carry no data are set aside.
ROW_KEYS = {"buildings": ("project_code", "building_no"), "production_bases": ("base_name", "base_type"),
            "targets": ("unit_code", "year")}


@dataclass
class IgnoredRow:
    """A row set aside, not data: a totals row, a footnote, or an exact copy of an earlier data row."""

    row_number: int
    what: str  # 'totals' | 'note' | 'copy'
    text: str  # the row's non-empty cells, joined with ' | '


@dataclass
class Layout:
    """One file's grid after the per-file work (columns matched to fields, rows classified), before its
    cells are normalised: the batch normalises the cells of many files in one pass per field."""

    grid: Grid
    col_of: dict[str, int]  # field -> grid position
    factors: dict[str, float]  # area field -> factor to m²
    columns: list[pa.ChunkedArray]  # the data rows' cells, one per grid position
    row_numbers: np.ndarray
    data_mask: np.ndarray  # over the grid's rows
    totals_pos: list[int]
    ignored: list[IgnoredRow]
    warnings: list[str]
    errors: dict[int, list[str]]  # reasons found before normalisation (headerless cells, extra cells)
    source: RawSource

    @property
    def n(self) -> int:
        return len(self.row_numbers)


def lay_out(grid: Grid, kind: str) -> Layout:
    """The per-file part of reading: headers, units, row classification; raises RejectedFile."""
    fields = template.fields(kind)
    by_name = {f.name: f for f in fields}
    ncols = len(grid.headers)
    mapping = match_headers(kind, grid.headers)
    warnings: list[str] = []

    # Columns: duplicates, units, unknown headers.
    positions: dict[str, list[int]] = {}
    for i, name in mapping.items():
        positions.setdefault(name, []).append(i)
    dups = {name: ps for name, ps in positions.items() if len(ps) > 1}
    if dups:
        name, ps = next(iter(dups.items()))
        cols = " and ".join(f"{p + 1} '{grid.headers[p]}'" for p in ps)
        cols_zh = "、".join(f"第 {p + 1} 列“{grid.headers[p]}”" for p in ps)
        label = field_label(by_name[name])
        raise RejectedFile(join(f"{cols_zh}都对应字段 {label}：每个字段只能有一列，请删除多余的列后重新报送",
                                f"columns {cols} {'both' if len(ps) == 2 else 'all'} match {label}: keep one column "
                                "per field"))
    col_of = {name: ps[0] for name, ps in positions.items()}
    factors: dict[str, float] = {}
    for name, i in col_of.items():
        f = by_name[name]
        if f.type != "area":
            continue
        if is_unknown_area_unit(grid.headers[i]):
            unit = header_unit(grid.headers[i])
            raise RejectedFile(join(f"第 {i + 1} 列“{grid.headers[i]}”的面积单位为“{unit}”：应为 m²（m2、平方米）"
                                    "或 万m²（万m2、万平方米），请换算后改写表头",
                                    f"column {i + 1} '{grid.headers[i]}' gives its unit as '{unit}': expected m² "
                                    "(m2, 平方米) or 万m² (万m2, 万平方米)"))
        factors[name] = header_unit_factor(grid.headers[i]) or 1.0
    index_cols = {i for i, h in enumerate(grid.headers) if i not in mapping and fold_header(h) in
                  ROW_INDEX_HEADERS}
    for i, h in unknown_headers(kind, grid.headers).items():
        if i not in index_cols:
            warnings.append(join(f"第 {i + 1} 列“{h}”不在{template.SHEET_NAMES[kind][-1]}模板中，已忽略",
                                 f"column {i + 1} '{h}' is not in the {kind} template and was ignored"))
    headerless = [i for i, h in enumerate(grid.headers) if not h]

    # Rows: blank, totals, notes, data.
    key_col = col_of.get(fields[0].name)
    row_key = [(col_of[name], by_name[name].type) for name in ROW_KEYS[kind] if name in col_of]
    if len(row_key) < len(ROW_KEYS[kind]):
        row_key = []  # the key is not complete in any row
    area_cols = [i for name, i in col_of.items() if by_name[name].type == "area"]
    data_mask, ignored, totals_pos = _classify(grid, key_col, index_cols, row_key, area_cols)
    copies, copy_warnings = exact_copies(grid, data_mask, [i for i, _ in row_key], index_cols)
    ignored += copies
    warnings += copy_warnings
    if data_mask.all():
        columns = grid.columns
        row_numbers = grid.row_numbers
        extras = grid.extras
    else:
        keep = pa.array(data_mask)
        columns = [c.filter(keep) for c in grid.columns]
        row_numbers = grid.row_numbers[data_mask]
        newpos = np.cumsum(data_mask) - 1
        extras = {int(newpos[p]): v for p, v in grid.extras.items() if data_mask[p]}
    n = len(row_numbers)
    errors: dict[int, list[str]] = {}

    # Raw JSON: header as written -> cell text as received.
    keys: list[tuple[int, str]] = []
    seen: set[str] = set()
    filled_of: dict[int, np.ndarray] = {}
    for i, h in enumerate(grid.headers):
        if not h:
            if i not in headerless or n == 0:
                continue
            t = pc.utf8_trim_whitespace(columns[i])
            filled = np.flatnonzero(nz.numpy_bools(pc.fill_null(pc.greater(pc.binary_length(t), 0), False)))
            if not len(filled):
                continue
            filled_of[i] = filled
            key = f"column {i + 1}"
        else:
            key = h if h not in seen else f"{h} (column {i + 1})"
        seen.add(key)
        keys.append((i, key))
    source = RawSource([columns[i] for i, _ in keys], [k for _, k in keys], grid.plain_json, extras)
    for i, filled in filled_of.items():
        vals = pc.utf8_trim_whitespace(columns[i]).take(pa.array(filled)).to_pylist()
        for p, v in zip(filled, vals, strict=True):
            errors.setdefault(int(row_numbers[p]), []).append(join(
                f"第 {i + 1} 列的单元格没有表头：{nz.quote_cell(v)}（模板中没有这一列）",
                f"cell in column {i + 1} has no header: {nz.quote_cell(v)} (the template has no such column)"))
    for p, extra in sorted(extras.items()):
        # Every value stays in the row's raw JSON; the reason shows the first few.
        shown = ", ".join(nz.quote_cell(v) for v in extra[:EXTRA_SHOWN])
        shown_zh = f"共 {len(extra):,} 个：{shown}，……" if len(extra) > EXTRA_SHOWN else shown
        if len(extra) > EXTRA_SHOWN:
            shown = f"{len(extra):,} of them: {shown}, ..."
        errors.setdefault(int(row_numbers[p]), []).append(join(
            f"此行的单元格多于表头的 {ncols} 列：多出的值 {shown_zh}",
            f"row has more cells than the header's {ncols} columns: extra values {shown}"))
    return Layout(grid, col_of, factors, columns, row_numbers, data_mask, totals_pos, ignored, warnings, errors,
                   source)


def _classify(grid: Grid, key_col: int | None, index_cols: set[int], row_key: list[tuple[int, str]],
              area_cols: list[int]) -> tuple[np.ndarray, list[IgnoredRow], list[int]]:
    """Data mask, ignored rows and the grid positions of totals rows. A candidate row (a totals word or a
    note prefix near its start) with its row key complete is data; so is a note-like one with an area
    value. `row_key`: (grid position, field type) of the kind's key fields, empty when a key field has no
    column."""
    n = grid.n
    data = np.ones(n, dtype=bool)
    if n == 0:
        return data, [], []
    # Candidates: a totals word or a note prefix in one of the first three cells, found with one regex over
    # the three cells joined by line breaks ('^' then matches at each cell's start; a line break inside a
    # cell can only add candidates, which are checked one by one below).
    first = [pc.fill_null(c, "") for c in grid.columns[:3]]
    joined = first[0] if len(first) == 1 else pc.binary_join_element_wise(*first, "\n")
    cand = nz.numpy_bools(pc.fill_null(pc.match_substring_regex(joined, _CANDIDATE_RE), False)) if first \
        else np.zeros(n, dtype=bool)
    # A blank row, and a totals or note row written further right, have an empty key column.
    k = key_col if key_col is not None else 0
    if k < len(grid.columns):
        t = pc.utf8_trim_whitespace(grid.columns[k])
        cand |= nz.numpy_bools(pc.fill_null(pc.equal(pc.binary_length(t), 0), True))
    positions = np.flatnonzero(cand)
    ignored: list[IgnoredRow] = []
    totals: list[int] = []
    if len(positions) == 0:
        return data, ignored, totals
    idx = pa.array(positions)
    cells = [col.take(idx).to_pylist() for col in grid.columns]
    for j, pos in enumerate(positions):
        row = [(c[j] or "").strip() for c in cells] + grid.extras.get(int(pos), [])
        # A row number in a 序号 column is not content; anything else there (合计, 注：...) is.
        content = [v for i, v in enumerate(row) if v and not (i in index_cols and v.isdigit())]
        if not content:
            data[pos] = False
            continue
        first = content[0]
        text = " | ".join(v for v in row if v)
        # A key cell that is a totals label ('合计' as 单位代码) does not make a key, but in a text field
        # ('Total' as 项目代码) it does.
        keyed = bool(row_key) and all(
            row[i] and not nz.is_missing_word(row[i]) and (t == "text" or not _TOTALS_LABEL.match(row[i]))
            for i, t in row_key)
        if keyed:
            continue
        if _NOTE_PY.search(unicodedata.normalize("NFKC", first)):
            if any(row[i] and not nz.is_missing_word(row[i]) for i in area_cols):
                continue
            data[pos] = False
            ignored.append(IgnoredRow(int(grid.row_numbers[pos]), "note", text))
        elif _TOTALS_LABEL.match(first) or any(_TOTALS_LABEL.match(v) for v in row[:3]):
            data[pos] = False
            ignored.append(IgnoredRow(int(grid.row_numbers[pos]), "totals", text))
            totals.append(int(pos))
    return data, ignored, totals


COPIES_NAMED = 20  # rows repeated exactly that a file's warnings name one by one


def exact_copies(grid: Grid, data_mask: np.ndarray, key_cols: list[int], index_cols: set[int]
                 ) -> tuple[list[IgnoredRow], list[str]]:
    """Data rows whose every cell (surrounding spaces aside; a 序号 column aside; extra cells included)
    equals an earlier data row's: each such copy leaves `data_mask` (the first of them counts once) and is
    set aside as an ignored row 'copy', kept with its text; one warning per repeated row names the copies.
    Rows that share a key but differ in some cell are not copies: the submission checks quarantine them.

    Vectorised: only rows whose key (or, without key columns, whole row) occurs more than once are looked
    at one by one."""
    positions = np.flatnonzero(data_mask)
    if len(positions) < 2 or not grid.columns:
        return [], []
    idx = pa.array(positions)
    cols = [pc.utf8_trim_whitespace(pc.fill_null(grid.columns[i].take(idx), ""))
            for i in (key_cols or [i for i in range(len(grid.columns)) if i not in index_cols])]
    joined = cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, "\x1f")
    codes = pc.fill_null(joined.combine_chunks().dictionary_encode().indices, -1).to_numpy()
    counts = np.bincount(codes[codes >= 0]) if len(codes) else np.zeros(0, dtype=np.int64)
    candidates = positions[(codes >= 0) & (counts[np.maximum(codes, 0)] > 1)]
    if len(candidates) == 0:
        return [], []
    cidx = pa.array(candidates)
    cells = [col.take(cidx).to_pylist() for col in grid.columns]
    first_of: dict[tuple, int] = {}
    groups: dict[int, list[int]] = {}
    ignored: list[IgnoredRow] = []
    for j, pos in enumerate(candidates):
        row = [(c[j] or "").strip() for c in cells]
        extra = tuple(v.strip() for v in grid.extras.get(int(pos), []))
        key = (tuple(v for i, v in enumerate(row) if i not in index_cols), extra)
        first = first_of.setdefault(key, int(pos))
        if first == pos:
            continue
        data_mask[pos] = False
        rn = int(grid.row_numbers[pos])
        groups.setdefault(first, []).append(rn)
        ignored.append(IgnoredRow(rn, "copy", " | ".join(v for v in [*row, *extra] if v)))
    warnings = []
    for first, rows in list(groups.items())[:COPIES_NAMED]:
        rn = int(grid.row_numbers[first])
        which = f"row {rows[0]} is an exact copy" if len(rows) == 1 else \
            f"rows {', '.join(map(str, rows))} are exact copies"
        warnings.append(join(f"第 {'、'.join(map(str, rows))} 行与第 {rn} 行完全相同：该行只计一次，重复的行未载入",
                             f"{which} of row {rn}: the row is counted once, "
                             f"the {'copy is' if len(rows) == 1 else 'copies are'} not loaded"))
    if len(groups) > COPIES_NAMED:
        more, copies = len(groups) - COPIES_NAMED, sum(len(r) for r in list(groups.values())[COPIES_NAMED:])
        warnings.append(join(f"……另有 {more:,} 行被完全重复：各计一次，{copies:,} 个重复行未载入",
                             f"... and {more:,} more rows repeated exactly: counted once each, {copies:,} copies "
                             "not loaded"))
    return ignored, warnings


def check_totals(grid: Grid, kind: str, totals_pos: list[int], data_mask: np.ndarray, col_of: dict[str, int],
                  factors: dict[str, float], own_unit: dict[str, np.ndarray]) -> list[str]:
    """Each area column of each totals row against the data rows it sums: all of them for 合计/总计,
    those since the previous totals row for 小计. Tolerance: half a unit of the last decimal written
    (at least 0.005), in the column's own unit."""
    warnings: list[str] = []
    data_positions = np.flatnonzero(data_mask)
    cumulative = {name: np.concatenate(([0.0], np.cumsum(np.nan_to_num(v, nan=0.0))))
                  for name, v in own_unit.items()}
    stated_cells = {name: grid.columns[col_of[name]].take(pa.array(totals_pos)).to_pylist() for name in own_unit}
    previous = -1
    for k, pos in enumerate(totals_pos):
        rn = int(grid.row_numbers[pos])
        label = _first_label(grid, pos)
        subtotal = bool(_SUBTOTALS_RE.search(label))
        lo = int(np.searchsorted(data_positions, previous, side="right")) if subtotal else 0
        hi = int(np.searchsorted(data_positions, pos, side="left")) if subtotal else len(data_positions)
        previous = pos
        count = hi - lo
        for name in own_unit:
            header = grid.headers[col_of[name]]
            unit = "万m²" if factors[name] == 10000 else "m²"
            stated_text = (stated_cells[name][k] or "").strip()
            if nz.is_missing_word(stated_text):
                continue
            stated, _, errs = nz.parse_numbers(pa.chunked_array([pa.array([stated_text])]))
            if errs is not None:
                warnings.append(join(f"合计行（第 {rn} 行，“{label}”）：“{header}”列填写的 "
                                     f"{nz.quote_cell(stated_text)} 不是数字，未与数据行核对",
                                     f"totals row {rn} ('{label}'): column '{header}' states "
                                     f"{nz.quote_cell(stated_text)}, which is not a number; not compared with the "
                                     "data rows"))
                continue
            total = float(cumulative[name][hi] - cumulative[name][lo])
            tolerance = max(0.005, 0.5 * 10.0 ** -_decimals(stated_text)) + 1e-9 * max(1.0, abs(total))
            if abs(float(stated[0]) - total) > tolerance:
                rows = f"{count} data row{'' if count == 1 else 's'}"
                scope = f"the {rows} since the previous totals row" if subtotal else f"the {rows}"
                scope_zh = f"上一合计行之后的 {count} 个数据行" if subtotal else f"全部 {count} 个数据行"
                warnings.append(join(f"合计行（第 {rn} 行，“{label}”）：“{header}”列填写 {stated_text} {unit}，"
                                     f"但{scope_zh}之和为 {_fmt(total)} {unit}",
                                     f"totals row {rn} ('{label}'): column '{header}' states {stated_text} {unit} "
                                     f"but {scope} sum to {_fmt(total)} {unit}"))
    return warnings


def _first_label(grid: Grid, pos: int) -> str:
    for col in grid.columns[:3]:
        v = (col[pos].as_py() or "").strip()
        if _TOTALS_LABEL.match(v):
            return v
    for col in grid.columns:
        v = (col[pos].as_py() or "").strip()
        if v:
            return v
    return ""


def _fmt(x: float) -> str:
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _decimals(text: str) -> int:
    s = unicodedata.normalize("NFKC", text).strip().rstrip("%").strip()
    return len(s.split(".", 1)[1]) if "." in s else 0
