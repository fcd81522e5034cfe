"""Reading files: the per-file part (decoding, header, row classification) file by file, then each field's
cells of all the files normalised in one vectorised pass, into one frame."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from foundation import template
from foundation.bilingual import join, part
from ingestion import normalise as nz
from ingestion.errors import RejectedFile
from ingestion.read.csv_file import csv_grid
from ingestion.read.grid import Grid
from ingestion.read.layout import IgnoredRow, Layout, check_totals, lay_out
from ingestion.read.raw_json import RawSource
from ingestion.read.xlsx_worker import ContainedXlsxReader, XlsxLimits

# Below this many rows the fields are normalised one after the other: threads cost more than they save.
_THREADED_ROWS = 50_000


@dataclass
class FileRead:
    """What reading one file found: its data rows' reasons, ignored rows, warnings and how it was read.

    From `read_submission`, `frame` holds the file's data rows. In a `BatchRead` the rows are in the
    batch's frame (`rows` of them, in input order) and `frame` is None.
    """

    kind: str
    rows: int  # data rows
    errors: dict[int, list[str]]  # row number -> reasons found while reading (cells, extra cells)
    ignored: list[IgnoredRow]  # totals and note rows, by row number
    warnings: list[str]
    encoding: str | None  # CSV: the encoding found; None for XLSX
    sheet: str | None  # XLSX: the sheet read; None for CSV
    header_row: int  # 1-based
    headers: dict[str, str] = field(default_factory=dict)  # canonical field -> header as written
    unit_factors: dict[str, float] = field(default_factory=dict)  # area field -> factor to m² applied
    frame: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    row_numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False,
                                    compare=False)  # of the data rows, ascending
    raw_source: RawSource | None = field(default=None, repr=False, compare=False)  # when `frame` has no 'raw'

    @property
    def rows_received(self) -> int:
        """Data rows plus recognised totals/note rows (blank lines are not rows)."""
        return self.rows + len(self.ignored)

    def raw_json(self, row_numbers: Iterable[int]) -> dict[int, str]:
        """Row number -> the row's raw JSON, for data rows of the file (whether or not it was read with
        raw=True). Unknown row numbers raise KeyError."""
        wanted = [int(r) for r in row_numbers]
        numbers = self.row_numbers
        positions = np.searchsorted(numbers, wanted)
        for r, p in zip(wanted, positions, strict=True):
            if p >= len(numbers) or numbers[p] != r:
                raise KeyError(f"row {r} is not a data row of this file")
        if self.frame is not None and "raw" in self.frame.columns:
            texts = self.frame["raw"].to_numpy()[positions].tolist()
        else:
            assert self.raw_source is not None
            texts = self.raw_source.build(np.asarray(positions, dtype=np.int64)).to_pylist()
        return dict(zip(wanted, texts, strict=True))


@dataclass
class BatchRead:
    """Many files of one kind read together: `frame` holds the data rows of every readable file, in input
    order (`FileRead.rows` rows each); `files[i]` is the FileRead of input i, or the RejectedFile that
    says why it cannot be read."""

    kind: str
    frame: pd.DataFrame
    files: list[FileRead | RejectedFile]


def read_submission(path: Path, kind: str, max_bytes: int | None = None, *, raw: bool = True,
                    max_unzipped_bytes: int | None = None, xlsx_limits: XlsxLimits | None = None) -> FileRead:
    """Read and normalise one submission file; raise RejectedFile when it cannot be read as a whole.

    With `raw=False` the frame has no 'raw' column and `FileRead.raw_json(row_numbers)` builds it for the
    rows that need it (the quarantined ones): on a million-row file the JSON of every row is about three
    times the file's size in memory and half of the reading time.

    An XLSX file is checked for a decompression bomb and an oversized sheet first (`ingestion.xlsx_guard`;
    `max_unzipped_bytes` bounds what its parts may declare unpacked in all), then read, both in a worker
    process bounded in memory and time (`xlsx_limits`, by default the settings'; see `xlsx_worker`).
    """
    if kind not in template.KIND_FIELDS:
        raise ValueError(f"unknown submission kind {kind!r}")
    with ContainedXlsxReader(_limits(xlsx_limits, max_unzipped_bytes)) as xlsx:
        layout = lay_out(_file_grid(Path(path), kind, max_bytes, xlsx), kind)
    frame, (result,) = _read_layouts([layout], kind, raw)
    result.frame = frame
    if raw:
        result.raw_source = None  # the frame's 'raw' column holds the JSON
    return result


def read_batch(paths: Iterable[Path], kind: str, max_bytes: int | None = None, *, raw: bool = False,
               max_unzipped_bytes: int | None = None, xlsx_limits: XlsxLimits | None = None) -> BatchRead:
    """Read many files of one kind: the per-file work (decoding, header, row classification) file by file,
    then each field's cells of all files normalised in one vectorised pass, into one frame. The batch's
    XLSX files are read by one worker process (see `read_submission`)."""
    layouts: list[Layout | RejectedFile] = []
    with ContainedXlsxReader(_limits(xlsx_limits, max_unzipped_bytes)) as xlsx:
        for path in paths:
            try:
                layouts.append(lay_out(_file_grid(Path(path), kind, max_bytes, xlsx), kind))
            except RejectedFile as exc:
                layouts.append(exc)
    frame, reads = _read_layouts([x for x in layouts if isinstance(x, Layout)], kind, raw)
    found = iter(reads)
    return BatchRead(kind, frame, [x if isinstance(x, RejectedFile) else next(found) for x in layouts])


def _read_layouts(layouts: list[Layout], kind: str, with_raw: bool) -> tuple[pd.DataFrame, list[FileRead]]:
    """The batch frame of the files' data rows, and what reading each file found."""
    frame, errors, own_unit = _normalise(layouts, kind, with_raw)
    reads: list[FileRead] = []
    offset = 0
    for x, file_errors in zip(layouts, errors, strict=True):
        warnings = [*x.grid.warnings, *x.warnings]
        if x.totals_pos and own_unit:
            mine = {name: v[offset:offset + x.n] for name, v in own_unit.items() if name in x.col_of}
            if mine:
                warnings.extend(check_totals(x.grid, kind, x.totals_pos, x.data_mask, x.col_of, x.factors, mine))
        x.ignored.sort(key=lambda r: r.row_number)
        grid = x.grid
        reads.append(FileRead(kind=kind, rows=x.n, errors=file_errors, ignored=x.ignored, warnings=warnings,
                              encoding=grid.encoding, sheet=grid.sheet, header_row=grid.header_row,
                              headers={name: grid.headers[i] for name, i in x.col_of.items()},
                              unit_factors=x.factors, row_numbers=x.row_numbers, raw_source=x.source))
        offset += x.n
    return frame, reads


def _limits(limits: XlsxLimits | None, max_unzipped_bytes: int | None) -> XlsxLimits:
    if limits is None:
        return XlsxLimits.from_settings(max_unzipped_bytes)
    return limits if max_unzipped_bytes is None else dataclasses.replace(limits, max_unzipped_bytes=max_unzipped_bytes)


def _file_grid(path: Path, kind: str, max_bytes: int | None, xlsx: ContainedXlsxReader) -> Grid:
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise RejectedFile(join(f"文件大小为 {size:,} 字节，超过上限 {max_bytes:,} 字节，未读取：请只保留本期的报表"
                                "（删除图片、嵌入对象等）后重新报送",
                                f"file is {size} bytes, over the limit of {max_bytes}: it was not read; keep only "
                                "this period's table (no pictures or embedded objects) and send it again"))
    ext = path.suffix.lower()
    if ext == ".csv":
        return csv_grid(path.read_bytes(), kind)
    if ext == ".xlsx":
        return xlsx.read(path, kind)  # guard and parse in a worker process (started on the first workbook)
    raise RejectedFile(join(f"文件“{path.name}”的扩展名为“{path.suffix}”：应为 .csv 或 .xlsx",
                            f"file '{path.name}' has extension '{path.suffix}': expected .csv or .xlsx"))


def _field_cells(layouts: list[Layout], name: str) -> pa.ChunkedArray:
    chunks: list[pa.Array] = []
    for x in layouts:
        if name in x.col_of:
            chunks += x.columns[x.col_of[name]].chunks
        elif x.n:
            chunks.append(pa.nulls(x.n, pa.string()))
    return pa.chunked_array(chunks, type=pa.string())


def _normalise(layouts: list[Layout], kind: str, with_raw: bool
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
            return nz.float_series(nz.scale_area(v, factor)), errs, v
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
                errors[file_of[p]].setdefault(int(row_numbers[p]), []).append(join(
                    f"“{header}”列：{part(errs[p], 'zh')}", f"column '{header}' ({f.name}): {part(errs[p], 'en')}"))
    for file_errors in errors:  # reasons in the order of the row's cells, as one file's reading gives them
        for reasons in file_errors.values():
            reasons.sort(key=_reason_order)
    head: dict[str, Any] = {"row_number": row_numbers}
    if raw_column is not None:
        head["raw"] = pd.Series(raw_column, dtype=nz.STR_DTYPE)
    # the columns are new: the frame need not copy them (by default it does: 0.03-0.08 s on a 1M-row file)
    return pd.DataFrame({**head, **out}, copy=False), errors, own_unit


def _reason_order(reason: str) -> int:
    # field reasons first (in field order: the sort is stable), then headerless cells, then extra cells
    english = part(reason, "en")
    return 2 if english.startswith("row has more cells") else 1 if english.startswith("cell in column") else 0


def _raw_column(layouts: list[Layout]) -> pa.ChunkedArray:
    chunks: list[pa.Array] = []
    for x in layouts:
        chunks += x.source.build().chunks
    return pa.chunked_array(chunks, type=pa.string())
