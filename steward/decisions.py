"""Steward decisions, recorded in `dq.steward_reviews` (../shared/specs/quality-contract.md).

A decision is on a quarantined row (`<submission_id>:<row_number>`), a check (`<check_name>`) or a submission
(`<submission_id>`): `waive`, `reject`, `request_resubmission` or `reopen`. Decisions are never edited: a later
decision on the same target is a new row, and the latest one is in force (a waived gate check lets the next
publication through; a waived quarantined row shows as `waived` in `dq.quarantined_rows`).

    python -m steward.decisions waive-check gx.reconciliation_prefab_floor_area --reviewer wang --note "..."
    python -m steward.decisions waive-row SUBMISSION_ID ROW_NUMBER --reviewer wang --note "..."
    python -m steward.decisions reject-submission SUBMISSION_ID --reviewer wang --note "..."
    python -m steward.decisions request-resubmission SUBMISSION_ID --reviewer wang --note "..."
    python -m steward.decisions reopen TARGET_TYPE TARGET_ID --reviewer wang --note "..."
    python -m steward.decisions history [--target-type T] [--target-id X] [--json]
    python -m steward.decisions open-failures [--json]
    python -m steward.decisions resubmission-requests [--json]

Invalid input exits with status 2 and a message; a warehouse that cannot be opened (e.g. a run holds its
write lock) exits with status 1.

This module is the one place decisions are taken and listed: the steward web app (package `steward`) calls
the same functions. A decision takes the warehouse lock (foundation/lock.py) for a few seconds at most, so it
never collides with a nightly run writing the warehouse; it fails with `WarehouseBusy` instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import duckdb

from foundation.config import Settings
from foundation.config import settings as current_settings
from foundation.db import connect_warehouse
from foundation.lock import WarehouseBusy, warehouse_lock

DECISIONS = ("waive", "reject", "request_resubmission", "reopen")
TARGET_TYPES = ("quarantined_row", "check", "submission")
COLUMNS = ("review_id", "reviewed_at", "reviewer", "target_type", "target_id", "decision", "note")
DECISION_LOCK_WAIT_SECONDS = 3.0


def _canonical_target(con: duckdb.DuckDBPyConnection, target_type: str, target_id: str) -> str:
    """The target id as stored (row numbers normalised); ValueError if there is no such target."""
    if target_type == "quarantined_row":
        submission_id, sep, row_text = target_id.rpartition(":")
        if not sep or not submission_id or not row_text.strip().lstrip("-").isdigit():
            raise ValueError(f"a quarantined row is identified as '<submission_id>:<row_number>', got {target_id!r}")
        submission_id, row_number = submission_id.strip(), int(row_text)
        found = con.execute("select count(*) from dq.quarantine where submission_id = ? and row_number = ?",
                            [submission_id, row_number]).fetchone()[0]
        if not found:
            raise ValueError(f"no quarantined row {row_number} in submission {submission_id!r}")
        return f"{submission_id}:{row_number}"
    if target_type == "check":
        found = con.execute("select count(*) from dq.check_results where check_name = ?", [target_id]).fetchone()[0]
        if not found:
            raise ValueError(f"no check named {target_id!r} has ever been recorded in dq.check_results")
        return target_id
    found = con.execute("select count(*) from dq.submission_files where submission_id = ?", [target_id]).fetchone()[0]
    if not found:
        raise ValueError(f"no submission {target_id!r} in dq.submission_files")
    return target_id


def _latest_decision(con: duckdb.DuckDBPyConnection, target_type: str, target_id: str) -> tuple | None:
    return con.execute("""
        select decision, reviewed_at from dq.steward_reviews where target_type = ? and target_id = ?
        order by reviewed_at desc, review_id desc limit 1
    """, [target_type, target_id]).fetchone()


def record_review(settings: Settings, reviewer: str, target_type: str, target_id: str, decision: str,
                  note: str, lock_wait_seconds: float | None = None) -> str:
    """Append one steward decision and return its review_id; ValueError if the input is invalid,
    WarehouseBusy if a run holds the warehouse lock for longer than `lock_wait_seconds`."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}; got {decision!r}")
    if target_type not in TARGET_TYPES:
        raise ValueError(f"target type must be one of {', '.join(TARGET_TYPES)}; got {target_type!r}")
    reviewer = (reviewer or "").strip()
    note = (note or "").strip()
    target_id = str(target_id if target_id is not None else "").strip()
    if not reviewer:
        raise ValueError("a reviewer is required")
    if not note:
        raise ValueError("a note explaining the decision is required")
    if not target_id:
        raise ValueError("a target id is required")
    wait = DECISION_LOCK_WAIT_SECONDS if lock_wait_seconds is None else lock_wait_seconds
    with warehouse_lock(settings, owner=f"steward decision by {reviewer}", wait_seconds=wait), \
            connect_warehouse(settings) as con:
        con.execute("begin transaction")
        try:
            target_id = _canonical_target(con, target_type, target_id)
            latest = _latest_decision(con, target_type, target_id)
            if decision == "reopen" and (latest is None or latest[0] == "reopen"):
                raise ValueError(f"nothing to reopen: {target_type} {target_id!r} has no decision in force")
            now = datetime.now(UTC).replace(tzinfo=None)
            if latest is not None and now <= latest[1]:
                now = latest[1] + timedelta(microseconds=1)  # a newer decision always sorts after the old one
            review_id = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}"
            con.execute("insert into dq.steward_reviews (review_id, reviewed_at, reviewer, target_type, target_id, "
                        "decision, note) values (?, ?, ?, ?, ?, ?, ?)",
                        [review_id, now, reviewer, target_type, target_id, decision, note])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return review_id


