"""Jobs for the XLSX worker process (`ingestion.read.xlsx_worker`) that misbehave as a hostile workbook can
make a reader misbehave; module-level so that the worker can import them."""

from __future__ import annotations

import time
from pathlib import Path

from ingestion.read.xlsx_file import xlsx_grid


def unguarded(path: str, kind: str, max_unzipped_bytes: int | None):
    """calamine without the guard in front: a far cell makes it abort the process."""
    return xlsx_grid(Path(path), kind)


def by_name(path: str, kind: str, max_unzipped_bytes: int | None):
    """Misbehaves as the file's name says: hog (memory), sleep; else reads it."""
    name = Path(path).name
    if "hog" in name:
        hoard = [bytearray(256 << 20) for _ in range(64)]  # 16 GiB
        return hoard
    if "sleep" in name:
        time.sleep(60)
    return xlsx_grid(Path(path), kind)
