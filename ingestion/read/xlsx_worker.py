"""XLSX workbooks are checked and parsed in a child process, bounded in memory and time.

calamine (Rust) aborts the whole process when an allocation fails (a sheet laid out as 512 GiB of cells is
one `abort()`, no exception), and a hostile workbook can also make it run for long. So the guard
(`ingestion.xlsx_guard`) and the parse (`xlsx_file.xlsx_grid`) run in a worker process whose address space
is limited (`resource.RLIMIT_AS`, `PREFAB_XLSX_READ_MEMORY_BYTES`, default 4 GiB: the worker starts at
about 1.4 GiB of address space with numpy, pandas, pyarrow and calamine mapped, and the 100,000-row
benchmark workbook needs well under the rest), and each file is given `PREFAB_XLSX_READ_SECONDS`
(default 300). An abort, a kill, an exhausted memory limit or a timeout ends as that file's RejectedFile
("the workbook could not be read safely: ..."), never as a failed task; the next file gets a new worker.
CSV is read in the calling process: pyarrow and the csv module raise on bad input, they do not abort.

Workers are forked from multiprocessing's fork server (never `fork` from a process with threads), which
imports the readers once; one worker serves every XLSX file of a batch, and only its Grid (Arrow columns)
comes back through the pipe. Measured on the 2-core development machine under load (`python -m
benchmarks.xlsx_overhead` over 20 of the demo's buildings workbooks, median of 7 rounds, 3 runs): 2.3 ms
per file contained against 1.3-1.5 ms in-process (about 1 ms per file); 20-40 ms to start a new worker from
the running fork server; 2.1-2.7 s once per process to start the fork server (only a process that meets an
XLSX file pays it). The 100,000-row benchmark workbook: 4.0 s contained, 4.2 s in-process (noise).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from foundation.bilingual import join
from ingestion.errors import RejectedFile, unreadable_xlsx
from ingestion.read.grid import Grid

_PRELOAD = ["ingestion.read.xlsx_file", "ingestion.xlsx_guard"]


@dataclass(frozen=True)
class XlsxLimits:
    """What reading one workbook may take: address space of the worker, seconds per file, and what the
    workbook's parts may declare unpacked in all (None: no limit)."""

    memory_bytes: int = 4 << 30
    seconds: float = 300
    max_unzipped_bytes: int | None = None

    @classmethod
    def from_settings(cls, max_unzipped_bytes: int | None = None) -> XlsxLimits:
        from foundation.config import settings

        s = settings()
        return cls(s.xlsx_read_memory_bytes, s.xlsx_read_seconds, max_unzipped_bytes)


def read_workbook(path: str, kind: str, max_unzipped_bytes: int | None) -> Grid:
    """The guard, then the parse: what a worker does for one file (in the worker's process)."""
    from ingestion.read.xlsx_file import xlsx_grid
    from ingestion.xlsx_guard import check_workbook

    check_workbook(Path(path), max_unzipped_bytes)  # before any reader inflates it
    return xlsx_grid(Path(path), kind)


Job = Callable[[str, str, "int | None"], Grid]


def _unsafe(path: Path, detail_zh: str, detail: str) -> RejectedFile:
    return RejectedFile(join(f"工作簿“{path.name}”无法安全读取：{detail_zh}，未载入（请把表格复制到新工作簿，"
                             "另存为 .xlsx 后重新报送）",
                             f"the workbook could not be read safely: {detail}; '{path.name}' was not loaded (copy "
                             "the table into a new workbook, save it as .xlsx and send it again)"))


def _serve(conn, memory_bytes: int, job: Job) -> None:
    """The worker: one request (path, kind, max unzipped bytes) at a time, until None or the pipe closes."""
    os.environ["RUST_BACKTRACE"] = "0"  # an abort prints one line, not a Rust backtrace
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        path, kind, max_unzipped = request
        try:
            conn.send(("grid", job(path, kind, max_unzipped)))
        except RejectedFile as exc:
            conn.send(("rejected", exc.reason))
        except MemoryError:
            conn.send(("memory", None))
            return  # a worker that ran out of memory is not reused
        except Exception as exc:  # a reader's own error types, zip and XML errors
            found = f"{type(exc).__name__}: {exc}"
            conn.send(("rejected", unreadable_xlsx(found, found).reason))


class ContainedXlsxReader:
    """Reads workbooks in a worker process (started on the first file, reused for the next ones, replaced
    after one that ended it). Use as a context manager, or call `close()`."""

    def __init__(self, limits: XlsxLimits, job: Job = read_workbook) -> None:
        self.limits = limits
        self._job = job
        self._process = None
        self._conn = None

    def __enter__(self) -> ContainedXlsxReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child, self.limits.memory_bytes, self._job), daemon=True,
                              name="xlsx-reader")
        process.start()
        child.close()
        self._process, self._conn = process, parent

    def _stop(self) -> int | None:
        """End the worker (at once) and return its exit code."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is None:
            return None
        if process.is_alive():
            process.kill()
        process.join(10)
        conn.close()
        return process.exitcode

    def read(self, path: Path, kind: str) -> Grid:
        """The workbook's grid, as `xlsx_file.xlsx_grid` reads it; RejectedFile when the guard or the reader
        refuses it, or when reading it does not end within the limits."""
        if self._process is None or not self._process.is_alive():
            self._stop()
            self._start()
        limits = self.limits
        try:
            self._conn.send((str(path), kind, limits.max_unzipped_bytes))
            ready = self._conn.poll(limits.seconds)
            answer = self._conn.recv() if ready else None
        except (EOFError, OSError):
            code = self._stop()
            gib = f"{limits.memory_bytes / (1 << 30):.1f} GiB"
            raise _unsafe(path, f"读取进程意外终止（{_exit_text(code, 'zh')}；内存上限为 {gib}）",
                          f"the reader stopped ({_exit_text(code)}; the limit is {gib} of memory)") from None
        if answer is None:
            self._stop()
            raise _unsafe(path, f"读取超过了 {limits.seconds:g} 秒",
                          f"reading it took longer than {limits.seconds:g} seconds")
        status, payload = answer
        if status == "grid":
            return payload
        if status == "memory":
            self._stop()
            gib = f"{limits.memory_bytes / (1 << 30):.1f} GiB"
            raise _unsafe(path, f"读取需要超过 {gib} 内存", f"reading it needs more than {gib} of memory")
        raise RejectedFile(payload)

    def close(self) -> None:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            try:
                self._conn.send(None)
                self._process.join(5)
            except OSError:
                pass
        self._stop()


def _exit_text(code: int | None, lang: str = "en") -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"信号 {name}" if lang == "zh" else f"signal {name}"
    return f"退出码 {code}" if lang == "zh" else f"exit code {code}"

