"""The steward web app through its HTTP interface (Starlette's TestClient, the real app on real warehouse data
loaded by the ingestion stages): sign-in on every route, CSRF, roles, escaping, parameterised filters,
decisions through the same functions as the CLI, the busy page, Data Docs behind the sign-in, the export."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import openpyxl
import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient

from foundation import template
from foundation.db import connect_warehouse
from foundation.lock import warehouse_lock
from ingestion.read import read_submission
from steward.decisions import history, open_failures, resubmission_requests
from tests.helpers.landing import HEADER, land, row, run
from tests.helpers.steward import FORMULA, PASSWORDS, XSS, configure, csrf_token, land_quarantine_files, sign_in

GATE_CHECK = "gx.reconciliation_prefab_floor_area"


def _ids(settings) -> dict[str, str]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return dict(con.execute("select file_name, submission_id from dq.submission_files").fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """A data folder and landing zone where run r1 loaded the quarantine files (GX Data Docs built) and the
    gate recorded a blocking failure; built once, copied for each test."""
    from foundation.config import settings

    root = tmp_path_factory.mktemp("steward-seed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFAB_LANDING_DIR", str(root / "landing"))
        mp.setenv("PREFAB_DATA_DIR", str(root / "data"))
        s = settings()
        land_quarantine_files(s)
        run(s, "r1")
        with connect_warehouse(s) as con:
            con.execute("insert into dq.check_results (run_id, check_name, stage, severity, status, failing_rows, "
                        "detail, checked_at) values ('r1', ?, 'gate', 'error', 'fail', 1, '1 unit-months differ "
                        "between reporting and accepted rows, e.g. 330402 2020-03', now())", [GATE_CHECK])
    return root


@pytest.fixture
def app_env(seeded, data_env, monkeypatch):
    """(settings, app, submission ids) on a fresh copy of the seeded folders."""
    from steward.app import create_app

    s = data_env
    shutil.copytree(seeded / "data", s.data_dir)
    shutil.copytree(seeded / "landing", s.landing_dir)
    configure(monkeypatch, s)
    from foundation.config import settings

    return settings(), create_app(settings()), _ids(s)


@pytest.fixture
def client(app_env):
    """A client whose browser asks for English (the texts asserted here); Chinese, the default, is tested in
    test_steward_i18n.py."""
    with TestClient(app_env[1], base_url="http://testserver", headers={"Accept-Language": "en"}) as c:
        yield c


def post_decision(client, page_url: str, target_type: str, target_id: str, decision: str, note: str,
                  headers: dict | None = None, token: str | None = None):
    page = client.get(page_url)
    return client.post("/decisions", data={"target_type": target_type, "target_id": target_id, "decision": decision,
                                           "note": note, "next": page_url,
                                           "csrf_token": csrf_token(page.text) if token is None else token},
                       headers={"Origin": "http://testserver"} if headers is None else headers,
                       follow_redirects=False)


# --- configuration -------------------------------------------------------------------------------------------

def test_no_users_or_no_secret_refuses_to_start_and_says_what_to_set(data_env, monkeypatch, tmp_path, capsys):
    from foundation.config import settings
    from steward.app import ConfigurationError, create_app

    monkeypatch.setenv("PREFAB_STEWARD_USERS_FILE", str(tmp_path / "nobody"))
    monkeypatch.delenv("PREFAB_STEWARD_SECRET", raising=False)
    with pytest.raises(ConfigurationError) as err:
        create_app(settings())
    assert "PREFAB_STEWARD_SECRET" in str(err.value) and "python -m steward add-user" in str(err.value)
    from steward.cli import main

    assert main(["serve"]) == 2  # what `make steward` runs: it exits with the message, never starts without a user
    assert main([]) == 2  # bare `python -m steward` serves too
    assert "add-user NAME --role steward" in capsys.readouterr().err
    # A users file with only a viewer is not enough either: someone must be able to decide.
    from steward.auth import add_user

    add_user(tmp_path / "nobody", "li", "viewer", PASSWORDS["li"])
    monkeypatch.setenv("PREFAB_STEWARD_SECRET", "s" * 40)
    with pytest.raises(ConfigurationError, match="no steward user"):
        create_app(settings())


def test_passwords_are_salted_scrypt_hashes(tmp_path):
    from steward.auth import add_user, authenticate

    users = tmp_path / "users"
    add_user(users, "a", "steward", "same-password-1")
    add_user(users, "b", "steward", "same-password-1")
    lines = dict(line.split(":", 1) for line in users.read_text().splitlines())
    assert lines["a"].startswith("steward:scrypt$") and lines["a"] != lines["b"]  # per-user salt
    assert "same-password-1" not in users.read_text()
    assert oct(users.stat().st_mode & 0o777) == "0o600"
    assert authenticate(users, "a", "same-password-1").role == "steward"
    assert authenticate(users, "a", "wrong-password") is None and authenticate(users, "zz", "same-password-1") is None
    with pytest.raises(ValueError, match="at least 10"):
        add_user(users, "c", "steward", "short")


def test_add_user_command_writes_the_users_file(tmp_path, monkeypatch, capsys):
    from steward.auth import authenticate
    from steward.cli import main

    users = tmp_path / "users"
    monkeypatch.setenv("PREFAB_STEWARD_USERS_FILE", str(users))
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-password\n"))
    assert main(["add-user", "li.wei", "--role", "steward", "--password-stdin"]) == 0
    assert authenticate(users, "li.wei", "a-long-password").may_decide
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["add-user", "bad:name", "--role", "steward", "--password-stdin"]) == 2
    assert "user name" in capsys.readouterr().err


# --- sign-in ---------------------------------------------------------------------------------------------------

def _concrete(path: str, ids: dict) -> str:
    return (path.replace("{run_id}", "r1").replace("{submission_id}", ids["330402_2020-03.csv"])
            .replace("{path:path}", "index.html"))


def test_every_route_refuses_unauthenticated_requests(app_env, client):
    _, app, ids = app_env
    routes = [(m, r.path) for r in app.routes if isinstance(r, APIRoute) for m in r.methods
              if r.path not in ("/login", "/lang/{lang}")]  # the language switch works before signing in
    assert {p for _, p in routes} >= {"/", "/runs/{run_id}", "/ledger", "/submissions/{submission_id}",
                                       "/submissions/{submission_id}/quarantine.xlsx", "/missing", "/history",
                                       "/gx-docs/{path:path}", "/decisions", "/logout"}
    for method, path in routes:
        url = _concrete(path, ids)
        if method == "GET":
            response = client.get(url, follow_redirects=False)
            assert response.status_code == 303, url
            assert response.headers["location"].startswith("/login?next="), url
        else:
            page = client.get("/login")
            response = client.post(url, data={"csrf_token": csrf_token(page.text), "target_type": "check",
                                              "target_id": GATE_CHECK, "decision": "waive", "note": "x"},
                                   headers={"Origin": "http://testserver"}, follow_redirects=False)
            assert response.status_code == 401, url
        assert "330402" not in response.text and GATE_CHECK not in response.text
    assert history(app_env[0]) == []


def test_wrong_password_is_refused(client):
    page = client.get("/login")
    response = client.post("/login", data={"username": "wang", "password": "not-the-password",
                                           "csrf_token": csrf_token(page.text)}, headers={"Origin": "http://testserver"})
    assert response.status_code == 401 and "wrong password" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_signed_in_steward_sees_runs_failures_and_can_sign_out(client):
    sign_in(client, "wang")
    home = client.get("/")
    assert home.status_code == 200
    assert GATE_CHECK in home.text and "blocks publication" in home.text and 'href="/runs/r1"' in home.text
    assert "Content-Security-Policy" in home.headers and home.headers["X-Frame-Options"] == "DENY"
    cookie = client.cookies.get("prefab_steward")
    assert cookie
    client.post("/logout", data={"csrf_token": csrf_token(home.text)}, headers={"Origin": "http://testserver"})
    assert client.get("/", follow_redirects=False).status_code == 303


def test_session_cookie_is_samesite_strict_and_httponly(client):
    page = client.get("/login")
    response = client.post("/login", data={"username": "wang", "password": PASSWORDS["wang"],
                                           "csrf_token": csrf_token(page.text)},
                           headers={"Origin": "http://testserver"}, follow_redirects=False)
    cookie = response.headers["set-cookie"].lower()
    assert "samesite=strict" in cookie and "httponly" in cookie


# --- CSRF ----------------------------------------------------------------------------------------------------

def test_cross_site_posts_are_refused(app_env, client):
    s, _, ids = app_env
    sign_in(client, "wang")
    sid = ids["330402_2020-03.csv"]
    url = f"/submissions/{sid}"
    foreign = {"Origin": "http://evil.example"}
    attempts = [
        post_decision(client, url, "quarantined_row", f"{sid}:3", "waive", "no token", token=""),
        post_decision(client, url, "quarantined_row", f"{sid}:3", "waive", "forged", token="forged-token-123"),
        post_decision(client, url, "quarantined_row", f"{sid}:3", "waive", "foreign origin", headers=foreign),
        post_decision(client, url, "quarantined_row", f"{sid}:3", "waive", "no origin, foreign referer",
                      headers={"Referer": "http://evil.example/page"}),
        post_decision(client, url, "quarantined_row", f"{sid}:3", "waive", "neither origin nor referer", headers={}),
    ]
    assert [a.status_code for a in attempts] == [403] * 5
    assert "security token" in attempts[0].text and "another site" in attempts[2].text
    assert history(s) == []
    # A token from another session is refused too.
    with TestClient(app_env[1], base_url="http://testserver") as other:
        sign_in(other, "wang")
        other_token = csrf_token(other.get(url).text)
    assert post_decision(client, url, "quarantined_row", f"{sid}:3", "waive", "x", token=other_token).status_code == 403
    # The same post from the app's own page is accepted.
    ok = post_decision(client, url, "quarantined_row", f"{sid}:3", "waive", "same-origin",
                       headers={"Referer": f"http://testserver{url}"})
    assert ok.status_code == 303 and [h["note"] for h in history(s)] == ["same-origin"]


def test_sign_in_from_another_site_is_refused(client):
    page = client.get("/login")
    response = client.post("/login", data={"username": "wang", "password": PASSWORDS["wang"],
                                           "csrf_token": csrf_token(page.text)},
                           headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert response.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 303


# --- roles, escaping, injection --------------------------------------------------------------------------------

def test_a_viewer_sees_pages_but_is_refused_on_decisions(app_env, client):
    s, _, ids = app_env
    sign_in(client, "li")
    sid = ids["330402_2020-03.csv"]
    page = client.get(f"/submissions/{sid}")
    assert page.status_code == 200 and 'action="/decisions"' not in page.text
    for target_type, target_id, decision in [("quarantined_row", f"{sid}:3", "waive"), ("check", GATE_CHECK, "waive"),
                                             ("submission", sid, "reject")]:
        response = post_decision(client, f"/submissions/{sid}", target_type, target_id, decision, "viewer tries")
        assert response.status_code == 403 and "steward role" in response.text
    assert history(s) == []


def test_submitter_written_script_is_shown_escaped(app_env, client):
    sign_in(client, "wang")
    page = client.get(f"/submissions/{app_env[2]['330402_2020-03.csv']}")
    assert page.status_code == 200
    assert XSS not in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert "<script" not in page.text.lower()


@pytest.mark.parametrize("field", ["unit", "period", "status", "kind"])
def test_sql_looking_filter_values_are_harmless(app_env, client, field):
    s = app_env[0]
    sign_in(client, "wang")
    assert client.get("/ledger").text.count("_2020-03.csv</a>") == 2
    for value in ["' or 1=1 --", "330402' OR '1'='1", "x'; drop table dq.steward_reviews; --", "%", "_"]:
        response = client.get("/ledger", params={field: value})
        assert response.status_code == 200
        assert response.text.count("_2020-03.csv</a>") == 0, (field, value)
        assert value.replace("'", "&#39;") in response.text or field in ("status", "kind")
    assert client.get("/ledger", params={"unit": "330402"}).text.count("_2020-03.csv</a>") == 1
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    try:
        assert con.execute("select count(*) from dq.steward_reviews").fetchone()[0] == 0  # still there
    finally:
        con.close()


# --- decisions -------------------------------------------------------------------------------------------------

def test_decisions_from_the_web_are_recorded_shown_and_take_effect(app_env, client):
    s, _, ids = app_env
    sign_in(client, "wang")
    sid = ids["330402_2020-03.csv"]
    url = f"/submissions/{sid}"
    waived = post_decision(client, url, "quarantined_row", f"{sid}:5", "waive", "name checked by phone")
    assert waived.status_code == 303
    page = client.get(url)
    assert "name checked by phone" in page.text and "waived" in page.text

    assert post_decision(client, "/", "check", GATE_CHECK, "waive", "rounding, ticket 42").status_code == 303
    assert open_failures(s)["failures"][0]["waived_by"] == "wang"
    assert "waived by wang" in client.get("/").text

    assert post_decision(client, url, "submission", sid, "request_resubmission", "areas wrong").status_code == 303
    assert [r["submission_id"] for r in resubmission_requests(s)] == [sid]
    assert "resubmission-requested" in client.get(url).text and "areas wrong" in client.get("/").text
    # A newer file for that unit and period arrives: the request is no longer shown.
    land(s, "330402_2020-03_更正.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600"),
         1_600_000_100)
    run(s, "r2")
    assert resubmission_requests(s) == []
    assert "resubmission-requested" not in client.get(url).text and "areas wrong" not in client.get("/").text

    assert post_decision(client, url, "submission", sid, "reopen", "resubmitted").status_code == 303
    bad = post_decision(client, url, "submission", sid, "reopen", "again")
    assert bad.status_code == 400 and "nothing to reopen" in bad.text
    assert post_decision(client, url, "check", GATE_CHECK, "waive", "   ").status_code == 400  # a note is required
    decisions = [(h["reviewer"], h["target_type"], h["decision"]) for h in history(s)]
    assert decisions == [("wang", "submission", "reopen"), ("wang", "submission", "request_resubmission"),
                         ("wang", "check", "waive"), ("wang", "quarantined_row", "waive")]
    page = client.get("/history")
    assert all(note in page.text for note in ("name checked by phone", "rounding, ticket 42", "areas wrong",
                                              "resubmitted"))


def test_the_cli_lists_what_the_web_decided(app_env, client, capsys):
    from steward.cli import main

    s, _, ids = app_env
    sign_in(client, "wang")
    sid = ids["330411_2020-03.csv"]
    post_decision(client, f"/submissions/{sid}", "submission", sid, "request_resubmission", "send the P9 permit")
    assert main(["review", "resubmission-requests", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["submission_id"], r["reviewer"], r["note"]) for r in listed] == [(sid, "wang", "send the P9 permit")]


# --- the warehouse busy, Data Docs -------------------------------------------------------------------------------

def test_busy_warehouse_gives_a_clear_503_page(app_env, client, monkeypatch):
    import steward.decisions
    import steward.queries

    s, _, ids = app_env
    sign_in(client, "wang")
    url = f"/submissions/{ids['330402_2020-03.csv']}"
    token = csrf_token(client.get(url).text)
    monkeypatch.setattr(steward.queries, "READ_LOCK_WAIT_SECONDS", 0.1)
    monkeypatch.setattr(steward.decisions, "DECISION_LOCK_WAIT_SECONDS", 0.1)
    with warehouse_lock(s, owner="scheduled__2026-11-21"):
        page = client.get("/")
        decision = client.post("/decisions", data={"target_type": "check", "target_id": GATE_CHECK,
                                                   "decision": "waive", "note": "n", "csrf_token": token},
                               headers={"Origin": "http://testserver"})
    for response in (page, decision):
        assert response.status_code == 503
        assert "nightly run is writing the warehouse, try again in a minute" in response.text.replace(";", ",")
        assert "Traceback" not in response.text
    assert history(s) == []
    assert client.get("/").status_code == 200  # and once the run is done, pages work again


def test_a_writer_outside_the_lock_also_gives_the_503_page(app_env, client):
    """A process holding the DuckDB file read-write without the warehouse lock (an operator's shell, say)."""
    s = app_env[0]
    sign_in(client, "wang")
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(120)", str(s.warehouse_path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        page = client.get("/ledger")
    finally:
        holder.kill()
        holder.wait()
    assert page.status_code == 503 and "try again in a minute" in page.text and "Traceback" not in page.text


def test_data_docs_are_served_behind_the_sign_in_only(app_env, client):
    s = app_env[0]
    assert (s.gx_docs_dir / "index.html").exists()  # built by the submission checks of run r1
    assert client.get("/gx-docs/index.html", follow_redirects=False).status_code == 303
    sign_in(client, "wang")
    response = client.get("/gx-docs/index.html")
    assert response.status_code == 200 and "<html" in response.text.lower()
    run_page = client.get("/runs/r1")
    assert 'href="/gx-docs/' in run_page.text  # the submission checks link their validation report
    for escape in ["/gx-docs/../../warehouse.duckdb", "/gx-docs/%2e%2e/%2e%2e/warehouse.duckdb",
                   "/gx-docs/..%2f..%2fwarehouse.duckdb"]:
        assert client.get(escape).status_code == 404, escape


def test_missing_calendar_says_when_it_is_not_built_yet(client):
    sign_in(client, "wang")
    page = client.get("/missing")
    assert page.status_code == 200 and "no run has built it yet" in page.text


# --- export ----------------------------------------------------------------------------------------------------

def test_export_has_the_template_columns_row_numbers_reasons_and_no_formula(app_env, client, tmp_path):
    s, _, ids = app_env
    sign_in(client, "wang")
    sid = ids["330402_2020-03.csv"]
    response = client.get(f"/submissions/{sid}/quarantine.xlsx")
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    path = tmp_path / "back.xlsx"
    path.write_bytes(response.content)
    ws = openpyxl.load_workbook(io.BytesIO(response.content)).active
    cells = [c for r in ws.iter_rows() for c in r]
    assert all(c.data_type != "f" for c in cells)
    assert not any(isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    headers = [c.value for c in ws[1]]
    assert headers == [f.zh for f in template.fields("buildings")] + ["行号", "问题说明"]
    rows = [dict(zip(headers, [c.value for c in r], strict=True)) for r in ws.iter_rows(min_row=2)]
    assert [r["行号"] for r in rows] == [3, 5, 6]
    assert rows[1]["项目名称"] == XSS and rows[1]["总建筑面积"] == "'" + FORMULA
    assert (rows[2]["总建筑面积"], rows[2]["装配式建筑面积"]) == ("'+1", "'-5")
    assert (rows[0]["总建筑面积"], rows[0]["装配式建筑面积"], rows[0]["单体编号"]) == ("2000", "2500", "2#")
    # the county reads the reasons in Chinese only (the English part of each is left out)
    assert "超过" in rows[0]["问题说明"] and "应为 0 至" in rows[2]["问题说明"]
    assert not any(w in rows[0]["问题说明"] + rows[2]["问题说明"] for w in ("exceeds", "expected", "‖"))
    assert rows[0]["绿色建筑星级"] in ("", None)  # not in the county's file: empty, for the county to fill
    # The county corrects the file and sends it back: it reads as a submission, the extra columns ignored.
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    book.active["J2"] = "3000"  # 总建筑面积 of row 3, now above its 2500 m² prefabricated area
    book.save(path)
    result = read_submission(path, "buildings")
    assert list(result.frame["row_number"]) == [2, 3, 4]
    assert any("问题说明" in w for w in result.warnings) and not any("行号" in w for w in result.warnings)
    assert 2 not in result.errors and 3 in result.errors and 4 in result.errors  # the others are still wrong


def test_a_fresh_install_without_any_run_shows_empty_pages(data_env, monkeypatch):
    from steward.app import create_app

    configure(monkeypatch, data_env)
    with TestClient(create_app(), base_url="http://testserver", headers={"Accept-Language": "en"}) as c:
        sign_in(c, "wang")
        assert "No gate has run yet" in c.get("/").text and "No run recorded yet" in c.get("/").text
        for url in ("/ledger", "/history", "/missing"):
            assert c.get(url).status_code == 200, url
        assert c.get("/runs/nope").status_code == 404 and c.get("/submissions/nope").status_code == 404
        assert c.get("/submissions/nope/quarantine.xlsx").status_code == 404
