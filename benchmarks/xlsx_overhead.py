"""The cost of reading XLSX files in the worker process (`ingestion.read.xlsx_worker`) rather than in-process:
`python -m benchmarks.xlsx_overhead <workbooks>` (for example the demo's landed buildings/*.xlsx).

Prints the first file's time (the fork server and the worker start), the median per file over 7 rounds,
contained and in-process, and what starting a new worker from the running fork server costs."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from ingestion.read.xlsx_worker import ContainedXlsxReader, XlsxLimits, read_workbook


def main(paths: list[Path]) -> None:
    t = time.perf_counter()
    reader = ContainedXlsxReader(XlsxLimits())
    reader.read(paths[0], "buildings")
    first = time.perf_counter() - t
    contained, direct = [], []
    for _ in range(7):
        t = time.perf_counter()
        for p in paths:
            reader.read(p, "buildings")
        contained.append((time.perf_counter() - t) / len(paths))
        t = time.perf_counter()
        for p in paths:
            read_workbook(str(p), "buildings", None)
        direct.append((time.perf_counter() - t) / len(paths))
    reader.close()
    t = time.perf_counter()
    with ContainedXlsxReader(XlsxLimits()) as again:
        again.read(paths[0], "buildings")
    restart = time.perf_counter() - t - statistics.median(direct)
    print(f"first file (fork server + worker start): {first:.3f} s; per file: contained "
          f"{statistics.median(contained) * 1000:.1f} ms, in-process {statistics.median(direct) * 1000:.1f} ms; "
          f"a new worker from the running fork server: {restart * 1000:.0f} ms")


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]])
