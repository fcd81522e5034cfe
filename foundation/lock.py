"""One writer at a time: an exclusive lock on `PREFAB_DATA_DIR/warehouse.lock` around every stage that writes.

Readers (the steward app's pages) take the same file's lock shared (`reader_lock`): many readers at once,
never a reader while a writer holds it.

DuckDB allows one writing process per file and fails the second one at once (`Conflicting lock is held`).
The nightly DAG runs one at a time (`max_active_runs=1`), but a CLI run, `make demo` or another DAG can
start while it writes; with this lock the second writer waits (up to `wait_seconds`) and then fails with
a message that names the run holding the warehouse, instead of a DuckDB error in the middle of a stage.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from foundation.config import Settings

POLL_SECONDS = 0.2


class WarehouseBusy(Exception):  # noqa: N818 - the name says what the caller needs to know
    """Another process holds the warehouse lock."""

    def __init__(self, message: str, holder: dict | None = None):
        super().__init__(message)
        self.holder = holder or {}


def _read_holder(fd: int) -> dict:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", errors="replace").strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}


def _busy_message(path, holder: dict, waited: float) -> str:
    if holder.get("owner"):
        who = (f"run {holder['owner']} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}) "
               f"since {holder.get('since', '?')}")
    else:
        who = "another process (a reader such as the steward app, or a writer that has not recorded its run yet)"
    waited_text = f" after waiting {waited:.0f} s" if waited > 0 else ""
    return (f"the warehouse is being written by {who}; could not take {path}{waited_text}. "
            "Wait for it to finish or stop that run; the lock is released as soon as its process exits, "
            "even if it is killed, so there is never a stale lock to delete.")


def _take(fd: int, operation: int, wait_seconds: float, path) -> None:
    """flock(operation | LOCK_NB) every POLL_SECONDS until `wait_seconds` have elapsed, else WarehouseBusy."""
    start = time.monotonic()
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            waited = time.monotonic() - start
            if waited >= wait_seconds:
                holder = _read_holder(fd)
                raise WarehouseBusy(_busy_message(path, holder, waited), holder) from None
            time.sleep(min(POLL_SECONDS, max(wait_seconds - waited, 0.01)))


@contextmanager
def warehouse_lock(settings: Settings, owner: str, wait_seconds: float = 0) -> Iterator[dict]:
    """Hold the exclusive warehouse lock for the duration of the block; yields the holder record.

    `fcntl.flock(LOCK_EX | LOCK_NB)` is tried every 0.2 s until `wait_seconds` have elapsed (0: one attempt),
    then `WarehouseBusy` is raised, naming the current holder. Once taken, the lock file holds the owner
    (run id), pid, host and start time as one JSON line, for diagnostics only: the lock itself is the
    kernel's flock on the open file, so it is released automatically when the holding process exits or
    dies (even SIGKILL or OOM kill); a leftover file with a dead pid in it never blocks anybody.

    flock locks belong to the open file, not the process: nesting this context manager in one process
    conflicts with itself (raises `WarehouseBusy`), so take it once per stage. Works on a local filesystem
    (flock over NFS is not reliable).
    """
    path = settings.lock_path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _take(fd, fcntl.LOCK_EX, wait_seconds, path)
        holder = {"owner": owner, "pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode("utf-8"), 0)
        try:
            yield holder
        finally:
            os.ftruncate(fd, 0)  # nobody holds it now; the file itself stays (unlinking would race)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def reader_lock(settings: Settings, wait_seconds: float = 0) -> Iterator[None]:
    """Hold the warehouse lock *shared* for the block: any number of readers at once, never with a writer.

    For processes that only read `warehouse.duckdb` (the steward app's pages): `flock(LOCK_SH)` on the same
    file as `warehouse_lock`, so readers never exclude each other, a writer waits for the readers in progress
    and a reader waits (up to `wait_seconds`, then `WarehouseBusy` naming the writer) while a writer holds it.
    A reader writes nothing into the lock file (the holder record is the writer's). Each call opens its own
    file description, so many threads of one process can hold it together.
    """
    path = settings.lock_path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _take(fd, fcntl.LOCK_SH, wait_seconds, path)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
