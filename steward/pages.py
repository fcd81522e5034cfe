"""The steward pages: runs, a run's checks, the ledger, a submission's quarantined rows, the missing-submissions
calendar, the decision history, and recording a decision. Reads go through steward.queries (under the shared
warehouse lock), decisions through steward.decisions (the functions the command line uses)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from foundation.periods import run_date
from foundation.units import load_units
from steward import checks, csrf, decisions, export, queries
from steward.messages import text
from steward.web import language, render, require_steward, require_user

router = APIRouter()
UNIT_LEVELS = ("province", "city", "county", "zone")


def safe_next(target: str | None) -> str:
    """A local path to go back to after a form (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _not_found(request: Request, key: str, **values) -> StarletteHTTPException:
    return StarletteHTTPException(404, text(language(request), key, **values))


@router.get("/")
def overview(request: Request):
    require_user(request)
    s = request.app.state.settings
    with queries.reading(s) as con:
        runs = queries.latest_runs(con)
        failures = decisions.open_failures(s, con)
        requests = decisions.resubmission_requests(s, con)
    arranged = checks.arrange([{**f, "stage": "gate", "severity": "error", "status": "fail"}
                               for f in failures["failures"]], failures["run_id"] or "")
    return render(request, "overview.html", runs=runs, failures=failures, arranged=arranged, requests=requests)


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str):
    require_user(request)
    s = request.app.state.settings
    with queries.reading(s) as con:
        run = queries.run_detail(con, run_id)
        failures = decisions.open_failures(s, con)
    if run is None:
        raise _not_found(request, "no_run", run_id=run_id)
    waivers = {f["check_name"]: f for f in failures["failures"]} if failures["run_id"] == run_id else {}
    problem_files = [x for x in run["submissions"] if x["status"] == "rejected" or x["rows_quarantined"]]
    return render(request, "run.html", run=run, arranged=checks.arrange(run["checks"], run_id), waivers=waivers,
                  problem_files=problem_files)


@router.get("/ledger")
def ledger_page(request: Request, unit: str = "", period: str = "", status: str = "", kind: str = "",
                run: str = "", quarantined: str = "", warnings: str = "", reason: str = "", row_reason: str = "",
                level: str = ""):
    require_user(request)
    s = request.app.state.settings
    unit, period, status, kind, run, reason, row_reason, level = (
        x.strip() for x in (unit, period, status, kind, run, reason, row_reason, level))
    codes = None
    if level in UNIT_LEVELS:
        codes = [u.unit_code for u in load_units(s.reporting_units_path) if u.unit_level == level]
    with queries.reading(s) as con:
        rows = queries.ledger(con, unit or None, period or None, status or None, kind or None, run=run or None,
                              quarantined=bool(quarantined), warnings=bool(warnings), reason=reason or None,
                              row_reason=row_reason or None, unit_codes=codes)
    filters = {"unit": unit, "period": period, "status": status, "kind": kind, "run": run,
               "quarantined": bool(quarantined), "warnings": bool(warnings), "reason": reason,
               "row_reason": row_reason, "level": level}
    return render(request, "ledger.html", rows=rows, limit=queries.PAGE_ROWS, filters=filters,
                  statuses=queries.LEDGER_STATUSES, levels=UNIT_LEVELS)


@router.get("/submissions/{submission_id}")
def submission_page(request: Request, submission_id: str):
    require_user(request)
    s = request.app.state.settings
    with queries.reading(s) as con:
        sub = queries.submission(con, submission_id)
        rows = queries.quarantined_rows(con, submission_id) if sub else []
        history = queries.reviews_of_submission(con, submission_id) if sub else []
        outstanding = [r for r in decisions.resubmission_requests(s, con) if r["submission_id"] == submission_id]
    if sub is None:
        raise _not_found(request, "no_submission", submission_id=submission_id)
    return render(request, "submission.html", sub=sub, rows=rows, history=history,
                  resubmission_requested=bool(outstanding))


@router.get("/submissions/{submission_id}/quarantine.xlsx")
def quarantine_export(request: Request, submission_id: str):
    require_user(request)
    with queries.reading(request.app.state.settings) as con:
        sub = queries.submission(con, submission_id)
        rows = queries.quarantined_rows(con, submission_id) if sub else []
    if sub is None:
        raise _not_found(request, "no_submission", submission_id=submission_id)
    body = export.quarantine_workbook(sub["kind"], rows)
    name = f"{sub['unit_code'] or 'unit'}_{sub['period'] or 'period'}_待更正.xlsx"
    return Response(body, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename=\"quarantine.xlsx\"; "
                                                    f"filename*=UTF-8''{quote(name)}"})


@router.get("/missing")
def missing_page(request: Request, year: int | None = None):
    require_user(request)
    s = request.app.state.settings
    with queries.reading(s) as con:
        calendar = queries.missing_submissions(con, run_date(s), year)
    units = load_units(s.reporting_units_path)
    for city in calendar["cities"]:
        code = city["city_code"]
        city["city_name_zh"] = units.get(code).unit_name_zh if code and code in units else (code or "")
    return render(request, "missing.html", calendar=calendar)


@router.get("/history")
def history_page(request: Request):
    require_user(request)
    s = request.app.state.settings
    with queries.reading(s) as con:
        rows = decisions.history(s, con=con)
    return render(request, "history.html", rows=rows)


@router.post("/decisions")
def decide(request: Request, target_type: str = Form(""), target_id: str = Form(""), decision: str = Form(""),
           note: str = Form(""), csrf_token: str = Form(""), next: str = Form("/")):  # noqa: A002
    require_user(request)
    csrf.check(request, csrf_token, request.app.state.hosts)
    user = require_steward(request)
    back = safe_next(next)
    lang = language(request)
    try:
        decisions.record_review(request.app.state.settings, user.name, target_type, target_id, decision, note)
    except decisions.NotWaivable as exc:
        key = "project_failure_refused" if exc.reason == "project" else "skipped_refused"
        return render(request, "message.html", 400, title=text(lang, "decision_not_recorded"),
                      message=text(lang, key, check=exc.check_name), back=back)
    except ValueError as exc:
        return render(request, "message.html", 400, title=text(lang, "decision_not_recorded"), message=str(exc),
                      back=back)
    return RedirectResponse(back, 303)
