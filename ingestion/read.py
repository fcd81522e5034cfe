"""Read one submission file (CSV or XLSX) into a normalised frame, per the county submission template.

`read_submission(path, kind)` finds the header row (up to 10 title lines above it), matches headers in
Chinese or English, sets aside totals rows (合计/小计/总计) and footnotes (注：...), and normalises every
template field (see `ingestion.normalise` for the dtypes). Cell-level problems become reasons per row
number; file-level problems raise `RejectedFile`.

CSV fast path: the bytes are validated as UTF-8 (or transcoded from UTF-16/GB18030 to UTF-8), the header
is found with the csv module on the first lines, and the data rows are parsed by pyarrow's multi-threaded
CSV reader with every column as text, then normalised column-wise (in two threads). Files with irregular
rows (more or fewer cells than the header, whitespace-only lines, blank lines in a file that also has
quoted values, bare CR line ends) take an exact but slower path through the csv module.

Many files: `read_batch(paths, kind)` does the per-file part (decoding, header, row classification) file
by file and then normalises each field's cells of all the files in one vectorised pass, into one frame:
a run of thousands of small files does not pay the normalisation's fixed cost per file.
`read_submission` is a batch of one.

Row numbers are those a spreadsheet user sees: 1-based, counting title lines, the header and blank lines
(a quoted value with a line break stays one row). Blank rows (every cell empty, or only a 序号 number)
are skipped and are not rows received.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from foundation import template
from ingestion import normalise as nz
from ingestion.errors import RejectedFile
from ingestion.xlsx_guard import check_workbook

HEADER_SEARCH_ROWS = 11  # the header may be preceded by up to 10 title or note lines
DELIMITERS = (",", "\t")
EXTRA_SHOWN = 5  # extra cells beyond the header quoted in a quarantine reason
# A column that only numbers the rows (序号) is not template data and does not make a row non-blank.
ROW_INDEX_HEADERS = frozenset(nz.fold_header(h) for h in ("序号", "行号", "No.", "No", "#"))

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


@dataclass
class IgnoredRow:
    row_number: int
    what: str  # 'totals' | 'note'
    text: str  # the row's non-empty cells, joined with ' | '


@dataclass
class ReadResult:
    kind: str
    frame: pd.DataFrame
    errors: dict[int, list[str]]
    ignored: list[IgnoredRow]
    warnings: list[str]
    encoding: str | None
    sheet: str | None
    header_row: int
    headers: dict[str, str] = field(default_factory=dict)  # canonical field -> header as written
    unit_factors: dict[str, float] = field(default_factory=dict)  # area field -> factor to m² applied

    _raw_source: _RawSource | None = field(default=None, repr=False, compare=False)

    @property
    def rows_received(self) -> int:
        """Data rows plus recognised totals/note rows (blank lines are not rows)."""
        return len(self.frame) + len(self.ignored)

    def raw_json(self, row_numbers: Iterable[int]) -> dict[int, str]:
        """Row number -> the row's raw JSON, for data rows of the frame (whether or not it was read with
        raw=True). Unknown row numbers raise KeyError."""
        wanted = [int(r) for r in row_numbers]
        numbers = self.frame["row_number"].to_numpy()
        positions = np.searchsorted(numbers, wanted)
        for r, p in zip(wanted, positions, strict=True):
            if p >= len(numbers) or numbers[p] != r:
                raise KeyError(f"row {r} is not a data row of this file")
        if "raw" in self.frame.columns:
            texts = self.frame["raw"].to_numpy()[positions].tolist()
        else:
            assert self._raw_source is not None
            texts = self._raw_source.build(np.asarray(positions, dtype=np.int64)).to_pylist()
        return dict(zip(wanted, texts, strict=True))


@dataclass
class _Grid:
    """Cells as text, before classification: one arrow string column per header position."""

    headers: list[str]
    header_row: int  # 1-based
    columns: list[pa.ChunkedArray]
    row_numbers: np.ndarray  # int64, 1-based, as a spreadsheet user counts rows
    extras: dict[int, list[str]]  # grid position -> non-empty cells beyond the header width
    encoding: str | None = None
    sheet: str | None = None
    plain_json: bool = False  # True when no cell can need JSON escaping (checked on the bytes)

    @property
    def n(self) -> int:
        return len(self.row_numbers)


# ----------------------------------------------------------------------------------------------------
# Entry point


def read_submission(path: Path, kind: str, max_bytes: int | None = None, *, raw: bool = True,
                    max_unzipped_bytes: int | None = None) -> ReadResult:
    """Read and normalise one submission file; raise RejectedFile when it cannot be read as a whole.

    With `raw=False` the frame has no 'raw' column and `ReadResult.raw_json(row_numbers)` builds it for the
    rows that need it (the quarantined ones): on a million-row file the JSON of every row is about three
    times the file's size in memory and half of the reading time.

    An XLSX file is checked for a decompression bomb first (`ingestion.xlsx_guard`; `max_unzipped_bytes`
    bounds what its parts may declare unpacked in all).
    """
    if kind not in template.KIND_FIELDS:
        raise ValueError(f"unknown submission kind {kind!r}")
    return _finish(_grid(Path(path), kind, max_bytes, max_unzipped_bytes), kind, raw)


# ----------------------------------------------------------------------------------------------------
# Header row


def _examples(kind: str) -> str:
    req = [f for f in template.fields(kind) if f.required]
    return ", ".join(f"{f.zh}/{f.name}" for f in req[:4]) + ", ..."


def _label(f: template.Field) -> str:
    return f"{f.zh}/{f.name}"


class _HeaderSearch:
    """The outcome of looking for the header row in the first lines of one reading."""

    def __init__(self, kind: str, records: list[list[str]]) -> None:
        self.index: int | None = None
        self.best: tuple[int, set[str]] | None = None
        required = {f.name for f in template.fields(kind) if f.required}
        for i, rec in enumerate(records[:HEADER_SEARCH_ROWS]):
            names = set(nz.match_headers(kind, rec).values())
            if required <= names:
                self.index = i
                return
            if len(names) >= 3 and (self.best is None or len(names) > len(self.best[1])):
                self.best = (i, names)

    @property
    def score(self) -> int:
        if self.index is not None:
            return 1_000_000
        return len(self.best[1]) if self.best else 0

    def reject(self, kind: str, where: str = "") -> RejectedFile:
        if self.best is not None:
            row, names = self.best
            missing = [_label(f) for f in template.fields(kind) if f.required and f.name not in names]
            return RejectedFile(f"header row {row + 1}{where} has no column for {', '.join(missing)} "
                                f"(required by the {kind} template)")
        return RejectedFile(f"no header row found in the first {HEADER_SEARCH_ROWS} lines{where}: "
                            f"expected headers like {_examples(kind)}")


# ----------------------------------------------------------------------------------------------------
# CSV


def _is_utf8(buf: bytes, start: int) -> bool:
    n = len(buf) - start
    if n == 0:
        return True
    arr = pa.LargeStringArray.from_buffers(
        1, pa.py_buffer(np.array([0, n], dtype=np.int64)), pa.py_buffer(memoryview(buf)[start:]))
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _decode(raw: bytes) -> tuple[bytes, int, str]:
    """(UTF-8 bytes, offset of the text after any BOM, encoding found). UTF-8 is tried before GB18030:
    the other order turns UTF-8 into mojibake."""
    if raw.startswith(b"\xef\xbb\xbf") and _is_utf8(raw, 3):
        return raw, 3, "utf-8-sig"
    if _is_utf8(raw, 0):
        if b"\x00" in raw[:4096]:
            raise RejectedFile("cannot decode the file as UTF-8, UTF-16 or GB18030: it contains NUL bytes "
                               "(UTF-16 without a byte-order mark, or not a text file)")
        return raw, 0, "utf-8"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16").encode("utf-8"), 0, "utf-16"
        except UnicodeDecodeError as exc:
            raise RejectedFile(f"cannot decode the file as UTF-16 although it starts with a UTF-16 "
                               f"byte-order mark: {exc.reason} at byte {exc.start}") from None
    if b"\x00" in raw[:4096]:
        raise RejectedFile("cannot decode the file as UTF-8, UTF-16 or GB18030: it contains NUL bytes")
    # Transcoded in slices cut after a newline (0x0A is never part of a GB18030 multi-byte character), so
    # that the whole text never exists as one Python string.
    out: list[bytes] = []
    pos = 0
    while pos < len(raw):
        cut = raw.find(b"\n", min(pos + (1 << 24), len(raw)))
        end = len(raw) if cut < 0 else cut + 1
        try:
            out.append(raw[pos:end].decode("gb18030").encode("utf-8"))
        except UnicodeDecodeError as exc:
            at = pos + exc.start
            raise RejectedFile(f"cannot decode the file as UTF-8, UTF-16 or GB18030: byte 0x{raw[at]:02x} at "
                               f"position {at} is invalid in each") from None
        pos = end
    return b"".join(out), 0, "gb18030"


class _LineFeed:
    """Lines of a text for csv.reader, remembering how far it has read (to find a record's end)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.text):
            raise StopIteration
        j = self.text.find("\n", self.pos)
        end = len(self.text) if j < 0 else j + 1
        line = self.text[self.pos:end]
        self.pos = end
        return line


def _first_records(text: str, delimiter: str, limit: int) -> list[tuple[list[str], int]]:
    feed = _LineFeed(text)
    reader = csv.reader(feed, delimiter=delimiter, strict=False)
    out: list[tuple[list[str], int]] = []
    try:
        for rec in reader:
            out.append((rec, feed.pos))
            if len(out) >= limit:
                break
    except csv.Error:
        pass
    return out


def _csv_grid(raw: bytes, kind: str) -> _Grid:
    if raw.startswith(b"PK\x03\x04"):
        raise RejectedFile("the file is named .csv but is a zip archive (an XLSX workbook?): "
                           "expected comma- or tab-separated text, or rename it .xlsx")
    buf, start, encoding = _decode(raw)
    if b"\n" not in buf and b"\r" in buf:  # classic Mac line ends
        buf = buf.replace(b"\r", b"\n")

    # Find the delimiter and the header on a prefix that is long enough to hold the first 11 records.
    size = 1 << 16
    while True:
        end = min(len(buf), start + size)
        whole = end >= len(buf)
        if not whole:
            cut = buf.rfind(b"\n", start, end)
            if cut < 0:
                size *= 4
                continue
            end = cut + 1
        text = buf[start:end].decode("utf-8")
        tries = []
        truncated = False
        for delimiter in DELIMITERS:
            records = _first_records(text, delimiter, HEADER_SEARCH_ROWS)
            if not whole and (len(records) < HEADER_SEARCH_ROWS or any(e >= len(text) for _, e in records)):
                truncated = True
                break
            tries.append((_HeaderSearch(kind, [r for r, _ in records]), delimiter, records))
            if tries[-1][0].index is not None:
                break  # a full header with this delimiter: no other delimiter can score higher
        if truncated:
            size *= 4
            continue
        break
    search, delimiter, records = max(tries, key=lambda t: t[0].score)
    if search.index is None:
        raise search.reject(kind)
    header_cells, header_end = records[search.index]
    header_row = search.index + 1
    data_start = start + len(text[:header_end].encode("utf-8"))
    ncols = len(header_cells)
    headers = [h.strip() for h in header_cells]

    grid = _csv_fast(buf, data_start, delimiter, ncols, header_row)
    if grid is None:
        grid = _csv_exact(buf, data_start, delimiter, ncols, header_row)
    grid.headers = headers
    grid.encoding = encoding
    return grid


_THREADED_BYTES = 4 << 20
_JSON_UNSAFE = bytes([*range(0, 32), ord('"'), ord("\\")])
_JSON_SAFE_DELETE = bytes(b for b in range(256) if b not in _JSON_UNSAFE)


def _csv_fast(buf: bytes, data_start: int, delimiter: str, ncols: int, header_row: int) -> _Grid | None:
    """pyarrow's CSV reader on the data rows; None when the exact path is needed."""
    end = len(buf)
    while end > data_start and buf[end - 1] in (10, 13, 32, 9):
        end -= 1
    if end <= data_start:
        return _Grid([], header_row, [pa.chunked_array([], pa.string()) for _ in range(ncols)],
                     np.zeros(0, dtype=np.int64), {})
    data = np.frombuffer(buf, dtype=np.uint8, count=end - data_start, offset=data_start)
    has_cr = buf.find(b"\r", data_start, end) >= 0
    if has_cr:
        cr = np.flatnonzero(data == 13)
        if (data[cr + 1] != 10).any():  # a bare CR (a line break for pyarrow and Excel, not for us)
            return None
    quotes = buf.find(b'"', data_start, end) >= 0
    names = [f"f{i}" for i in range(ncols)]
    invalid: list[int] = []

    def on_invalid(row: Any) -> str:
        invalid.append(1)
        return "skip"

    try:
        table = pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(memoryview(buf)[data_start:])),
            # threads only pay off on large files (a small file would wait for them to start)
            read_options=pa_csv.ReadOptions(column_names=names, use_threads=end - data_start > _THREADED_BYTES,
                                            block_size=1 << 22),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                              escape_char=False, newlines_in_values=quotes,
                                              ignore_empty_lines=True, invalid_row_handler=on_invalid),
            convert_options=pa_csv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False,
                                                  null_values=[], check_utf8=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if invalid:
        return None
    n = table.num_rows
    lines = buf.count(b"\n", data_start, end) + 1
    if n == lines:  # one row per line
        row_numbers = header_row + 1 + np.arange(n, dtype=np.int64)
    elif not quotes:  # blank lines, which pyarrow skips: number the others by their line
        nl = np.flatnonzero(data == 10)
        starts = np.concatenate(([0], nl + 1))
        length = np.concatenate((nl, [len(data)])) - starts
        if has_cr:
            ends_cr = np.zeros(len(starts), dtype=bool)
            ends_cr[:-1] = data[np.maximum(nl - 1, 0)] == 13
            length = length - ends_cr
        nonblank = np.flatnonzero(length > 0)
        if len(nonblank) != n:
            return None
        row_numbers = header_row + 1 + nonblank.astype(np.int64)
    elif (buf.startswith((b"\n", b"\r\n"), data_start) or buf.find(b"\n\n", data_start, end) >= 0
          or buf.find(b"\n\r\n", data_start, end) >= 0):
        return None  # blank lines, perhaps inside quoted values: number records exactly
    else:  # records that span lines (quoted line breaks): one row per record
        row_numbers = header_row + 1 + np.arange(n, dtype=np.int64)
    # No '"', '\\' or control character (but line ends, and tabs when they separate) anywhere: no cell
    # needs escaping in the raw JSON.
    unsafe = buf.translate(None, _JSON_SAFE_DELETE)
    plain = not unsafe.translate(None, b"\n\r\t" if delimiter == "\t" else b"\n\r")
    return _Grid([], header_row, [table.column(i) for i in range(ncols)], row_numbers, {},
                 plain_json=plain)


