"""The steward app's hardening, through its HTTP interface (Starlette's TestClient on real warehouse data):
server-side sessions that sign-out, user removal and password changes end; the role read from the users file
on every request; sign-in throttling (with an injected clock, never sleeps); the Host check (DNS rebinding);
the export of rows holding control characters; pages reading side by side; a CSP on every response."""

from __future__ import annotations

import io
import shutil
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import openpyxl
import pytest
from starlette.testclient import TestClient

from foundation.lock import WarehouseBusy, reader_lock, warehouse_lock
from steward.decisions import history
from tests.helpers.landing import run
from tests.helpers.steward import (
    CONTROL_NAME,
    PASSWORDS,
    configure,
    csrf_token,
    land_control_character_file,
    land_quarantine_files,
    sign_in,
)

COOKIE = "prefab_steward"
ORIGIN = {"Origin": "http://testserver"}


class Clock:
    """A clock the test moves by hand (seconds since the epoch, like time.time)."""

    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """Run r1 loaded the quarantine files and the UTF-16 file with NUL and BEL in a quarantined row."""
    from foundation.config import settings

    root = tmp_path_factory.mktemp("steward-hardening-seed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFAB_LANDING_DIR", str(root / "landing"))
        mp.setenv("PREFAB_DATA_DIR", str(root / "data"))
        s = settings()
        land_quarantine_files(s)
        land_control_character_file(s)
        run(s, "r1")
    return root


@pytest.fixture
def env(seeded, data_env, monkeypatch):
    """(settings, app, clock, submission ids by file name) on a fresh copy of the seeded folders."""
    from foundation.config import settings
    from steward.app import create_app

    shutil.copytree(seeded / "data", data_env.data_dir)
    shutil.copytree(seeded / "landing", data_env.landing_dir)
    configure(monkeypatch, data_env)
    s = settings()
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    try:
        ids = dict(con.execute("select file_name, submission_id from dq.submission_files").fetchall())
    finally:
        con.close()
    clock = Clock()
    return s, create_app(s, clock=clock), clock, ids


@pytest.fixture
def client(env):
    with TestClient(env[1], base_url="http://testserver") as c:
        yield c


def try_sign_in(client, name: str, password: str):
    token = csrf_token(client.get("/login").text)
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token, "next": "/"},
                       headers=ORIGIN, follow_redirects=False)


def waive_row(client, sid: str, note: str, token: str | None = None):
    url = f"/submissions/{sid}"
    token = token or csrf_token(client.get(url).text)
    return client.post("/decisions", data={"target_type": "quarantined_row", "target_id": f"{sid}:3",
                                           "decision": "waive", "note": note, "csrf_token": token, "next": url},
                       headers=ORIGIN, follow_redirects=False)


# --- 1. sessions end on the server -------------------------------------------------------------------------------

def test_a_cookie_copied_before_sign_out_is_refused_after_it(env, client):
    s, app, _, ids = env
    sid = ids["330402_2020-03.csv"]
    sign_in(client, "wang")
    page = client.get(f"/submissions/{sid}")
    copied, token = client.cookies.get(COOKIE), csrf_token(page.text)
    store = (s.data_dir / "steward_sessions.sqlite3")
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    assert client.post("/logout", data={"csrf_token": token}, headers=ORIGIN).status_code == 200  # -> /login
    with sqlite3.connect(store) as con:
        assert con.execute("select count(*) from sessions").fetchone()[0] == 0
    with TestClient(app, base_url="http://testserver", cookies={COOKIE: copied}) as thief:
        page = thief.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert thief.get(f"/submissions/{sid}", follow_redirects=False).status_code == 303
    with TestClient(app, base_url="http://testserver", cookies={COOKIE: copied}) as thief:
        refused = waive_row(thief, sid, "replayed cookie", token=token)
    assert refused.status_code == 401 and "尚未登录" in refused.text
    assert history(s) == []


def test_the_session_record_holds_no_usable_session_id(env, client):
    s = env[0]
    sign_in(client, "wang")
    import json
    from base64 import b64decode

    payload = json.loads(b64decode(client.cookies.get(COOKIE).split(".")[0] + "=="))
    assert set(payload) == {"sid", "csrf"}  # no name, no role in the cookie
    text = (s.data_dir / "steward_sessions.sqlite3").read_bytes()
    assert payload["sid"].encode() not in text


