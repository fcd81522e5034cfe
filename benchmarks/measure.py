"""Timing, medians, percentiles, peak RSS and a description of the machine."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime


class Stopwatch:
    """Named laps: `with sw.lap("read"): ...`; `sw.seconds` maps each name to its (summed) seconds."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def lap(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (pct in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil
    return ordered[int(rank) - 1]


def peak_rss_parts_mb() -> dict[str, float]:
    """High-water marks of resident memory so far, MB: this process's (`self`) and its largest waited-for
    child's (`children`: dbt, query runners)."""
    factor = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return {"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * factor / 2**20,
            "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * factor / 2**20}


def peak_rss_mb() -> float:
    """Peak resident set size of this process and of its largest waited-for child, MB."""
    return max(peak_rss_parts_mb().values())


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "machine": platform.machine()}


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
