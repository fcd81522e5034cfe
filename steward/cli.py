"""The data stewards' command line, one entry point (`python -m steward --help`):

    python -m steward serve                          # the web app on 127.0.0.1:PREFAB_STEWARD_PORT (`make steward`)
    python -m steward add-user NAME --role steward|viewer [--password-stdin]
    python -m steward review waive-check CHECK_NAME --reviewer wang --note "..."
    python -m steward review waive-row SUBMISSION_ID ROW_NUMBER --reviewer wang --note "..."
    python -m steward review accept-row SUBMISSION_ID ROW_NUMBER --reviewer wang --note "..."
    python -m steward review reject-submission SUBMISSION_ID --reviewer wang --note "..."
    python -m steward review request-resubmission SUBMISSION_ID --reviewer wang --note "..."
    python -m steward review reopen TARGET_TYPE TARGET_ID --reviewer wang --note "..."
    python -m steward review history [--target-type T] [--target-id X] [--json]
    python -m steward review open-failures [--json]
    python -m steward review resubmission-requests [--json]
    python -m steward export quarantine FILE [--submission SUBMISSION_ID] [--format csv|xlsx]

`python -m steward` alone starts the app, as `serve` does. Invalid input exits with status 2 and a message;
a warehouse that cannot be opened (e.g. a run holds its write lock) exits with status 1. Decisions and
listings go through steward.decisions, exports through steward.export: the same functions as the web app.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path

from foundation.config import Settings
from foundation.config import settings as current_settings
from steward.auth import ROLES
from steward.decisions import TARGET_TYPES

TARGET_TYPE_HELP = "quarantined_row | check | submission"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m steward",
        description="The data stewards' web app, decisions and exports (without a command: serve).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="start the web app (the default)",
                   description="Start the steward web app on 127.0.0.1:PREFAB_STEWARD_PORT (default 8765).")
    p = sub.add_parser("add-user", help="add a user (or change its role and password)")
    p.add_argument("name")
    p.add_argument("--role", choices=ROLES, required=True)
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    _review_parser(sub.add_parser("review", help="record and list steward decisions",
                                  description="Record and list steward decisions on quarantined rows, failed "
                                              "checks and submissions (kept in dq.steward_reviews)."))
    p = sub.add_parser("export", help="export for spreadsheets",
                       description="Export for spreadsheets; formula-looking text is made inert.")
    what = p.add_subparsers(dest="export", metavar="WHAT", required=True)
    p = what.add_parser("quarantine", help="the open quarantined rows (CSV), or one submission's rows as the "
                                           "county's correction workbook (--format xlsx)")
    p.add_argument("file", type=Path, metavar="FILE", help="the file to write (replaced if it exists)")
    p.add_argument("--submission", metavar="SUBMISSION_ID", help="only this submission's rows (required for xlsx)")
    p.add_argument("--format", choices=("csv", "xlsx"), default="csv",
                   help="csv: every cell as received, one column per header (default); xlsx: the submission "
                        "template's sheet and headers, as the web app's download")
    return parser


def _review_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="review", metavar="SUBCOMMAND", required=True)

    def decision_parser(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--reviewer", required=True, help="who takes the decision")
        p.add_argument("--note", required=True, help="why (kept with the decision)")
        return p

    decision_parser("waive-check", "waive a failed gate check until the next publication").add_argument("check_name")
    p = decision_parser("waive-row", "waive a quarantined row")
    p.add_argument("submission_id")
    p.add_argument("row_number", type=int)
    p = decision_parser("accept-row", "accept a quarantined row whose failed rules are all overridable: the next "
                        "nightly run loads it as reported")
    p.add_argument("submission_id")
    p.add_argument("row_number", type=int)
    decision_parser("reject-submission", "reject a submission").add_argument("submission_id")
    decision_parser("request-resubmission", "ask the unit to resubmit").add_argument("submission_id")
    p = decision_parser("reopen", "withdraw the decision in force on a target")
    p.add_argument("target_type", choices=TARGET_TYPES, help=TARGET_TYPE_HELP)
    p.add_argument("target_id")
    p = sub.add_parser("history", help="decisions, newest first")
    p.add_argument("--target-type", choices=TARGET_TYPES)
    p.add_argument("--target-id")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("open-failures", help="the latest gate run's failing blocking checks")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("resubmission-requests", help="resubmissions requested and not yet received")
    p.add_argument("--json", action="store_true")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # exits 2 on invalid usage
    s = current_settings()
    if args.command == "add-user":
        return _add_user(s, args)
    if args.command in ("review", "export"):
        import duckdb

        from foundation.lock import WarehouseBusy

        try:
            return _review(s, args) if args.command == "review" else _export(s, args)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except WarehouseBusy as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except duckdb.Error as exc:
            print(f"error: cannot use the warehouse at {s.warehouse_path}: {exc}", file=sys.stderr)
            return 1
    return _serve(s)


# --- serve, add-user -----------------------------------------------------------------------------------------

def _serve(s: Settings) -> int:
    from steward.app import ConfigurationError, create_app

    try:
        app = create_app(s)
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    import uvicorn

    print(f"steward app on http://{s.steward_host}:{s.steward_port}/ (data: {s.data_dir})")
    uvicorn.run(app, host=s.steward_host, port=s.steward_port, log_level="info", proxy_headers=False)
    return 0


def _add_user(s: Settings, args: argparse.Namespace) -> int:
    from steward.auth import add_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    try:
        add_user(s.steward_users_path, args.name, args.role, password)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.name} ({args.role}) written to {s.steward_users_path}")
    return 0


# --- review --------------------------------------------------------------------------------------------------

def _decision_args(args: argparse.Namespace) -> tuple[str, str, str] | None:
    """(target_type, target_id, decision) of a decision subcommand; None for the listing ones."""
    return {
        "waive-check": lambda: ("check", args.check_name, "waive"),
        "waive-row": lambda: ("quarantined_row", f"{args.submission_id}:{args.row_number}", "waive"),
        "accept-row": lambda: ("quarantined_row", f"{args.submission_id}:{args.row_number}", "accept"),
        "reject-submission": lambda: ("submission", args.submission_id, "reject"),
        "request-resubmission": lambda: ("submission", args.submission_id, "request_resubmission"),
        "reopen": lambda: (args.target_type, args.target_id, "reopen"),
    }.get(args.review, lambda: None)()


def _print_rows(rows: list[dict], as_json: bool, empty: str, line: Callable[[dict], str]) -> None:
    """Rows for the operator: as JSON, or one line each (`line(row)`), or `empty` when there are none."""
    if as_json:
        print(json.dumps(rows, default=str, ensure_ascii=False, indent=2))
    elif not rows:
        print(empty)
    for r in [] if as_json else rows:
        print(line(r))


def _review(s: Settings, args: argparse.Namespace) -> int:
    from steward import decisions

    decision = _decision_args(args)
    if decision is not None:
        target_type, target_id, verb = decision
        review_id = decisions.record_review(s, args.reviewer, target_type, target_id, verb, args.note)
        print(f"recorded {verb} on {target_type} {target_id} as review {review_id}")
        return 0
    if args.review == "history":
        _print_rows(decisions.history(s, args.target_type, args.target_id), args.json,
                    "no steward decisions recorded",
                    lambda r: f"{r['reviewed_at']:%Y-%m-%d %H:%M:%S}  {r['reviewer']}  {r['decision']}  "
                              f"{r['target_type']} {r['target_id']}  -- {r['note']}")
        return 0
    if args.review == "resubmission-requests":
        _print_rows(decisions.resubmission_requests(s), args.json, "no resubmission requests outstanding",
                    lambda r: f"{r['unit_code']} {r['period']} {r['kind']}: {r['file_name']} "
                              f"({r['submission_id']}), requested by {r['reviewer']} "
                              f"{r['reviewed_at']:%Y-%m-%d %H:%M} -- {r['note']}")
        return 0
    result = decisions.open_failures(s)
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


# --- export --------------------------------------------------------------------------------------------------

def _export(s: Settings, args: argparse.Namespace) -> int:
    from steward import export

    path: Path = args.file
    if args.format == "csv":
        n = export.export_quarantine(s, path, submission_id=args.submission)
        print(f"{n} open quarantined rows written to {path}")
        return 0
    if not args.submission:
        raise ValueError("--format xlsx exports one submission's rows in its template: give --submission "
                         "SUBMISSION_ID")
    from steward import queries

    with queries.reading(s) as con:
        sub = queries.submission(con, args.submission)
        rows = queries.quarantined_rows(con, args.submission) if sub else []
    if sub is None:
        raise ValueError(f"no submission {args.submission!r} in the ledger")
    path.write_bytes(export.quarantine_workbook(sub["kind"], rows))
    print(f"{len(rows)} quarantined rows of {sub['file_name']} written to {path}")
    return 0