def test_removing_or_downgrading_a_user_takes_effect_on_the_next_request(env, client):
    s, app, _, ids = env
    sid = ids["330402_2020-03.csv"]
    sign_in(client, "wang")
    users = s.steward_users_path
    users.write_text(users.read_text().replace("wang:steward:", "wang:viewer:"))  # by hand: same password
    page = client.get(f"/submissions/{sid}")
    assert page.status_code == 200 and "wang (只读)" in page.text
    refused = waive_row(client, sid, "now a viewer", token=csrf_token(page.text))
    assert refused.status_code == 403 and "做决定需要数据管理员（steward）角色" in refused.text
    with TestClient(app, base_url="http://testserver") as other:
        sign_in(other, "li")
        users.write_text("".join(line + "\n" for line in users.read_text().splitlines()
                                 if not line.startswith("li:")))
        assert other.get("/", follow_redirects=False).status_code == 303  # li removed: signed out
    assert client.get("/").status_code == 200  # wang is still there (as a viewer)
    assert history(s) == []


def test_a_new_password_ends_the_sessions_signed_in_with_the_old_one(env, client):
    from steward.auth import add_user

    s = env[0]
    sign_in(client, "wang")
    add_user(s.steward_users_path, "wang", "steward", "a-new-password-2")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_session_ends_on_the_server_after_eight_hours(env, client):
    clock = env[2]
    sign_in(client, "wang")
    clock.advance(7.9 * 3600)
    assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(0.2 * 3600)
    assert client.get("/", follow_redirects=False).status_code == 303


# --- 2. throttling and the Host check ----------------------------------------------------------------------------

def test_the_sixth_attempt_is_refused_even_with_the_right_password_until_the_window_passes(env, client):
    clock = env[2]
    for _ in range(5):
        assert try_sign_in(client, "wang", "not-the-password").status_code == 401
    refused = try_sign_in(client, "wang", PASSWORDS["wang"])
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "900"
    assert "登录尝试过多，请在 15 分钟后重试。" in refused.text
    assert client.get("/", follow_redirects=False).status_code == 303
    assert try_sign_in(TestClient(env[1], base_url="http://testserver"), "li", PASSWORDS["li"]).status_code == 303
    clock.advance(14 * 60)
    assert try_sign_in(client, "wang", PASSWORDS["wang"]).status_code == 429
    clock.advance(61)
    assert try_sign_in(client, "wang", PASSWORDS["wang"]).status_code == 303  # and that resets the count
    assert client.get("/").status_code == 200


def test_each_further_lockout_lasts_twice_as_long(env, client):
    clock = env[2]
    for _ in range(5):
        try_sign_in(client, "wang", "not-the-password")
    clock.advance(15 * 60)
    for _ in range(5):
        assert try_sign_in(client, "wang", "not-the-password").status_code == 401
    refused = try_sign_in(client, "wang", PASSWORDS["wang"])
    assert refused.status_code == 429 and "30 分钟" in refused.text
    clock.advance(16 * 60)
    assert try_sign_in(client, "wang", PASSWORDS["wang"]).status_code == 429
    clock.advance(15 * 60)
    assert try_sign_in(client, "wang", PASSWORDS["wang"]).status_code == 303


def test_one_address_guessing_many_names_is_refused_too(client):
    for i in range(20):
        assert try_sign_in(client, f"guess{i}", "not-the-password").status_code == 401
    assert try_sign_in(client, "li", PASSWORDS["li"]).status_code == 429


def test_requests_naming_another_host_are_refused(env):
    app = env[1]
    with TestClient(app, base_url="http://testserver") as c:
        page = c.get("/login")
        token = csrf_token(page.text)
        rebound = c.post("/login", data={"username": "wang", "password": PASSWORDS["wang"], "csrf_token": token},
                         headers={"Host": "evil.example", "Origin": "http://evil.example"}, follow_redirects=False)
        assert rebound.status_code == 400 and "Host not allowed" in rebound.text
        assert "Content-Security-Policy" in rebound.headers and "set-cookie" not in rebound.headers
        assert c.get("/", follow_redirects=False).status_code == 303  # not signed in
        assert c.get("/login", headers={"Host": "evil.example:8765"}).status_code == 400
        # An allowed Host is not enough for a POST from another allowed name: the origin must be the app's own.
        other = c.post("/login", data={"username": "wang", "password": PASSWORDS["wang"], "csrf_token": token},
                       headers={"Origin": "http://localhost:8765"}, follow_redirects=False)
        assert other.status_code == 403 and "another site" in other.text
    with TestClient(app, base_url="http://evil.example") as rebinding:
        assert rebinding.get("/login").status_code == 400
    for base in ("http://127.0.0.1:8765", "http://localhost:8765"):
        with TestClient(app, base_url=base) as local:
            assert local.get("/login").status_code == 200
            sign_in(local, "wang", origin=base)


