"""The ingestion stages of a nightly run (their order and locking: `pipeline.stages.STAGES`):

discover (find new files, archive them) -> read (parse and normalise each file) -> [check: the submission
checks, `expectations.check_stage`] -> load (ledger, quarantine and raw tables in one transaction).

Each stage reads what the previous one left in the run's work folder and returns a small record
(`DiscoverSummary`, `ReadSummary`, `LoadSummary`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from foundation.bilingual import join, part
from foundation.config import SUBMISSION_KINDS, Settings
from foundation.db import connect_warehouse
from foundation.journal import CHECK_TABLES, LEDGER_TABLES
from foundation.journal import sync as sync_journal
from foundation.units import UnknownUnit, load_units
from foundation.workdir import WorkDir
from foundation.workdir import prune as prune_work
from ingestion import accepted as accepted_rows
from ingestion.archive import LandedFileChanged, UnreadableLandedFile, archive
from ingestion.discover import LandedFile, scan_landing, settling
from ingestion.errors import RejectedFile
from ingestion.ledger import Ledger
from ingestion.naming import parse_file_name, rows_disagree
from ingestion.periods import period_plausible
from ingestion.read import read_batch, read_submission
from ingestion.recover import recover_from_archive

log = logging.getLogger(__name__)


@dataclass
class DiscoverSummary:
    landed: int  # files in the landing zone
    new: int  # of them, not yet accounted for by the ledger: archived and listed in the run's manifest
    recovered: int = 0  # of the new, archived files the ledger did not know and the landing zone no longer holds
    waiting: list[str] = field(default_factory=list)  # landed paths still being written: left for a later run


@dataclass
class ReadSummary:
    read: int  # files read (their rows in the work folder)
    rejected: int  # files rejected before or while reading


@dataclass
class LoadSummary:
    """Files recorded in the ledger by status, and the rows loaded and quarantined."""

    loaded: int = 0
    rejected: int = 0
    duplicate: int = 0
    superseded: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_accepted: int = 0  # quarantined rows a steward accepted, loaded by this run (`ingestion.accepted`)
    rows_unaccepted: int = 0  # accepted rows reopened since, taken out of the raw tables by this run


def discover(settings: Settings, run_id: str) -> DiscoverSummary:
    """Archive every landed file the ledger has not accounted for; write the run's manifest."""
    with connect_warehouse(settings, read_only=True) as con:
        files = con.execute("select submission_id, landing_path, size_bytes, received_at, sha256 "
                            "from dq.submission_files").fetchall()
    known = {r[0] for r in files}
    hashes = {} if settings.rehash_landing else {(path, size, at): sha for _, path, size, at, sha in files}
    landed = scan_landing(settings.landing_dir, hashes)
    # archived files the ledger does not know and the landing zone no longer holds (a lost warehouse)
    recovered = {f.submission_id: (f, copy, note) for f, copy, note in recover_from_archive(
        settings.archive_dir, {r[4] for r in files}, known | {f.submission_id for f in landed})}
    manifest, waiting = [], []
    for f in sorted(landed + [r[0] for r in recovered.values()], key=lambda f: (f.received_at, f.landing_path)):
        if f.submission_id in known:
            continue
        if f.submission_id in recovered:
            _, copy, note = recovered[f.submission_id]
            manifest.append(asdict(f) | {"submission_id": f.submission_id, "archived_path": str(copy),
                                         "notes": [note]})
            continue
        if settling(f, settings.landing_settle_seconds):  # still being written, perhaps: not yet
            log.info("waiting for the next run: %s was modified less than %g s ago", f.landing_path,
                     settings.landing_settle_seconds)
            waiting.append(f.landing_path)
            continue
        try:
            archived = archive(settings.landing_dir, settings.archive_dir, f)
        except LandedFileChanged as exc:
            log.info("waiting for the next run: %s", exc)
            waiting.append(f.landing_path)
            continue
        except UnreadableLandedFile as exc:  # recorded as rejected, with a note archived in its place
            f = exc.landed
            if f.submission_id in known:
                continue
            archived = archive(settings.landing_dir, settings.archive_dir, f)
        manifest.append(asdict(f) | {"submission_id": f.submission_id, "archived_path": str(archived), "notes": []})
    WorkDir(settings, run_id).write_json("manifest.json", manifest)
    pruned = prune_work(settings, run_id)
    log.info("%d files in the landing zone, %d new (%d recovered from the archive), %d waiting; %d stale work "
             "folders removed", len(landed), len(manifest), len(recovered), len(waiting), len(pruned))
    return DiscoverSummary(landed=len(landed), new=len(manifest), recovered=len(recovered), waiting=waiting)


