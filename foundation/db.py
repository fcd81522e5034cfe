"""Connections to the pipeline's own database, `warehouse.duckdb`.

DuckDB allows one writing process at a time; stages open, work and close. A process outside the pipeline
that holds the file (an operator's `duckdb` shell left open, even read-only) makes every open for writing
fail at once: `wait_for_warehouse` waits for it to let go, and names it (pid and command line) when it does
not; every writing stage calls it before it starts (`pipeline.stages.run_stage`). Extensions are never
auto-installed (nothing can be downloaded here, and each failed attempt costs seconds). Memory is capped
at `Settings.duckdb_memory_limit` (DuckDB spills to disk beyond it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from foundation.config import Settings
from foundation.lock import WarehouseBusy
from foundation.schema import ensure_schema

POLL_SECONDS = 0.5

DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


@contextmanager
def connect_warehouse(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.warehouse_path
    if read_only and not path.exists():
        read_only = False  # first run: create it (with the schema) so readers find the tables
    try:
        con = duckdb.connect(str(path), read_only=read_only,
                             config=DUCKDB_CONFIG | {"memory_limit": settings.duckdb_memory_limit})
    except duckdb.IOException as exc:
        if not _held_elsewhere(exc):
            raise
        raise WarehouseBusy(_held_message(path, exc, 0)) from exc
    try:
        if not read_only:
            ensure_schema(con)
        yield con
    finally:
        con.close()


def _held_elsewhere(exc: Exception) -> bool:
    return "Conflicting lock" in str(exc) or "Could not set lock" in str(exc)


def _held_message(path: Path, exc: Exception, waited: float) -> str:
    """Who holds the file, from DuckDB's message (`... is held in <program> (PID n)`) and /proc."""
    found = re.search(r"PID (\d+)", str(exc))
    who = "another process"
    if found:
        pid = found.group(1)
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            command = ""
        who = f"process {pid}" + (f" (`{command[:300]}`)" if command else "")
    waited_text = f" for {waited:.0f} s" if waited > 0 else ""
    return (f"{path.name} is held open by {who}, outside the pipeline; waited{waited_text} for it to close. "
            "Close that session (an open `duckdb` shell or notebook, even read-only, keeps the pipeline from "
            "writing), then rerun the task.")


def wait_for_warehouse(settings: Settings, wait_seconds: float) -> float:
    """Wait until `warehouse.duckdb` can be opened for writing (no other process holds it), for up to
    `wait_seconds`; returns the seconds waited, or raises `WarehouseBusy` naming the holder. Call it holding
    the warehouse lock, so that the only holders left to wait for are processes outside the pipeline."""
    path = settings.warehouse_path
    started = time.monotonic()
    while True:
        if not path.exists():
            return 0.0
        try:
            duckdb.connect(str(path), config=DUCKDB_CONFIG).close()
            return time.monotonic() - started
        except duckdb.IOException as exc:
            if not _held_elsewhere(exc):
                raise
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                raise WarehouseBusy(_held_message(path, exc, waited)) from exc
            time.sleep(min(POLL_SECONDS, max(wait_seconds - waited, 0.01)))
