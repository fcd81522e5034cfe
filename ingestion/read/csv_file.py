"""CSV: the delimiter and the header row found with the csv module on the first lines, then the data rows
parsed by pyarrow's multi-threaded CSV reader with every column as text (`_fast_grid`). Files with irregular
rows (more or fewer cells than the header, whitespace-only lines, blank lines in a file that also has quoted
values, bare CR line ends) take an exact but slower path through the csv module (`exact_grid`)."""

from __future__ import annotations

import csv
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from foundation.bilingual import join
from ingestion.errors import RejectedFile
from ingestion.read.encoding import decode_text
from ingestion.read.grid import Grid
from ingestion.read.header_row import HEADER_SEARCH_ROWS, HeaderSearch

DELIMITERS = (",", "\t")


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


def allow_fields(size: int) -> None:
    """Let the csv module read a field of up to `size` characters. Its default limit (131,072) would
    reject a whole file for one long cell, as if its quotes were broken; the text read is bounded by the
    file size limit, and a cell over `ingestion.cells.MAX_CELL_CHARS` quarantines its row instead."""
    if csv.field_size_limit() < size:
        csv.field_size_limit(size)


def _first_records(text: str, delimiter: str, limit: int) -> list[tuple[list[str], int]]:
    allow_fields(len(text) + 1)
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


def csv_grid(raw: bytes, kind: str) -> Grid:
    """A CSV file's bytes as a grid; raises RejectedFile when they cannot be read as CSV text."""
    if raw.startswith(b"PK\x03\x04"):
        raise RejectedFile(join("文件扩展名为 .csv，内容却是 zip 压缩包（可能是 XLSX 工作簿）："
                                "应为逗号或制表符分隔的文本；如果它是 Excel 工作簿，请把扩展名改为 .xlsx 后重新报送",
                                "the file is named .csv but is a zip archive (an XLSX workbook?): expected comma- or "
                                "tab-separated text, or rename it .xlsx"))
    buf, start, encoding = decode_text(raw)
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
            tries.append((HeaderSearch(kind, [r for r, _ in records]), delimiter, records))
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

    grid = _fast_grid(buf, data_start, delimiter, ncols, header_row)
    if grid is None:
        grid = exact_grid(buf, data_start, delimiter, ncols, header_row)
    grid.headers = headers
    grid.encoding = encoding
    return grid


_THREADED_BYTES = 4 << 20
_JSON_UNSAFE = bytes([*range(0, 32), ord('"'), ord("\\")])
_JSON_SAFE_DELETE = bytes(b for b in range(256) if b not in _JSON_UNSAFE)


def _fast_grid(buf: bytes, data_start: int, delimiter: str, ncols: int, header_row: int) -> Grid | None:
    """pyarrow's CSV reader on the data rows; None when the exact path is needed."""
    end = len(buf)
    while end > data_start and buf[end - 1] in (10, 13, 32, 9):
        end -= 1
    if end <= data_start:
        return Grid([], header_row, [pa.chunked_array([], pa.string()) for _ in range(ncols)],
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
    return Grid([], header_row, [table.column(i) for i in range(ncols)], row_numbers, {},
                 plain_json=plain)


def exact_grid(buf: bytes, data_start: int, delimiter: str, ncols: int, header_row: int) -> Grid:
    """The csv module, record by record: exact row numbers for any layout."""
    text = buf[data_start:].decode("utf-8")
    if "\r" in text.replace("\r\n", ""):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise RejectedFile(join("文件中含有 NUL 字节（0x00）：应为 CSV 文本",
                                "the file contains NUL bytes: expected CSV text"))
    allow_fields(len(text) + 1)
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
        at = header_row + 1 + len(numbers)
        raise RejectedFile(join(f"第 {at} 行之后的内容无法按 CSV 解析：{exc}",
                                f"cannot parse the CSV after row {at}: {exc}")) from None
    columns = [pa.chunked_array([pa.array(list(col), type=pa.string())]) for col in zip(*rows, strict=True)] \
        if rows else [pa.chunked_array([], pa.string()) for _ in range(ncols)]
    return Grid([], header_row, columns, np.asarray(numbers, dtype=np.int64), extras)