def _csv_exact(buf: bytes, data_start: int, delimiter: str, ncols: int, header_row: int) -> _Grid:
    """The csv module, record by record: exact row numbers for any layout."""
    text = buf[data_start:].decode("utf-8")
    if "\r" in text.replace("\r\n", ""):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise RejectedFile("the file contains NUL bytes: expected CSV text")
    reader = csv.reader(_LineFeed(text), delimiter=delimiter, strict=False)
    rows: list[list[str]] = []
    numbers: list[int] = []
    extras: dict[int, list[str]] = {}
    try:
        for i, rec in enumerate(reader):
            if not rec or all(not c.strip() for c in rec):
                continue
            if len(rec) > ncols:
                extra = [c for c in rec[ncols:] if c.strip()]
                if extra:
                    extras[len(rows)] = extra
                rec = rec[:ncols]
            elif len(rec) < ncols:
                rec = rec + [""] * (ncols - len(rec))
            rows.append(rec)
            numbers.append(header_row + 1 + i)
    except csv.Error as exc:
        raise RejectedFile(f"cannot parse the CSV after row {header_row + 1 + len(numbers)}: {exc}") from None
    columns = [pa.chunked_array([pa.array(list(col), type=pa.string())]) for col in zip(*rows, strict=True)] \
        if rows else [pa.chunked_array([], pa.string()) for _ in range(ncols)]
    return _Grid([], header_row, columns, np.asarray(numbers, dtype=np.int64), extras)


