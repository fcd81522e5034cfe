"""The ingestion stages of a nightly run, one function per Airflow task:

discover (find new files, archive them) -> read (parse and normalise each file) -> check (submission
checks, per kind, in batches) -> load (ledger, quarantine and raw tables in one transaction).

Each stage reads what the previous one left in the run's work folder and returns a small summary.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from ingestion.archive import archive
from ingestion.discover import LandedFile, scan_landing
from ingestion.errors import RejectedFile
from ingestion.ledger import RAW_COLUMNS, Ledger
from ingestion.naming import parse_file_name, rows_disagree
from ingestion.read import read_submission
from ingestion.units import UnknownUnit, load_units
from ingestion.workdir import WorkDir
from ingestion.workdir import prune as prune_work
from warehouse.config import SUBMISSION_KINDS, Settings
from warehouse.db import connect_warehouse

log = logging.getLogger(__name__)


def discover(settings: Settings, run_id: str) -> dict:
    """Archive every landed file the ledger has not accounted for; write the run's manifest."""
    landed = scan_landing(settings.landing_dir)
    with connect_warehouse(settings, read_only=True) as con:
        known = {r[0] for r in con.execute("select submission_id from dq.submission_files").fetchall()}
    manifest = []
    for f in landed:
        if f.submission_id in known:
            continue
        entry = asdict(f) | {"submission_id": f.submission_id}
        entry["archived_path"] = str(archive(settings.landing_dir, settings.archive_dir, f))
        manifest.append(entry)
    WorkDir(settings, run_id).write_json("manifest.json", manifest)
    pruned = prune_work(settings, run_id)
    log.info("%d files in the landing zone, %d new; %d stale work folders removed", len(landed), len(manifest),
             len(pruned))
    return {"landed": len(landed), "new": len(manifest)}


def _period_start(kind: str, period: str) -> date:
    return date.fromisoformat(f"{period}-01" if len(period) == 7 else f"{period}-01-01")


def _read_one(settings: Settings, entry: dict, units, work: WorkDir) -> dict:
    """Read one file; returns its outcome (and writes its rows to the work folder)."""
    out = {"submission_id": entry["submission_id"], "status": "read", "reason": None, "warnings": [],
           "unit_code": None, "period": None, "rows_received": 0, "rows_ignored": 0, "cell_errors": {}}
    try:
        if entry["problem"]:
            raise RejectedFile(entry["problem"])
        kind = entry["kind"]
        name = parse_file_name(kind, entry["file_name"])
        out["period"] = name.period
        try:
            resolved = units.resolve(name.unit_code, _period_start(kind, name.period))
        except UnknownUnit as exc:
            raise RejectedFile(str(exc)) from exc
        out["unit_code"] = resolved.unit_code
        if resolved.warning:
            out["warnings"].append(resolved.warning)
        from pathlib import Path

        # The raw JSON of a row is only needed if the row is quarantined: it is built then (see _load_one).
        result = read_submission(Path(entry["archived_path"]), kind, max_bytes=settings.max_file_bytes, raw=False,
                                 max_unzipped_bytes=settings.max_unzipped_bytes)
    except RejectedFile as exc:
        out.update(status="rejected", reason=exc.reason)
        return out
    frame = result.frame.copy()
    frame.insert(0, "submission_id", entry["submission_id"])
    frame["file_unit_code"] = resolved.unit_code
    frame["file_period"] = name.period
    _resolve_row_units(frame, resolved.unit_code, units, out["warnings"], kind)
    disagreement = rows_disagree(kind, frame, resolved.unit_code, name.period)
    if disagreement:
        out.update(status="rejected", reason=disagreement)
        return out
    work.write_frame(f"{entry['submission_id']}.parquet", frame)
    out.update(rows_received=result.rows_received, rows_ignored=len(result.ignored),
               ignored=[asdict(i) for i in result.ignored],
               warnings=out["warnings"] + list(result.warnings),
               cell_errors={str(k): v for k, v in result.errors.items()})
    return out


def _resolve_row_units(frame: pd.DataFrame, file_unit: str, units, warnings: list[str], kind: str) -> None:
    """Map retired codes on rows to their successors (with a warning) and mark unknown ones."""
    known, scope = {}, {}
    for code in frame["unit_code"].dropna().unique():
        try:
            res = units.resolve(str(code))
        except UnknownUnit:
            known[code], scope[code] = False, False
            continue
        if res.warning:
            warnings.append(f"rows: {res.warning}")
        known[code] = True
        scope[code] = units.is_descendant_or_self(res.unit_code, file_unit)
        frame.loc[frame["unit_code"] == code, "unit_code"] = res.unit_code
        scope[res.unit_code] = scope[code]
        known[res.unit_code] = True
    frame["unit_known"] = frame["unit_code"].map(known).fillna(False).astype(bool)
    frame["unit_in_scope"] = frame["unit_code"].map(scope).fillna(False).astype(bool)


def read(settings: Settings, run_id: str) -> dict:
    """Read and normalise every new file of the run."""
    work = WorkDir(settings, run_id)
    units = load_units()
    outcomes = [_read_one(settings, e, units, work) for e in work.read_json("manifest.json", [])]
    work.write_json("read.json", outcomes)
    counts = Counter(o["status"] for o in outcomes)
    return {"read": counts.get("read", 0), "rejected": counts.get("rejected", 0)}


