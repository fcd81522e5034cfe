"""Reprocessing: the archived files of a slice (kind, unit codes, periods) re-read by today's stages.

After a rule, a template mapping or a setting is fixed, the files already received are not sent again: they
are in the archive. `write_manifest` lists, for every (kind, unit, period) of the slice, the file loaded for
it and every file rejected at or after it (a file rejected before a template fix may load now; with no file
loaded, every rejected one), as the discover stage lists new files. The run's read, check and load stages
then treat each as a new version of that submission (`LandedFile.reprocessed_by`: the same landing path,
bytes and received_at, a submission id of its own): the load supersedes the version it re-reads (a new status
row, the reason naming the reprocessing run) and the latest received file wins its slice as on the night it
arrived. Nothing is edited: the ledger keeps what the old rules said, and the quarantined rows of the old
version show as `fixed` (its status is `superseded`); the new version's rows are quarantined or loaded anew
(a waiver of an old version's row does not carry over: the row is reviewed again under the new rules).

Unit codes are a glob (`3304*`, `330402`, `33040?`), matched with DuckDB's GLOB on `unit_code`; periods are
`YYYY-MM` for buildings, and `YYYY` (or a month, of which the year is taken) for production bases and targets.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from foundation.bilingual import join
from foundation.config import SUBMISSION_KINDS, Settings
from foundation.db import connect_warehouse
from foundation.workdir import WorkDir
from ingestion.discover import LandedFile, sha256_of

UNIT_CODE_PATTERN = r"^[0-9*?]{1,12}$"
PERIOD_PATTERN = r"^[0-9]{4}(-(0[1-9]|1[0-2]))?$"

SLICE_SQL = """
with slice as (
    select * from dq.submission_ledger
    where kind = $kind and unit_code glob $units and period between $first and $last
        and status in ('loaded', 'rejected')
),
holder as (
    select kind, unit_code, period, max(received_at) filter (where status = 'loaded') as since
    from slice group by all
)
select s.submission_id, s.kind, s.unit_code, s.period, s.landing_path, s.file_name, s.sha256, s.size_bytes,
    s.received_at, s.archived_path, s.status
from slice as s join holder as h using (kind, unit_code, period)
where h.since is null or s.received_at >= h.since
order by s.received_at, s.landing_path
"""


@dataclass(frozen=True)
class Slice:
    kind: str
    unit_code_pattern: str
    period_from: str
    period_to: str

    @classmethod
    def from_params(cls, params: dict) -> Slice:
        """The slice named by the DAG's params (or a caller's dict); ValueError naming what is wrong."""
        kind = str(params.get("kind") or "")
        units = str(params.get("unit_code_pattern") or "")
        first, last = str(params.get("period_from") or ""), str(params.get("period_to") or "")
        if kind not in SUBMISSION_KINDS:
            raise ValueError(f"种类无效: kind must be one of {', '.join(SUBMISSION_KINDS)}; got {kind!r}")
        if not re.match(UNIT_CODE_PATTERN, units):
            raise ValueError(f"单位代码模式无效: unit_code_pattern is digits with * and ? (e.g. 3304*, 330402); "
                             f"got {units!r}")
        for name, value in (("period_from", first), ("period_to", last)):
            if not re.match(PERIOD_PATTERN, value) or (kind == "buildings" and len(value) != 7):
                grain = "YYYY-MM" if kind == "buildings" else "YYYY"
                raise ValueError(f"统计期无效: {name} is {grain} for {kind}; got {value!r}")
        if kind != "buildings":
            first, last = first[:4], last[:4]
        if first > last:
            raise ValueError(f"统计期范围无效: period_from {first} is after period_to {last}")
        return cls(kind, units, first, last)


def slice_files(settings: Settings, slice_: Slice) -> list[dict]:
    """The ledger rows of the files to re-read (see the module's doc), in received order."""
    columns = ("submission_id", "kind", "unit_code", "period", "landing_path", "file_name", "sha256", "size_bytes",
               "received_at", "archived_path", "status")
    with connect_warehouse(settings, read_only=True) as con:
        rows = con.execute(SLICE_SQL, {"kind": slice_.kind, "units": slice_.unit_code_pattern,
                                       "first": slice_.period_from, "last": slice_.period_to}).fetchall()
    return [dict(zip(columns, r, strict=True)) for r in rows]


def write_manifest(settings: Settings, run_id: str, slice_: Slice) -> list[dict]:
    """The run's manifest (as the discover stage writes it): each file of the slice as a version reprocessed by
    `run_id`; returns the files. A copy that no longer hashes to its ledger's sha256 is listed with that problem
    (it is rejected with the reason, and the version it would replace is kept superseded, not lost)."""
    files = slice_files(settings, slice_)
    manifest = []
    for f in files:
        problem = None
        copy = Path(f["archived_path"])
        if not copy.is_file() or sha256_of(copy) != f["sha256"]:
            problem = join(f"存档副本“{copy}”缺失或已损坏（其 sha256 不再是 {f['sha256']}）：请报送单位重新报送该文件",
                           f"the archived copy '{copy}' is missing or no longer hashes to {f['sha256']}; ask the "
                           "county to send the file again")
        landed = LandedFile(f["kind"], f["landing_path"], f["file_name"], f["sha256"], f["size_bytes"],
                            f["received_at"], problem=problem, reprocessed_by=run_id)
        note = join(f"重新处理：运行 {run_id} 按现行规则和模板重新处理报送 {f['submission_id']}"
                    f"（原状态 {f['status']}）",
                    f"reprocess of submission {f['submission_id']} ({f['status']}) by run {run_id}, with today's "
                    "rules and template")
        manifest.append(asdict(landed) | {"received_at": landed.received_at.isoformat(),
                                          "submission_id": landed.submission_id, "archived_path": str(copy),
                                          "notes": [note], "reprocesses": f["submission_id"]})
    WorkDir(settings, run_id).write_json("manifest.json", manifest)
    return files