# ----------------------------------------------------------------------------------------------------
# XLSX


def _xlsx_grid(path: Path, kind: str) -> _Grid:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = list(workbook.sheet_names)
        if not names:
            raise RejectedFile("the workbook has no sheets")
        wanted = {nz.fold_header(s) for s in template.SHEET_NAMES[kind]}
        sheet = next((s for s in names if nz.fold_header(s) in wanted), names[0])
        rows = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except RejectedFile:
        raise
    except Exception as exc:  # calamine raises its own error types, and zip/xml errors
        raise RejectedFile(f"not a readable XLSX workbook ({type(exc).__name__}: {exc}): expected an Excel "
                           f".xlsx file") from None
    first = [[nz.cell_text(v) for v in row] for row in rows[:HEADER_SEARCH_ROWS]]
    search = _HeaderSearch(kind, first)
    if search.index is None:
        raise search.reject(kind, f" of sheet '{sheet}'")
    hi = search.index
    headers = [h.strip() for h in first[hi]]
    ncols = max((len(r) for r in rows), default=0)
    headers += [""] * (ncols - len(headers))
    body = rows[hi + 1:]
    mapping = nz.match_headers(kind, headers)
    percent_cols = [i for i, name in mapping.items()
                    if next(f for f in template.fields(kind) if f.name == name).type == "percent"]
    percent_cells = _percent_formatted(path, sheet, hi + 2, body, percent_cols)
    texts: list[list[str]] = []
    for r, row in enumerate(body):
        out = [v if type(v) is str else nz.cell_text(v) for v in row]
        if len(out) < ncols:
            out += [""] * (ncols - len(out))
        for c in percent_cells.get(r, ()):
            out[c] = nz.cell_text(round(row[c] * 100, 10)) + "%"
        texts.append(out)
    numbers = np.arange(len(texts), dtype=np.int64) + hi + 2
    keep = np.array([any(c.strip() for c in row) for row in texts], dtype=bool) if texts else np.zeros(0, bool)
    texts = [row for row, k in zip(texts, keep, strict=True) if k]
    numbers = numbers[keep]
    columns = ([pa.chunked_array([pa.array(list(col), type=pa.string())]) for col in zip(*texts, strict=True)]
               if texts else [pa.chunked_array([], pa.string()) for _ in range(ncols)])
    return _Grid(headers, hi + 1, columns, numbers, {}, sheet=sheet)