def test_allowed_hosts_default_to_the_loopback_names_and_the_listening_host(monkeypatch):
    from foundation.config import settings
    from steward.hosts import allowed_hosts

    monkeypatch.delenv("PREFAB_STEWARD_ALLOWED_HOSTS", raising=False)
    assert allowed_hosts(settings()) == {"127.0.0.1", "localhost"}
    monkeypatch.setenv("PREFAB_STEWARD_ALLOWED_HOSTS", " steward.example , 10.0.0.5")
    assert allowed_hosts(settings()) == {"steward.example", "10.0.0.5", "127.0.0.1"}  # 127.0.0.1: steward_host


# --- 3. the export of rows with control characters ---------------------------------------------------------------

def test_the_export_shows_control_characters_visibly(env, client):
    s, _, _, ids = env
    sid = ids["330402_2020-04.csv"]
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    try:
        raw = con.execute("select raw from dq.quarantined_rows where submission_id = ?", [sid]).fetchone()[0]
    finally:
        con.close()
    assert "\\u001b" in raw and "\\u0007" in raw  # the warehouse keeps what the county sent
    sign_in(client, "wang")
    assert client.get(f"/submissions/{sid}").status_code == 200
    response = client.get(f"/submissions/{sid}/quarantine.xlsx")
    assert response.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(response.content)).active
    headers = [c.value for c in ws[1]]
    rows = [dict(zip(headers, [c.value for c in r], strict=True)) for r in ws.iter_rows(min_row=2)]
    assert [(r["行号"], r["项目名称"]) for r in rows] == [(3, "名<ESC>称<BEL>X")]
    assert CONTROL_NAME not in [c.value for r in ws.iter_rows() for c in r]


# --- 4. pages read side by side ----------------------------------------------------------------------------------

def test_twenty_pages_at_once_all_answer_while_no_writer_holds_the_lock(env, client, monkeypatch):
    import steward.queries

    s, _, _, ids = env
    sign_in(client, "wang")
    monkeypatch.setattr(steward.queries, "READ_LOCK_WAIT_SECONDS", 0.1)
    urls = ["/", "/ledger", "/history", "/runs/r1", f"/submissions/{ids['330402_2020-03.csv']}"] * 4
    start = threading.Barrier(len(urls))

    def load(url):
        start.wait()
        return client.get(url).status_code

    with reader_lock(s), ThreadPoolExecutor(len(urls)) as pool:  # another page mid-read all along
        codes = list(pool.map(load, urls))
    assert codes == [200] * len(urls)
    with warehouse_lock(s, owner="scheduled__2026-11-21"):
        busy = client.get("/ledger")
        busy_en = client.get("/ledger", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert busy.status_code == 503 and "夜间运行正在写入数据仓库，请一分钟后重试。" in busy.text
    assert busy_en.status_code == 503
    assert "The nightly run is writing the warehouse; try again in a minute." in busy_en.text


def test_readers_share_the_lock_and_exclude_the_writer(data_env):
    s = data_env
    with reader_lock(s), reader_lock(s), pytest.raises(WarehouseBusy), warehouse_lock(s, owner="a writer"):
        pass
    with (warehouse_lock(s, owner="scheduled__x"), pytest.raises(WarehouseBusy, match="scheduled__x"),
          reader_lock(s, wait_seconds=0.1)):
        pass
    with warehouse_lock(s, owner="after the readers"):
        pass


# --- 5. a CSP on every response ----------------------------------------------------------------------------------

def test_data_docs_pages_have_a_content_security_policy(client):
    sign_in(client, "wang")
    for url in ("/gx-docs/index.html", "/gx-docs/no-such-page.html"):
        response = client.get(url)
        assert response.status_code in (200, 404), url
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src")).split()
        assert script_src[1] in ("'self'", "'none'") and "'unsafe-inline'" not in script_src  # steward/datadocs.py
        assert "http" not in csp and "*" not in csp  # no remote origin
        assert response.headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in client.get("/login").headers