def check(settings: Settings, run_id: str) -> dict:
    """Run the submission checks over all new files, one batch per kind."""
    from expectations.submission import check_batch

    work = WorkDir(settings, run_id)
    manifest = {e["submission_id"]: e for e in work.read_json("manifest.json", [])}
    outcomes = work.read_json("read.json", [])
    verdicts: dict[str, dict] = {}
    results = []
    for kind in SUBMISSION_KINDS:
        readable = [o for o in outcomes if o["status"] == "read" and manifest[o["submission_id"]]["kind"] == kind]
        frames = [work.read_frame(f"{o['submission_id']}.parquet") for o in readable]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["submission_id", "row_number"])
        cell_errors = {(o["submission_id"], int(r)): errs for o in readable
                       for r, errs in o["cell_errors"].items()}
        outcome = check_batch(kind, frame, cell_errors, settings.gx_dir)
        for o in readable:
            verdicts[o["submission_id"]] = {"quarantined": {}, "row_warnings": {}}
        for (sid, row), reasons in outcome.reasons.items():
            verdicts[sid]["quarantined"][str(row)] = reasons
        for (sid, row), reasons in outcome.warnings.items():
            verdicts[sid]["row_warnings"][str(row)] = reasons
        results += [asdict(r) for r in outcome.results]
    work.write_json("checks.json", {"verdicts": verdicts, "results": results})
    failed = sum(1 for r in results if r["status"] == "fail")
    return {"checks": len(results), "failed": failed,
            "rows_quarantined": sum(len(v["quarantined"]) for v in verdicts.values())}


def _raw_rows(kind: str, frame: pd.DataFrame, file_period: str) -> pd.DataFrame:
    """The accepted rows of one file, shaped like the raw table (defaults applied)."""
    rows = frame.copy()
    if kind == "buildings":
        rows["period"] = pd.to_datetime(rows["period"] + "-01").dt.date
        rows["assembly_rate_reported_pct"] = rows["assembly_rate_pct"]
        rows["evaluation_standard"] = rows["evaluation_standard"].fillna("GB/T 51129-2017")
        rows["green_star"] = rows["green_star"].fillna("none")
    if kind == "production_bases":
        rows["year"] = int(file_period)
    return rows[["submission_id", "row_number", *RAW_COLUMNS[kind]]]


def load(settings: Settings, run_id: str) -> dict:
    """Record every new file in the ledger and load the accepted rows, all in one transaction.

    Duplicates (bytes already received) are recorded, not loaded. For each kind, unit and period the
    latest received file wins: the rows of the file it supersedes are removed from the raw table.
    """
    work = WorkDir(settings, run_id)
    manifest = work.read_json("manifest.json", [])
    outcomes = {o["submission_id"]: o for o in work.read_json("read.json", [])}
    checks = work.read_json("checks.json", {"verdicts": {}, "results": []})
    with connect_warehouse(settings) as con:
        con.execute("begin transaction")
        try:
            ledger = Ledger(con, run_id)
            for entry in manifest:
                landed = LandedFile(**{k: entry[k] for k in LandedFile.__dataclass_fields__}
                                    | {"received_at": datetime.fromisoformat(entry["received_at"])})
                _load_one(con, ledger, landed, entry, outcomes[entry["submission_id"]], checks["verdicts"], work)
            ledger.record_checks(checks["results"], stage="submission")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    counts = Counter(ledger.statuses.values())
    work.remove()
    return dict(counts) | {"rows_loaded": ledger.rows_loaded, "rows_quarantined": ledger.rows_quarantined}


def _load_one(con: duckdb.DuckDBPyConnection, ledger, landed: LandedFile, entry: dict, outcome: dict,
              verdicts: dict, work: WorkDir) -> None:
    sid = landed.submission_id
    if ledger.known(sid):
        return  # accounted for by an earlier (interrupted) run
    base = {"kind": landed.kind or "unknown", "unit_code": outcome["unit_code"], "period": outcome["period"],
            "archived_path": entry["archived_path"], "warnings": outcome["warnings"]}
    original = ledger.same_bytes(landed.sha256, base["kind"], base["unit_code"], base["period"])
    if original:
        ledger.record(landed, base, status="duplicate",
                      reason=f"byte-identical to submission {original[0]} ('{original[1]}') for the same unit and "
                      "period, already received")
        return
    if outcome["status"] == "rejected":
        ledger.record(landed, base, status="rejected", reason=outcome["reason"],
                      rows=(outcome["rows_received"], 0, 0, outcome["rows_ignored"]))
        return
    frame = work.read_frame(f"{sid}.parquet")
    verdict = verdicts.get(sid, {"quarantined": {}, "row_warnings": {}})
    bad = {int(r): reasons for r, reasons in verdict["quarantined"].items()}
    good = frame[~frame["row_number"].isin(bad)]
    for r, reasons in verdict["row_warnings"].items():
        base["warnings"].append(f"row {r}: " + "; ".join(reasons))
    if bad:
        raw = read_submission(Path(entry["archived_path"]), landed.kind, raw=False).raw_json(bad)
        ledger.quarantine(sid, [(r, raw[r], reasons) for r, reasons in sorted(bad.items())])
    winner = ledger.take_slice(landed, base["kind"], outcome["unit_code"], outcome["period"])
    if winner:
        rows = _raw_rows(base["kind"], good, outcome["period"])
        ledger.insert_raw(base["kind"], rows, landed.received_at)
    ledger.record(landed, base, status="loaded", reason=None,
                  rows=(outcome["rows_received"], len(good), len(bad), outcome["rows_ignored"]))
    if not winner:
        ledger.supersede(sid, "a later file for the same kind, unit and period was already loaded")
    ledger.rows_loaded += len(good)