@contextmanager
def _reader(settings: Settings, con: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The caller's connection if it has one (the web app reads under the warehouse lock), else a new one."""
    if con is not None:
        yield con
        return
    with connect_warehouse(settings, read_only=True) as own:
        yield own


def history(settings: Settings, target_type: str | None = None, target_id: str | None = None,
            con: duckdb.DuckDBPyConnection | None = None) -> list[dict]:
    """Steward decisions, newest first, optionally for one target type and/or target id."""
    where, params = [], []
    if target_type is not None:
        where.append("target_type = ?")
        params.append(target_type)
    if target_id is not None:
        where.append("target_id = ?")
        params.append(target_id)
    sql = (f"select {', '.join(COLUMNS)} from dq.steward_reviews"
           + (" where " + " and ".join(where) if where else "")
           + " order by reviewed_at desc, review_id desc")
    with _reader(settings, con) as c:
        rows = c.execute(sql, params).fetchall()
    return [dict(zip(COLUMNS, r, strict=True)) for r in rows]


def open_failures(settings: Settings, con: duckdb.DuckDBPyConnection | None = None) -> dict:
    """The latest gate run's failing `error` checks, each with the waiver in force for it now, if any
    (`dq.waivers_in_force`: the next gate run lets that failure through)."""
    with _reader(settings, con) as con:
        latest = con.execute("select run_id, max(checked_at) from dq.check_results where stage = 'gate' "
                             "group by run_id order by 2 desc limit 1").fetchone()
        if latest is None:
            return {"run_id": None, "checked_at": None, "failures": []}
        rows = con.execute("""
            select r.check_name, r.failing_rows, r.detail, r.report_url, w.reviewer, w.review_id
            from dq.check_results as r left join dq.waivers_in_force as w using (check_name)
            where r.stage = 'gate' and r.run_id = ? and r.checked_at = ? and r.severity = 'error'
              and r.status = 'fail'
            order by r.check_name
        """, [latest[0], latest[1]]).fetchall()
    failures = [{"check_name": name, "failing_rows": failing, "detail": detail, "report_url": url,
                 "waived": reviewer is not None, "waived_by": reviewer, "waiver_review_id": review_id}
                for name, failing, detail, url, reviewer, review_id in rows]
    return {"run_id": latest[0], "checked_at": latest[1], "failures": failures}


RESUBMISSION_REQUESTS_SQL = """
with latest as (
    select target_id as submission_id, decision, reviewer, reviewed_at, note,
        row_number() over (partition by target_id order by reviewed_at desc, review_id desc) as rn
    from dq.steward_reviews where target_type = 'submission'
)
select r.submission_id, f.kind, f.unit_code, f.period, f.file_name, r.reviewer, r.reviewed_at, r.note
from latest as r
join dq.submission_files as f on f.submission_id = r.submission_id
where r.rn = 1 and r.decision = 'request_resubmission'
  and not exists (
      select 1 from dq.submission_files as newer
      where newer.kind = f.kind and newer.unit_code = f.unit_code and newer.period = f.period
        and newer.submission_id <> f.submission_id and newer.received_at > f.received_at)
order by r.reviewed_at desc
"""
RESUBMISSION_COLUMNS = ("submission_id", "kind", "unit_code", "period", "file_name", "reviewer", "reviewed_at",
                        "note")


def resubmission_requests(settings: Settings, con: duckdb.DuckDBPyConnection | None = None) -> list[dict]:
    """Resubmission requests still waiting: the latest decision on the submission asks for a resubmission
    and no newer file of the same kind, unit and period has arrived since."""
    with _reader(settings, con) as c:
        rows = c.execute(RESUBMISSION_REQUESTS_SQL).fetchall()
    return [dict(zip(RESUBMISSION_COLUMNS, r, strict=True)) for r in rows]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m steward.decisions", description="Record and list steward "
                                     "decisions on quarantined rows, failed checks and submissions.")
    sub = parser.add_subparsers(dest="command", required=True)

    def decision_parser(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--reviewer", required=True, help="who takes the decision")
        p.add_argument("--note", required=True, help="why (kept with the decision)")
        return p

    decision_parser("waive-check", "waive a failed gate check until the next publication").add_argument("check_name")
    p = decision_parser("waive-row", "waive a quarantined row")
    p.add_argument("submission_id")
    p.add_argument("row_number", type=int)
    decision_parser("reject-submission", "reject a submission").add_argument("submission_id")
    decision_parser("request-resubmission", "ask the unit to resubmit").add_argument("submission_id")
    p = decision_parser("reopen", "withdraw the decision in force on a target")
    p.add_argument("target_type", choices=TARGET_TYPES)
    p.add_argument("target_id")
    p = sub.add_parser("history", help="decisions, newest first")
    p.add_argument("--target-type", choices=TARGET_TYPES)
    p.add_argument("--target-id")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("open-failures", help="the latest gate run's failing blocking checks")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("resubmission-requests", help="resubmissions requested and not yet received")
    p.add_argument("--json", action="store_true")
    return parser


def _decision_args(args: argparse.Namespace) -> tuple[str, str, str] | None:
    """(target_type, target_id, decision) of a decision subcommand; None for the listing ones."""
    return {
        "waive-check": lambda: ("check", args.check_name, "waive"),
        "waive-row": lambda: ("quarantined_row", f"{args.submission_id}:{args.row_number}", "waive"),
        "reject-submission": lambda: ("submission", args.submission_id, "reject"),
        "request-resubmission": lambda: ("submission", args.submission_id, "request_resubmission"),
        "reopen": lambda: (args.target_type, args.target_id, "reopen"),
    }.get(args.command, lambda: None)()


def _print_rows(rows: list[dict], as_json: bool, empty: str, line) -> None:
    """Rows for the operator: as JSON, or one line each (`line(row)`), or `empty` when there are none."""
    if as_json:
        print(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
    elif not rows:
        print(empty)
    for r in [] if as_json else rows:
        print(line(r))


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)  # exits 2 on invalid usage
    s = current_settings()
    try:
        decision = _decision_args(args)
        if decision is not None:
            target_type, target_id, verb = decision
            review_id = record_review(s, args.reviewer, target_type, target_id, verb, args.note)
            print(f"recorded {verb} on {target_type} {target_id} as review {review_id}")
            return 0
        if args.command == "history":
            _print_rows(history(s, args.target_type, args.target_id), args.json, "no steward decisions recorded",
                        lambda r: f"{r['reviewed_at']:%Y-%m-%d %H:%M:%S}  {r['reviewer']}  {r['decision']}  "
                                  f"{r['target_type']} {r['target_id']}  -- {r['note']}")
            return 0
        if args.command == "resubmission-requests":
            _print_rows(resubmission_requests(s), args.json, "no resubmission requests outstanding",
                        lambda r: f"{r['unit_code']} {r['period']} {r['kind']}: {r['file_name']} "
                                  f"({r['submission_id']}), requested by {r['reviewer']} "
                                  f"{r['reviewed_at']:%Y-%m-%d %H:%M} -- {r['note']}")
            return 0
        result = open_failures(s)
        if args.json:
            print(json.dumps(result, default=str, ensure_ascii=False, indent=2))
        elif result["run_id"] is None:
            print("no gate run recorded yet")
        elif not result["failures"]:
            print(f"gate run {result['run_id']}: no failing blocking checks")
        else:
            print(f"gate run {result['run_id']} ({result['checked_at']:%Y-%m-%d %H:%M:%S} UTC):")
            for f in result["failures"]:
                state = f"waived by {f['waived_by']}" if f["waived"] else "NOT waived (blocks publication)"
                print(f"  {f['check_name']}: {state}; {f['failing_rows']} failing rows; {f['detail']}")
        return 0
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WarehouseBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except duckdb.Error as exc:
        print(f"error: cannot use the warehouse at {s.warehouse_path}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
