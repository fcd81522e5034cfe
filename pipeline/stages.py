"""The nightly run as one ordered list of stages, `STAGES`: the DAG builds one task per stage from it (and its
doc from their lines), the benchmark times each of them, and the tests run them without Airflow.

Every stage is a function `(settings, run_id) -> record`, the record a dataclass (`dataclasses.asdict` of it
is the task's XCom). `run_stage` runs one, holding the warehouse's writer lock when the stage writes the
warehouse. A stage names its function by import path, imported when the stage runs: parsing the DAG file does
not import pandas, pyarrow, DuckDB or Great Expectations.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from foundation.config import Settings
from foundation.db import wait_for_warehouse
from foundation.lock import warehouse_lock
from foundation.skip import NothingToDo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    name: str  # the Airflow task id, and the stage's key in the benchmark's results
    function: str  # "package.module.function", called as function(settings, run_id) -> record
    doc: str  # what it does, in one line
    writes_warehouse: bool = False  # runs under the warehouse lock (`foundation.lock.warehouse_lock`)
    retries: int = 0  # Airflow retries of its task
    retry_delay: timedelta = timedelta(minutes=2)

    def resolve(self) -> Callable[[Settings, str], Any]:
        module, _, name = self.function.rpartition(".")
        return getattr(importlib.import_module(module), name)


STAGES: tuple[Stage, ...] = (
    # discover only reads the warehouse (the ledger), but DuckDB cannot open it while another process writes:
    # it waits for the lock like a writer. Retried: a file still being copied settles.
    Stage("discover", "pipeline.recovery.discover",
          "the warehouse is made whole (journal, archive) if it was lost; new files in the landing zone are "
          "archived by hash and listed in the run's manifest",
          writes_warehouse=True, retries=2),
    Stage("read", "ingestion.stages.read",
          "each new file is parsed and normalised (encodings, headers, units, dates), in batches per kind"),
    Stage("check", "expectations.check_stage.check",
          "the submission checks (an Arrow screen; Great Expectations validates every batch where a rule fails)"),
    Stage("load", "ingestion.stages.load",
          "ledger, quarantine and raw tables in one transaction (corrections replace their slice)",
          writes_warehouse=True),
    Stage("dbt_build", "publishing.build.dbt_build",
          "staging -> intermediate -> marts, with contracts, data tests and unit tests", writes_warehouse=True),
    Stage("gate", "publishing.gate.gate",
          "dbt results, GX reconciliation and `expectations/gate_rules.py` on the candidate, recorded in "
          "`dq.check_results`; a blocking (`error`) failure fails the run, `warn` results never block",
          writes_warehouse=True),
    Stage("publish", "publishing.publish.publish",
          "a new reporting file is built and swapped in atomically, recording the run's gate counts",
          writes_warehouse=True),
)


def stage(name: str) -> Stage:
    """The stage called `name`."""
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(f"no stage {name!r}; the stages are {', '.join(s.name for s in STAGES)}")


def queue(s: Stage | str, settings: Settings) -> str:
    """The Celery queue of a stage's task: the warehouse's (served by one worker, on the host that holds
    warehouse.duckdb: DuckDB takes one writing process, and our lock is a file lock) when it opens the warehouse,
    otherwise the shared one (any worker that mounts the data folder)."""
    s = stage(s) if isinstance(s, str) else s
    return settings.warehouse_queue if s.writes_warehouse else settings.shared_queue


def select(first: str | None = None, last: str | None = None) -> tuple[Stage, ...]:
    """The stages from `first` to `last` (both included; the first and last stage by default), in order."""
    names = [s.name for s in STAGES]
    start = names.index(stage(first).name) if first else 0
    end = names.index(stage(last).name) if last else len(STAGES) - 1
    return STAGES[start:end + 1]


def run_stage(s: Stage | str, settings: Settings, run_id: str, **arguments: Any) -> Any:
    """Run one stage for `run_id`; under the warehouse lock (owned by the run) when it writes the warehouse.
    `arguments` go to the stage's function after (settings, run_id) (a reprocessing's slice)."""
    s = stage(s) if isinstance(s, str) else s
    function = s.resolve()
    if not s.writes_warehouse:
        return function(settings, run_id, **arguments)
    from pipeline.recovery import set_aside_if_corrupt  # here: parsing the DAG file imports no DuckDB

    # Another writer of the pipeline (a CLI run, another DAG) holds the lock; a process outside it (an operator's
    # duckdb shell) holds only the file: both are waited for, up to the same time, and named if they stay.
    started = time.monotonic()
    with warehouse_lock(settings, owner=run_id, wait_seconds=settings.writer_wait_seconds):
        set_aside_if_corrupt(settings, run_id)  # a corrupt file would fail every night: moved aside, alerted
        wait_for_warehouse(settings, max(settings.writer_wait_seconds - (time.monotonic() - started), 0))
        return function(settings, run_id, **arguments)


class StageFailed(SystemExit):
    """A stage that failed for a reason its message says in full (a blocked gate: what failed, what to do).
    A SystemExit because Airflow's task runner logs one as "Task exited" without a traceback; the task still
    fails (and its failure callback, the alert, gets this message)."""

    def __init__(self, message: str, blocking: list[str] | None = None):
        super().__init__(1)
        self.message = message
        self.blocking = blocking  # the blocked gate's failing checks (`GateBlocked.blocking`), for the alert

    def __str__(self) -> str:
        return self.message


def run_task(s: Stage | str, settings: Settings, run_id: str, **arguments: Any) -> Any:
    """`run_stage` as an Airflow task runs it: a blocked gate ends the task failed, its log ending with the short
    list of what failed and the next step (`publishing.gate.blocked_text`), not a traceback."""
    try:
        return run_stage(s, settings, run_id, **arguments)
    except Exception as exc:
        from publishing.gate import GateBlocked  # imported only then: it brings pandas

        if not isinstance(exc, GateBlocked):
            raise
        for line in str(exc).splitlines():
            log.error("%s", line)
        raise StageFailed(str(exc), exc.blocking) from None


@dataclass(frozen=True)
class Skipped:
    """The record of a stage that had nothing to do (it raised `foundation.skip.NothingToDo`), and of every
    stage after it: in the DAG, Airflow's skip of the task and, by the trigger rule, of those downstream."""

    reason: str
    skipped: bool = True


def run_stages(settings: Settings, run_id: str, first: str | None = None, last: str | None = None) -> dict:
    """Run the stages from `first` to `last` in order (as the DAG's tasks do, without Airflow): name -> record.
    A stage that raises `NothingToDo` and every stage after it are `Skipped`, as in the DAG."""
    records: dict[str, Any] = {}
    skipped = None
    for s in select(first, last):
        if skipped is None:
            try:
                records[s.name] = run_stage(s, settings, run_id)
                continue
            except NothingToDo as e:
                skipped = Skipped(str(e))
        records[s.name] = skipped
    return records


def markdown(start: int = 1) -> str:
    """The stages as a numbered Markdown list: name, function, lock and retries, what it does."""
    lines = []
    for i, s in enumerate(STAGES, start):
        notes = [f"`{s.function}`"] + (["under the warehouse lock"] if s.writes_warehouse else []) + (
            [f"{s.retries} retries"] if s.retries else [])
        lines.append(f"{i}. **{s.name}** ({', '.join(notes)}): {s.doc};")
    return "\n".join(lines)