def _period_start(kind: str, period: str) -> date:
    return date.fromisoformat(f"{period}-01" if len(period) == 7 else f"{period}-01-01")


# A read batch holds at most this many input bytes (the rows of one batch are in memory at once).
BATCH_BYTES = 64 << 20
BATCH_FILES = 5000


def _batches(entries: list[dict]) -> list[list[dict]]:
    batches: list[list[dict]] = []
    size = 0
    for e in entries:
        if not batches or size + e["size_bytes"] > BATCH_BYTES or len(batches[-1]) >= BATCH_FILES:
            batches.append([])
            size = 0
        batches[-1].append(e)
        size += e["size_bytes"]
    return batches


def _outcome(entry: dict) -> dict:
    return {"submission_id": entry["submission_id"], "kind": entry["kind"], "status": "read", "reason": None,
            "warnings": list(entry.get("notes", [])), "unit_code": None, "period": None, "rows_received": 0,
            "rows_ignored": 0, "rows": 0, "cell_errors": {}}


def _name_and_unit(entry: dict, units, out: dict) -> bool:
    """Check the file name and its unit; False (and the outcome rejected) when the file cannot be read."""
    try:
        if entry["problem"]:
            raise RejectedFile(entry["problem"])
        name = parse_file_name(entry["kind"], entry["file_name"])
        out["period"] = name.period
        try:
            resolved = units.resolve(name.unit_code, _period_start(entry["kind"], name.period))
        except UnknownUnit as exc:
            raise RejectedFile(exc.bilingual) from exc
    except RejectedFile as exc:
        out.update(status="rejected", reason=exc.reason)
        return False
    out["unit_code"] = resolved.unit_code
    if resolved.warning:
        out["warnings"].append(resolved.warning)
    return True


def _read_batch(settings: Settings, kind: str, entries: list[dict], outcomes: dict[str, dict], units,
                work: WorkDir, name: str) -> None:
    """Read a batch of files of one kind; write their rows (with the files' context columns) to `name`."""
    # The raw JSON of a row is only needed if the row is quarantined: it is built then (see load).
    batch = read_batch([Path(e["archived_path"]) for e in entries], kind, settings.max_file_bytes, raw=False,
                       max_unzipped_bytes=settings.max_unzipped_bytes)
    sids, counts = [], []
    for entry, res in zip(entries, batch.files, strict=True):
        out = outcomes[entry["submission_id"]]
        if isinstance(res, RejectedFile):
            out.update(status="rejected", reason=res.reason)
            continue
        out.update(rows_received=res.rows_received, rows_ignored=len(res.ignored), rows=res.rows,
                   ignored=[asdict(i) for i in res.ignored], warnings=out["warnings"] + list(res.warnings),
                   cell_errors={str(k): v for k, v in res.errors.items()})
        sids.append(entry["submission_id"])
        counts.append(res.rows)
    file_of = pa.array(np.repeat(np.arange(len(sids)), counts))
    table = pa.Table.from_pandas(batch.frame, preserve_index=False)
    context = {"submission_id": sids, "file_unit_code": [outcomes[s]["unit_code"] for s in sids],
               "file_period": [outcomes[s]["period"] for s in sids]}
    for i, (column, values) in enumerate(context.items()):
        table = table.add_column(i, column, pc.take(pa.array(values, pa.string()), file_of))
    del batch
    table = _resolve_row_units(table, units, outcomes)
    work.write_table(name, _reject_disagreeing(kind, table, outcomes))


