"""The cells of one file as text, before its rows are classified: what every format's reader produces."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa


@dataclass
class Grid:
    """Cells as text, before classification: one arrow string column per header position."""

    headers: list[str]
    header_row: int  # 1-based
    columns: list[pa.ChunkedArray]
    row_numbers: np.ndarray  # int64, 1-based, as a spreadsheet user counts rows
    extras: dict[int, list[str]]  # grid position -> non-empty cells beyond the header width
    encoding: str | None = None
    sheet: str | None = None
    plain_json: bool = False  # True when no cell can need JSON escaping (checked on the bytes)
    warnings: list[str] = field(default_factory=list)  # about the file as read (e.g. a hidden sheet skipped)

    @property
    def n(self) -> int:
        return len(self.row_numbers)
