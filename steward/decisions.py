"""Steward decisions, recorded in `dq.steward_reviews` (../shared/specs/quality-contract.md).

A decision is on a quarantined row (`<submission_id>:<row_number>`), a check (`<check_name>`) or a submission
(`<submission_id>`): `waive`, `reject`, `request_resubmission`, `reopen` or, on a quarantined row whose every
failed rule a steward may override (`expectations.rules`, `overridable`), `accept`: the next nightly run loads it
as reported (`ingestion.accepted`; an addition to the contract's decisions). Decisions are never edited: a later
decision on the same target is a new row, and the latest one is in force (a waived gate check lets the next
publication through, as `dq.waivers_in_force` lists; a waived quarantined row shows as `waived` in
`dq.quarantined_rows`).

This module is the one place decisions are taken and listed: the web app (steward/app.py) and the command line
(`python -m steward review ...`, steward/cli.py) call the same functions. A decision takes the warehouse lock
(foundation/lock.py) for a few seconds at most, so it never collides with a nightly run writing the warehouse;
it fails with `WarehouseBusy` instead. Every decision is also appended to the journal
(`foundation/journal.py`, fsync'd before the call returns), from which a lost warehouse is rebuilt.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import duckdb

from expectations.rules import may_override, overridable
from foundation import bilingual
from foundation.config import Settings
from foundation.db import connect_warehouse
from foundation.journal import DECISION_TABLES
from foundation.journal import sync as sync_journal
from foundation.lock import warehouse_lock
from publishing.gate import may_waive, skip_causes

DECISIONS = ("waive", "reject", "request_resubmission", "reopen", "accept")
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


class NotWaivable(ValueError):
    """A waiver refused: the check is a failure of the project itself (`reason` 'project') or a node dbt skipped
    because of another failure (`reason` 'skipped'). The gate ignores such waivers too (publishing/gate.py)."""

    def __init__(self, check_name: str, reason: str):
        self.check_name, self.reason = check_name, reason
        super().__init__(
            f"{check_name} is a failure of the project itself (a model error, a unit test or a contract): it "
            "cannot be waived; an operator must fix the model" if reason == "project" else
            f"{check_name} was skipped because of a failure upstream: it has no decision of its own; fix or "
            "waive the failure that caused it")


class NotAcceptable(ValueError):
    """An `accept` refused: the row fails a rule a steward may not override (or a value that could not be read),
    or it was quarantined before the rules it fails were kept. `rules`: the rules it fails that forbid it."""

    def __init__(self, target_id: str, rules: list[str] | None):
        self.target_id, self.rules = target_id, rules
        if rules is None:
            zh = f"第 {target_id} 行在记录所违反规则之前被隔离，无法确认可以接受：只能不计入或请县里重新报送"
            en = (f"row {target_id} was quarantined before the rules it fails were kept: it cannot be accepted; "
                  "exclude it or ask the county to resubmit")
        else:
            names = ", ".join(rules)
            zh = f"第 {target_id} 行违反的规则（{names}）不允许数据管理员接受：只能不计入或请县里重新报送"
            en = (f"row {target_id} fails rules a steward may not override ({names}): it cannot be accepted; "
                  "exclude it or ask the county to resubmit")
        super().__init__(bilingual.join(zh, en))


def _row_may_be_accepted(con: duckdb.DuckDBPyConnection, target_id: str) -> None:
    submission_id, _, row_number = target_id.rpartition(":")
    kind, rules = con.execute("select f.kind, q.rules from dq.quarantine as q left join dq.submission_files as f "
                              "using (submission_id) where q.submission_id = ? and q.row_number = ?",
                              [submission_id, int(row_number)]).fetchone()  # the target exists (canonical)
    if kind is None or not may_override(kind, rules):
        allowed = overridable(kind) if kind is not None else frozenset()
        raise NotAcceptable(target_id, None if rules is None else sorted(set(rules) - allowed))


def _check_may_be_waived(con: duckdb.DuckDBPyConnection, check_name: str) -> None:
    latest = con.execute("select detail from dq.check_results where check_name = ? order by checked_at desc limit 1",
                         [check_name]).fetchone()
    detail = latest[0] if latest else None
    if not may_waive(check_name, detail):
        raise NotWaivable(check_name, "skipped" if skip_causes(detail) is not None else "project")


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
            if target_type == "check" and decision == "waive":
                _check_may_be_waived(con, target_id)
            if decision == "accept":
                if target_type != "quarantined_row":
                    raise ValueError(f"only a quarantined row can be accepted, not a {target_type}")
                _row_may_be_accepted(con, target_id)
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
        # outside the warehouse file too (foundation/journal.py): a lost warehouse is rebuilt with every decision
        sync_journal(con, settings, DECISION_TABLES)
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