def _percent_formatted(path: Path, sheet: str, first_row: int, body: list[list[Any]],
                       cols: list[int]) -> dict[int, list[int]]:
    """Body positions of numeric cells in percentage columns that Excel displays with a % format (their
    value is a fraction: 85% is stored as 0.85). Only opened with openpyxl when such cells may exist."""
    candidates = {c for c in cols for row in body
                  if c < len(row) and type(row[c]) is float and 0 < abs(row[c]) <= 1.5}
    if not candidates:
        return {}
    import openpyxl

    out: dict[int, list[int]] = {}
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        ws = wb[sheet]
        for c in candidates:
            for r, (cell,) in enumerate(ws.iter_rows(min_row=first_row, max_row=first_row + len(body) - 1,
                                                     min_col=c + 1, max_col=c + 1)):
                value = body[r][c] if c < len(body[r]) else None
                if type(value) is float and "%" in (getattr(cell, "number_format", "") or ""):
                    out.setdefault(r, []).append(c)
        wb.close()
    except Exception:  # formats are a refinement; calamine already read the values
        return {}
    return out


# ----------------------------------------------------------------------------------------------------
# Classification, normalisation, checks


def _np_bool(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return nz._np_bool(arr)


def _classify(grid: _Grid, key_col: int | None, index_cols: set[int]) -> tuple[np.ndarray, list[IgnoredRow],
                                                                                 list[int]]:
    """Data mask, ignored rows and the grid positions of totals rows."""
    n = grid.n
    data = np.ones(n, dtype=bool)
    if n == 0:
        return data, [], []
    # Candidates: a totals word or a note prefix in one of the first three cells, found with one regex over
    # the three cells joined by line breaks ('^' then matches at each cell's start; a line break inside a
    # cell can only add candidates, which are checked one by one below).
    first = [pc.fill_null(c, "") for c in grid.columns[:3]]
    joined = first[0] if len(first) == 1 else pc.binary_join_element_wise(*first, "\n")
    cand = _np_bool(pc.fill_null(pc.match_substring_regex(joined, _CANDIDATE_RE), False)) if first \
        else np.zeros(n, dtype=bool)
    # A blank row, and a totals or note row written further right, have an empty key column.
    k = key_col if key_col is not None else 0
    if k < len(grid.columns):
        t = pc.utf8_trim_whitespace(grid.columns[k])
        cand |= _np_bool(pc.fill_null(pc.equal(pc.binary_length(t), 0), True))
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
        if _NOTE_PY.search(unicodedata.normalize("NFKC", first)):
            data[pos] = False
            ignored.append(IgnoredRow(int(grid.row_numbers[pos]), "note", text))
        elif _TOTALS_LABEL.match(first) or any(_TOTALS_LABEL.match(v) for v in row[:3]):
            data[pos] = False
            ignored.append(IgnoredRow(int(grid.row_numbers[pos]), "totals", text))
            totals.append(int(pos))
    return data, ignored, totals


def _fmt(x: float) -> str:
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _decimals(text: str) -> int:
    s = unicodedata.normalize("NFKC", text).strip().rstrip("%").strip()
    return len(s.split(".", 1)[1]) if "." in s else 0


def _json_escape(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if not _np_bool(pc.fill_null(pc.match_substring_regex(col, r'["\\\x00-\x1f]'), False)).any():
        return col
    if _np_bool(pc.fill_null(pc.match_substring_regex(col, r"[\x00-\x08\x0b\x0c\x0e-\x1f]"), False)).any():
        values = [json.dumps(v, ensure_ascii=False)[1:-1] for v in col.to_pylist()]
        return pa.chunked_array([pa.array(values, type=pa.string())])
    for old, new in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        col = pc.replace_substring(col, old, new)
    return col


@dataclass
class _RawSource:
    """What the raw JSON of the data rows is built from: cell text as received, one column per key."""

    cells: list[pa.ChunkedArray]
    keys: list[str]
    plain: bool  # no cell needs JSON escaping
    extras: dict[int, list[str]]  # frame position -> non-empty cells beyond the header

    def build(self, positions: np.ndarray | None = None) -> pa.ChunkedArray:
        """JSON objects (header as written -> cell text) for all rows, or for the given frame positions."""
        cells, extras = self.cells, self.extras
        if positions is not None:
            index = pa.array(positions, type=pa.int64())
            cells = [c.take(index) for c in cells]
            where = {int(p): j for j, p in enumerate(positions)}
            extras = {where[p]: v for p, v in extras.items() if p in where}
        n = len(cells[0]) if cells else (len(positions) if positions is not None else 0)
        if n == 0 or not cells:
            return pa.chunked_array([pa.array(["{}"] * n, type=pa.string())])
        literals = [("{" if j == 0 else '",') + json.dumps(key, ensure_ascii=False) + ':"'
                    for j, key in enumerate(self.keys)] + ['"}']
        escaped = [c if self.plain else _json_escape(c) for c in cells]
        # Joined batch by batch: one join over a million rows reallocates its output many times.
        chunks = []
        for batch in pa.table(escaped, names=[f"c{j}" for j in range(len(escaped))]).to_batches():
            parts: list[Any] = []
            for j in range(len(escaped)):
                parts += [literals[j], batch.column(j)]
            chunks.append(pc.binary_join_element_wise(*parts, literals[-1], ""))
        out = pa.chunked_array(chunks, type=pa.string())
        if extras:
            flat = out.combine_chunks()
            mask = np.zeros(n, dtype=bool)
            fixed = []
            for pos in sorted(extras):
                obj = json.loads(flat[pos].as_py())
                for k, v in enumerate(extras[pos]):
                    obj[f"extra cell {k + 1}"] = v
                mask[pos] = True
                fixed.append(json.dumps(obj, ensure_ascii=False))
            out = pa.chunked_array([pc.replace_with_mask(flat, pa.array(mask), pa.array(fixed, type=pa.string()))])
        return out


@dataclass
class _Layout:
    """One file's grid after the per-file work (columns matched to fields, rows classified), before its
    cells are normalised: the batch normalises the cells of many files in one pass per field."""

    grid: _Grid
    col_of: dict[str, int]  # field -> grid position
    factors: dict[str, float]  # area field -> factor to m²
    columns: list[pa.ChunkedArray]  # the data rows' cells, one per grid position
    row_numbers: np.ndarray
    data_mask: np.ndarray  # over the grid's rows
    totals_pos: list[int]
    ignored: list[IgnoredRow]
    warnings: list[str]
    errors: dict[int, list[str]]  # reasons found before normalisation (headerless cells, extra cells)
    source: _RawSource

    @property
    def n(self) -> int:
        return len(self.row_numbers)


def _layout(grid: _Grid, kind: str) -> _Layout:
    """The per-file part of reading: headers, units, row classification; raises RejectedFile."""
    fields = template.fields(kind)
    by_name = {f.name: f for f in fields}
    ncols = len(grid.headers)
    mapping = nz.match_headers(kind, grid.headers)
    warnings: list[str] = []

    # Columns: duplicates, units, unknown headers.
    positions: dict[str, list[int]] = {}
    for i, name in mapping.items():
        positions.setdefault(name, []).append(i)
    dups = {name: ps for name, ps in positions.items() if len(ps) > 1}
    if dups:
        name, ps = next(iter(dups.items()))
        cols = " and ".join(f"{p + 1} '{grid.headers[p]}'" for p in ps)
        raise RejectedFile(f"columns {cols} {'both' if len(ps) == 2 else 'all'} match {_label(by_name[name])}: "
                           f"keep one column per field")
    col_of = {name: ps[0] for name, ps in positions.items()}
    factors: dict[str, float] = {}
    for name, i in col_of.items():
        f = by_name[name]
        if f.type != "area":
            continue
        if nz.is_unknown_area_unit(grid.headers[i]):
            raise RejectedFile(f"column {i + 1} '{grid.headers[i]}' gives its unit as "
                               f"'{nz.header_unit(grid.headers[i])}': expected m² (m2, 平方米) or 万m² "
                               f"(万m2, 万平方米)")
        factors[name] = nz.header_unit_factor(grid.headers[i]) or 1.0
    index_cols = {i for i, h in enumerate(grid.headers) if i not in mapping and nz.fold_header(h) in
                  ROW_INDEX_HEADERS}
    for i, h in nz.unknown_headers(kind, grid.headers).items():
        if i not in index_cols:
            warnings.append(f"column {i + 1} '{h}' is not in the {kind} template and was ignored")
    headerless = [i for i, h in enumerate(grid.headers) if not h]

    # Rows: blank, totals, notes, data.
    key_col = col_of.get(fields[0].name)
    data_mask, ignored, totals_pos = _classify(grid, key_col, index_cols)
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
            filled = np.flatnonzero(_np_bool(pc.fill_null(pc.greater(pc.binary_length(t), 0), False)))
            if not len(filled):
                continue
            filled_of[i] = filled
            key = f"column {i + 1}"
        else:
            key = h if h not in seen else f"{h} (column {i + 1})"
        seen.add(key)
        keys.append((i, key))
    source = _RawSource([columns[i] for i, _ in keys], [k for _, k in keys], grid.plain_json, extras)
    for i, filled in filled_of.items():
        vals = pc.utf8_trim_whitespace(columns[i]).take(pa.array(filled)).to_pylist()
        for p, v in zip(filled, vals, strict=True):
            errors.setdefault(int(row_numbers[p]), []).append(
                f"cell in column {i + 1} has no header: {nz._quote(v)} (the template has no such column)")
    for p, extra in sorted(extras.items()):
        # Every value stays in the row's raw JSON; the reason shows the first few.
        shown = ", ".join(nz._quote(v) for v in extra[:EXTRA_SHOWN])
        if len(extra) > EXTRA_SHOWN:
            shown = f"{len(extra):,} of them: {shown}, ..."
        errors.setdefault(int(row_numbers[p]), []).append(
            f"row has more cells than the header's {ncols} columns: extra values {shown}")
    return _Layout(grid, col_of, factors, columns, row_numbers, data_mask, totals_pos, ignored, warnings, errors,
                   source)


@dataclass
class FileRead:
    """What reading one file of a batch found, besides its rows (which are in the batch's frame)."""

    rows: int  # data rows in the batch frame
    errors: dict[int, list[str]]
    ignored: list[IgnoredRow]
    warnings: list[str]
    layout: _Layout = field(repr=False)

    @property
    def rows_received(self) -> int:
        return self.rows + len(self.ignored)


@dataclass
class BatchRead:
    """Many files of one kind read together: `frame` holds the data rows of every readable file, in input
    order (`FileRead.rows` rows each); `files[i]` is the FileRead of input i, or the RejectedFile that
    says why it cannot be read."""

    kind: str
    frame: pd.DataFrame
    files: list[FileRead | RejectedFile]


# Below this many rows the fields are normalised one after the other: threads cost more than they save.
_THREADED_ROWS = 50_000


def read_batch(paths: Iterable[Path], kind: str, max_bytes: int | None = None, *, raw: bool = False,
               max_unzipped_bytes: int | None = None) -> BatchRead:
    """Read many files of one kind: the per-file work (decoding, header, row classification) file by file,
    then each field's cells of all files normalised in one vectorised pass, into one frame."""
    layouts: list[_Layout | RejectedFile] = []
    for path in paths:
        try:
            layouts.append(_layout(_grid(Path(path), kind, max_bytes, max_unzipped_bytes), kind))
        except RejectedFile as exc:
            layouts.append(exc)
    ok = [x for x in layouts if isinstance(x, _Layout)]
    frame, errors, own_unit = _normalise(ok, kind, raw)
    files: list[FileRead | RejectedFile] = []
    offset = 0
    k = 0
    for x in layouts:
        if isinstance(x, RejectedFile):
            files.append(x)
            continue
        file_errors = errors[k]
        warnings = list(x.warnings)
        if x.totals_pos and own_unit:
            mine = {name: v[offset:offset + x.n] for name, v in own_unit.items() if name in x.col_of}
            if mine:
                warnings.extend(_check_totals(x.grid, kind, x.totals_pos, x.data_mask, x.col_of, x.factors, mine))
        x.ignored.sort(key=lambda r: r.row_number)
        files.append(FileRead(x.n, file_errors, x.ignored, warnings, x))
        offset += x.n
        k += 1
    return BatchRead(kind, frame, files)


def _grid(path: Path, kind: str, max_bytes: int | None, max_unzipped_bytes: int | None) -> _Grid:
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise RejectedFile(f"file is {size} bytes, over the limit of {max_bytes}")
    ext = path.suffix.lower()
    if ext == ".csv":
        return _csv_grid(path.read_bytes(), kind)
    if ext == ".xlsx":
        check_workbook(path, max_unzipped_bytes)  # before any reader inflates it
        return _xlsx_grid(path, kind)
    raise RejectedFile(f"file '{path.name}' has extension '{path.suffix}': expected .csv or .xlsx")


def _field_cells(layouts: list[_Layout], name: str) -> pa.ChunkedArray:
    chunks: list[pa.Array] = []
    for x in layouts:
        if name in x.col_of:
            chunks += x.columns[x.col_of[name]].chunks
        elif x.n:
            chunks.append(pa.nulls(x.n, pa.string()))
    return pa.chunked_array(chunks, type=pa.string())


def _normalise(layouts: list[_Layout], kind: str, with_raw: bool
               ) -> tuple[pd.DataFrame, list[dict[int, list[str]]], dict[str, np.ndarray]]:
    """(the batch frame, reasons per file, area numbers in their column's own unit)."""
    fields = template.fields(kind)
    counts = np.array([x.n for x in layouts], dtype=np.int64)
    n = int(counts.sum())
    file_of = np.repeat(np.arange(len(layouts)), counts)
    row_numbers = (np.concatenate([x.row_numbers for x in layouts]) if layouts else np.zeros(0)).astype(np.int64)
    errors = [dict(x.errors) for x in layouts]
    present = [f for f in fields if any(f.name in x.col_of for x in layouts)]

    def one(f: template.Field) -> tuple[pd.Series, np.ndarray | None, np.ndarray | None]:
        cells = _field_cells(layouts, f.name)
        if f.type == "area":
            factor = np.repeat(np.array([x.factors.get(f.name, 1.0) for x in layouts]), counts)
            v, _, errs = nz.parse_numbers(cells)
            return nz._float_series(nz.scale_area(v, factor)), errs, v
        values, errs = nz.normalise_cells(f, cells)
        return values, errs, None

    if n >= _THREADED_ROWS:
        # Arrow kernels release the GIL: two fields at a time (and the raw JSON) on a large batch.
        with ThreadPoolExecutor(max_workers=2) as pool:
            raw_job = pool.submit(_raw_column, layouts) if with_raw else None
            results = dict(zip([f.name for f in present], pool.map(one, present), strict=True))
            raw_column = raw_job.result() if raw_job is not None else None
    else:
        results = {f.name: one(f) for f in present}
        raw_column = _raw_column(layouts) if with_raw else None
    out: dict[str, Any] = {}
    own_unit: dict[str, np.ndarray] = {}
    for f in fields:
        if f.name not in results:
            out[f.name] = nz.empty_column(f, n)
            continue
        out[f.name], errs, own = results[f.name]
        if own is not None:
            own_unit[f.name] = own
        if errs is not None:
            for p in np.flatnonzero(pd.notna(errs)):
                x = layouts[file_of[p]]
                header = x.grid.headers[x.col_of[f.name]] if f.name in x.col_of else f.name
                errors[file_of[p]].setdefault(int(row_numbers[p]), []).append(f"column '{header}' ({f.name}): "
                                                                             f"{errs[p]}")
    for file_errors in errors:  # reasons in the order of the row's cells, as one file's reading gives them
        for reasons in file_errors.values():
            reasons.sort(key=_reason_order)
    head: dict[str, Any] = {"row_number": row_numbers}
    if raw_column is not None:
        head["raw"] = pd.Series(raw_column, dtype=nz.STR_DTYPE)
    return pd.DataFrame({**head, **out}), errors, own_unit


def _reason_order(reason: str) -> int:
    # field reasons first (in field order: the sort is stable), then headerless cells, then extra cells
    return 2 if reason.startswith("row has more cells") else 1 if reason.startswith("cell in column") else 0


def _raw_column(layouts: list[_Layout]) -> pa.ChunkedArray:
    chunks: list[pa.Array] = []
    for x in layouts:
        chunks += x.source.build().chunks
    return pa.chunked_array(chunks, type=pa.string())


def _finish(grid: _Grid, kind: str, with_raw: bool = True) -> ReadResult:
    layout = _layout(grid, kind)
    frame, errors, own_unit = _normalise([layout], kind, with_raw)
    warnings = list(layout.warnings)
    if layout.totals_pos and own_unit:
        warnings.extend(_check_totals(grid, kind, layout.totals_pos, layout.data_mask, layout.col_of,
                                      layout.factors, own_unit))
    layout.ignored.sort(key=lambda r: r.row_number)
    return ReadResult(kind=kind, frame=frame, errors=errors[0], ignored=layout.ignored, warnings=warnings,
                      encoding=grid.encoding, sheet=grid.sheet, header_row=grid.header_row,
                      headers={name: grid.headers[i] for name, i in layout.col_of.items()},
                      unit_factors=layout.factors, _raw_source=None if with_raw else layout.source)


def _check_totals(grid: _Grid, kind: str, totals_pos: list[int], data_mask: np.ndarray, col_of: dict[str, int],
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
                warnings.append(f"totals row {rn} ('{label}'): column '{header}' states {nz._quote(stated_text)}, "
                                f"which is not a number; not compared with the data rows")
                continue
            total = float(cumulative[name][hi] - cumulative[name][lo])
            tolerance = max(0.005, 0.5 * 10.0 ** -_decimals(stated_text)) + 1e-9 * max(1.0, abs(total))
            if abs(float(stated[0]) - total) > tolerance:
                rows = f"{count} data row{'' if count == 1 else 's'}"
                scope = f"the {rows} since the previous totals row" if subtotal else f"the {rows}"
                warnings.append(f"totals row {rn} ('{label}'): column '{header}' states {stated_text} {unit} "
                                f"but {scope} sum to {_fmt(total)} {unit}")
    return warnings


def _first_label(grid: _Grid, pos: int) -> str:
    for col in grid.columns[:3]:
        v = (col[pos].as_py() or "").strip()
        if _TOTALS_LABEL.match(v):
            return v
    for col in grid.columns:
        v = (col[pos].as_py() or "").strip()
        if v:
            return v
    return ""
