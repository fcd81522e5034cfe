"""A reprocessing run (`dags/prefab_reprocess.py`): the archived files of a slice through today's stages.

Its stages are the nightly ones from `read` on (`pipeline.stages.STAGES`: read, check, load, dbt_build, gate,
publish), after a first stage, `select`, that takes the place of `discover`: it makes the warehouse whole as
discover does (`pipeline.recovery.make_whole`), then lists the archived files of the slice in the run's
manifest (`ingestion.reprocess`). The gate and the publication are the nightly's own, so a reprocessing
publishes only through the same checks, and only when the figures change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingestion.reprocess import Slice, write_manifest
from pipeline.recovery import make_whole
from pipeline.stages import Stage, run_stage, select

SELECT = Stage("select", "pipeline.reprocess.select_slice",
               "the warehouse is made whole if it was lost; the archived files of the slice (kind, unit codes, "
               "periods) are listed in the run's manifest as versions to re-read", writes_warehouse=True)
STAGES: tuple[Stage, ...] = (SELECT, *select("read"))


@dataclass
class Selection:
    """The select stage's record: the slice and the files listed (their current submission ids)."""

    kind: str
    unit_code_pattern: str
    period_from: str
    period_to: str
    files: int
    submissions: list[str] = field(default_factory=list)


def select_slice(settings, run_id: str, params: dict) -> Selection:
    """The select stage: validate the slice (ValueError says what is wrong), make the warehouse whole, and write
    the run's manifest of the slice's archived files."""
    slice_ = Slice.from_params(params)
    make_whole(settings, run_id)
    files = write_manifest(settings, run_id, slice_)
    return Selection(slice_.kind, slice_.unit_code_pattern, slice_.period_from, slice_.period_to, len(files),
                     [f["submission_id"] for f in files])


def reprocess(settings, run_id: str, params: dict) -> dict[str, Any]:
    """Every stage of the reprocessing run in order, without Airflow (tests, the benchmark): name -> record.
    A blocking gate raises `GateBlocked` as in the DAG."""
    Slice.from_params(params)  # invalid params fail before the warehouse lock is taken
    records = {SELECT.name: run_stage(SELECT, settings, run_id, params=params)}
    for s in STAGES[1:]:
        records[s.name] = run_stage(s, settings, run_id)
    return records