def _factorize(column: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """(code per row, -1 for null; the distinct values)."""
    encoded = column.combine_chunks().dictionary_encode()
    return pc.fill_null(encoded.indices, -1).to_numpy().astype(np.int64), encoded.dictionary.to_pylist()


def _resolve_row_units(table: pa.Table, units, outcomes: dict[str, dict]) -> pa.Table:
    """Map retired codes on rows to their successors (with a warning to the file) and mark unknown codes
    and codes outside the file's unit: once per distinct (row unit, file unit) pair of the batch."""
    code_idx, code_uniques = _factorize(table.column("unit_code"))
    file_idx, file_uniques = _factorize(table.column("file_unit_code"))
    resolved: list[str | None] = []  # the current code of each distinct code; None when unknown
    for code in code_uniques:
        try:
            res = units.resolve(str(code))
        except UnknownUnit:
            resolved.append(None)
            continue
        resolved.append(res.unit_code)
        if res.warning:
            rows = np.flatnonzero(code_idx == len(resolved) - 1)
            for sid in pc.unique(table.column("submission_id").take(pa.array(rows))).to_pylist():
                outcomes[sid]["warnings"].append(join(f"数据行：{part(res.warning, 'zh')}",
                                                      f"rows: {part(res.warning, 'en')}"))
    pair = np.where(code_idx < 0, -1, code_idx.astype(np.int64) * max(len(file_uniques), 1) + file_idx)
    pairs, inverse = np.unique(pair, return_inverse=True)
    known = np.zeros(len(pairs), dtype=bool)
    scope = np.zeros(len(pairs), dtype=bool)
    for k, p in enumerate(pairs):
        if p < 0:
            continue
        unit = resolved[p // max(len(file_uniques), 1)]
        if unit is not None:
            known[k] = True
            scope[k] = units.is_descendant_or_self(unit, str(file_uniques[p % max(len(file_uniques), 1)]))
    # an unknown code stays as written (the checks name it); a retired one becomes its successor
    current = [r if r is not None else c for r, c in zip(resolved, code_uniques, strict=True)]
    new_codes = pc.take(pa.array(current + [None], pa.string()),
                        pa.array(np.where(code_idx < 0, len(resolved), code_idx)))
    i = table.column_names.index("unit_code")
    table = table.set_column(i, "unit_code", new_codes)
    table = table.append_column("unit_known", pa.array(known[inverse]))
    return table.append_column("unit_in_scope", pa.array(scope[inverse]))


def _reject_disagreeing(kind: str, table: pa.Table, outcomes: dict[str, dict]) -> pa.Table:
    """Reject the files whose rows all disagree with their name (`ingestion.naming.rows_disagree`) and drop
    their rows. Vectorised over the batch: only files where no stated unit, period or year agrees with the
    name are looked at one by one, for their reason."""
    if table.num_rows == 0:
        return table
    columns = ["submission_id", "file_unit_code", "file_period", "unit_code", "period", "year", "unit_in_scope"]
    f = table.select([c for c in columns if c in table.column_names]).to_pandas()
    sid = f["submission_id"]

    def no_row_agrees(stated: pd.Series, agrees: pd.Series) -> set[str]:
        stated = stated.fillna(False).astype(bool)
        agrees = agrees.fillna(False).astype(bool) & stated
        by_file = pd.DataFrame({"sid": sid, "stated": stated, "agrees": agrees}).groupby("sid", sort=False).any()
        return set(by_file.index[by_file["stated"] & ~by_file["agrees"]])

    if kind == "targets":
        year = pd.to_numeric(f["year"], errors="coerce")
        suspects = no_row_agrees(year.notna(), year == pd.to_numeric(f["file_period"], errors="coerce"))
        suspects |= no_row_agrees(f["unit_code"].notna(), f["unit_in_scope"])
    else:
        suspects = no_row_agrees(f["unit_code"].notna(), f["unit_code"] == f["file_unit_code"])
        if kind == "buildings":
            suspects |= no_row_agrees(f["period"].notna(), f["period"] == f["file_period"])
    rejected = []
    for s in sorted(suspects):
        out = outcomes[s]
        why = rows_disagree(kind, f[sid == s], out["unit_code"], out["period"])
        if why:
            out.update(status="rejected", reason=why, rows_received=0, rows_ignored=0, rows=0, ignored=[],
                       cell_errors={})
            rejected.append(s)
    if not rejected:
        return table
    return table.filter(pc.invert(pc.is_in(table.column("submission_id"), pa.array(rejected, pa.string()))))


def read(settings: Settings, run_id: str) -> ReadSummary:
    """Read and normalise every new file of the run, in batches per kind (see `ingestion.read.read_batch`)."""
    work = WorkDir(settings, run_id)
    for name in work.names("rows_"):
        (work.path / name).unlink()
    units = load_units(settings.reporting_units_path)
    manifest = work.read_json("manifest.json", [])
    outcomes = {e["submission_id"]: _outcome(e) for e in manifest}
    readable = [e for e in manifest if _name_and_unit(e, units, outcomes[e["submission_id"]])
                and period_plausible(settings, e, outcomes[e["submission_id"]])]
    for kind in SUBMISSION_KINDS:
        entries = [e for e in readable if e["kind"] == kind]
        for i, batch in enumerate(_batches(entries)):
            _read_batch(settings, kind, batch, outcomes, units, work, f"rows_{kind}_{i:04d}.arrow")
    work.write_json("read.json", list(outcomes.values()))
    counts = Counter(o["status"] for o in outcomes.values())
    return ReadSummary(read=counts.get("read", 0), rejected=counts.get("rejected", 0))


def row_batches(work: WorkDir, kind: str) -> Iterator[pa.Table]:
    """The batches of rows of a kind that the read stage wrote, one at a time (memory-mapped)."""
    for name in work.names(f"rows_{kind}_"):
        yield work.read_table(name)


def load(settings: Settings, run_id: str) -> LoadSummary:
    """Record every new file in the ledger and load the accepted rows, all in one transaction.

    Duplicates (bytes already received) are recorded, not loaded. For each kind, unit and period the
    latest received file wins: the rows of the file it supersedes are removed from the raw table. The
    accepted rows of a kind are inserted with one statement per read batch.
    """
    work = WorkDir(settings, run_id)
    manifest = work.read_json("manifest.json", [])
    outcomes = {o["submission_id"]: o for o in work.read_json("read.json", [])}
    checks = work.read_json("checks.json", {"verdicts": {}, "results": []})
    extra = _read_accepted(settings, run_id)
    with connect_warehouse(settings) as con:
        con.execute("begin transaction")
        try:
            ledger = Ledger(con, run_id)
            pending: dict[str, tuple] = {}  # submission id -> (slice key, received at): rows to insert
            rejected_rows: list[tuple[str, int]] = []
            for entry in manifest:  # a reprocessing (ingestion.reprocess) supersedes the version it re-reads
                if entry.get("reprocesses") and not ledger.known(entry["submission_id"]):
                    new = entry["submission_id"]
                    ledger.release(entry["reprocesses"], join(
                        f"已由运行 {run_id} 按现行规则和模板重新处理，新版本为报送 {new}",
                        f"reprocessed by run {run_id} as submission {new} (today's rules and template)"))
            for entry in manifest:
                # a manifest a killed run wrote before a field existed lacks it: the field's default
                landed = LandedFile(**{k: entry[k] for k in LandedFile.__dataclass_fields__ if k in entry}
                                    | {"received_at": datetime.fromisoformat(entry["received_at"])})
                _load_one(ledger, landed, entry, outcomes[entry["submission_id"]], checks["verdicts"], pending,
                          rejected_rows)
            for kind in SUBMISSION_KINDS:
                # a file superseded by a later one of the same run is recorded, its rows are not inserted
                accepted = {sid: received for sid, (key, received) in pending.items()
                            if key[0] == kind and ledger.slice_holder(key) == sid}
                for rows in row_batches(work, kind) if accepted else ():
                    ledger.insert_raw(kind, rows, accepted, rejected_rows)
            ledger.flush()  # after the raw rows: inserting them may add warnings to the files (insert_raw)
            ledger.record_checks(checks["results"], stage="submission")
            # after the files are recorded: a file this run superseded no longer loads its accepted rows
            steward = accepted_rows.apply(con, ledger, lambda kind: row_batches(extra, kind) if extra else ())
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        sync_journal(con, settings, LEDGER_TABLES + CHECK_TABLES)  # the ledger outside the warehouse file too
    counts = Counter(ledger.statuses.values())
    work.remove()
    if extra:
        extra.remove()
    return LoadSummary(**counts, rows_loaded=ledger.rows_loaded, rows_quarantined=ledger.rows_quarantined,
                       rows_accepted=steward.inserted, rows_unaccepted=steward.removed)


def _read_accepted(settings: Settings, run_id: str) -> WorkDir | None:
    """The files with accepted rows not yet loaded (`ingestion.accepted`), read again from the archive by the read
    stage into a work folder of their own; None when there are none (most nights: one query)."""
    with connect_warehouse(settings) as con:  # the load's own writer connection (the schema ensured)
        entries = accepted_rows.files_to_read(con)
    if not entries:
        return None
    work_id = f"{run_id}.accepted"
    extra = WorkDir(settings, work_id)
    extra.write_json("manifest.json", entries)
    read(settings, work_id)
    return extra


def _load_one(ledger: Ledger, landed: LandedFile, entry: dict, outcome: dict, verdicts: dict,
              pending: dict[str, tuple], rejected_rows: list[tuple[str, int]]) -> None:
    sid = landed.submission_id
    if ledger.known(sid):
        return  # accounted for by an earlier (interrupted) run
    base = {"kind": landed.kind or "unknown", "unit_code": outcome["unit_code"], "period": outcome["period"],
            "archived_path": entry["archived_path"], "warnings": outcome["warnings"]}
    original = ledger.same_bytes(landed.sha256, base["kind"], base["unit_code"], base["period"])
    if original:
        ledger.record(landed, base, status="duplicate",
                      reason=join(f"与报送 {original[0]}（“{original[1]}”）逐字节相同，该文件是单位 "
                                  f"{base['unit_code']} 期间 {base['period']} 已载入的数据："
                                  "内容没有变化，本文件不再载入",
                                  f"byte-identical to submission {original[0]} ('{original[1]}'), the file loaded for "
                                  f"the same unit {base['unit_code']} and period {base['period']}: nothing changed"))
        return
    ledger.ignore(sid, outcome.get("ignored", []))  # as many as rows_ignored counts
    if outcome["status"] == "rejected":
        ledger.record(landed, base, status="rejected", reason=outcome["reason"],
                      rows=(outcome["rows_received"], 0, 0, outcome["rows_ignored"]))
        return
    verdict = verdicts.get(sid, {"quarantined": {}, "row_warnings": {}})
    bad = {int(r): reasons for r, reasons in verdict["quarantined"].items()}
    failed = {int(r): names for r, names in verdict.get("rules", {}).items()}  # a killed older run's: none
    for r, reasons in verdict["row_warnings"].items():
        base["warnings"].append(join(f"第 {r} 行：" + "；".join(part(x, "zh") for x in reasons),
                                     f"row {r}: " + "; ".join(part(x, "en") for x in reasons)))
    if bad:
        raw = read_submission(Path(entry["archived_path"]), landed.kind, raw=False).raw_json(bad)
        ledger.quarantine(sid, [(r, raw[r], reasons, failed.get(r)) for r, reasons in sorted(bad.items())])
        rejected_rows += [(sid, r) for r in bad]
    good = outcome["rows"] - len(bad)
    key = (base["kind"], outcome["unit_code"], outcome["period"])
    winner = ledger.take_slice(landed, *key)
    if winner:
        pending[sid] = (key, landed.received_at)
    ledger.record(landed, base, status="loaded", reason=None,
                  rows=(outcome["rows_received"], good, len(bad), outcome["rows_ignored"]))
    if not winner:
        ledger.supersede(sid, join("同一类报表、同一单位和期间已载入了更晚报送的文件，本文件的数据不再使用",
                                   "a later file for the same kind, unit and period was already loaded"))
