"""Chinese first, English on request, from one catalogue; pages a person can act on: no terminal codes, no
external host, failures of the project itself without a waive button (and refused by the server), skipped
nodes under their cause, counts and checks leading to the filtered ledger, times in Asia/Shanghai.

The data: the quarantine files (tests/helpers/steward.py) loaded by the real ingestion stages (one of them with a
project name holding ESC and BEL), plus gate results as the gate records them for a build whose unit test failed
(dbt's message with its colour codes, the model it made dbt skip) and a failing data check."""

from __future__ import annotations

import re
import string
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from starlette.testclient import TestClient

from foundation.config import SUBMISSION_KINDS
from foundation.db import connect_warehouse
from publishing.gate import PROJECT_RESOURCES, SKIPPED_PREFIX
from steward import messages
from steward.decisions import DECISIONS
from steward.queries import LEDGER_STATUSES
from tests.helpers.landing import run
from tests.helpers.steward import (
    CONTROL_NAME,
    configure,
    csrf_token,
    land_control_character_file,
    land_quarantine_files,
    sign_in,
)

UNIT_TEST = "dbt.unit_test.fct_prefab_floor_area_monthly.test_monthly_zone_rolls_up_to_its_city_like_a_county"
SKIPPED_MODEL = "dbt.model.fct_prefab_floor_area_monthly"
DATA_CHECK = "gx.prefab_share_plausible"
COLOURED = ("\x1b[31mactual differs from expected:\x1b[0m\n\n@@ ,unit_code,month,prefab_floor_area_m2\n"
            "→  ,330400   ,2020-03-01,\x1b[33m1101.00\x1b[0m→\x1b[32m1100.00\x1b[0m\n")
TEMPLATES = Path(__file__).parents[2] / "steward" / "templates"
STEWARD = Path(__file__).parents[2] / "steward"
CJK = re.compile("[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """(settings, app, submission ids by file name) after run r1 loaded the files and its gate failed."""
    from foundation.config import settings
    from steward.app import create_app

    root = tmp_path_factory.mktemp("steward-i18n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFAB_LANDING_DIR", str(root / "landing"))
        mp.setenv("PREFAB_DATA_DIR", str(root / "data"))
        s = settings()
        land_quarantine_files(s)
        land_control_character_file(s)
        run(s, "r1")
        skipped = f"{SKIPPED_PREFIX}dbt did not run it because {UNIT_TEST} failed upstream; fix that and it runs again"
        checked_at = datetime(2026, 12, 1, 18, 30)
        with connect_warehouse(s) as con:
            for name, status, failing, detail in [
                    (UNIT_TEST, "fail", 0, COLOURED), (SKIPPED_MODEL, "fail", 0, skipped),
                    (DATA_CHECK, "fail", 1, "1 found: 330402 2020-03 share 120 %. Check: the share is at most 100 %"),
                    ("dbt.model.stg_raw__buildings", "pass", 0, "OK")]:
                con.execute("insert into dq.check_results (run_id, check_name, stage, severity, status, failing_rows, "
                            "detail, checked_at) values ('r1', ?, 'gate', 'error', ?, ?, ?, ?)",
                            [name, status, failing, detail, checked_at])  # one gate run: one time
            ids = dict(con.execute("select file_name, submission_id from dq.submission_files").fetchall())
        configure(mp, s)
        yield settings(), create_app(settings()), ids


@pytest.fixture
def client(env):
    with TestClient(env[1], base_url="http://testserver") as c:
        sign_in(c, "wang")
        yield c


def _pages(ids) -> list[str]:
    sid = ids["330402_2020-04.csv"]
    return ["/", "/runs/r1", "/ledger", "/ledger?quarantined=1", "/ledger?warnings=1&level=county", "/missing",
            "/history", f"/submissions/{sid}", f"/submissions/{ids['330402_2020-03.csv']}", "/bulletins",
            "/bulletins/140000_2021-12-31/bulletin.html", "/no-such-page"]


def _visible_text(html: str) -> str:
    html = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


# --- the catalogue ----------------------------------------------------------------------------------------------

def _placeholders(message: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


def test_every_message_has_a_chinese_and_an_english_entry_with_the_same_placeholders():
    assert len(messages.MESSAGES) > 150
    for key, entry in messages.MESSAGES.items():
        assert set(entry) == {"zh", "en"}, key
        assert entry["zh"].strip() and entry["en"].strip(), key
        assert _placeholders(entry["zh"]) == _placeholders(entry["en"]), key
        if key != "switch_language":  # the switch names the other language in that language
            assert CJK.search(entry["zh"]), f"{key}: the Chinese entry has no Chinese"
            assert not CJK.search(entry["en"]), f"{key}: the English entry has Chinese"


def test_every_message_the_pages_and_the_code_name_is_in_the_catalogue():
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_ ]+)["']""", path.read_text(encoding="utf-8")))
    for path in set(STEWARD.glob("*.py")) - {STEWARD / "messages.py"}:  # its docstring shows the call
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\b(?:text|t|_not_found)\([a-z_()]+, ["']([a-z_]+)["']""", source))
        for pair in re.findall(r"""\bkey = ["']([a-z_]+)["'] if [^\n]* else ["']([a-z_]+)["']""", source):
            used |= set(pair)
    # The keys pages build from a value: every value they can meet.
    used |= {f"kind_{k}" for k in (*SUBMISSION_KINDS, *PROJECT_RESOURCES)} | {f"status_{s}" for s in LEDGER_STATUSES}
    used |= {f"outcome_{o}" for o in ("published", "blocked", "no gate", "not published")}
    used |= {f"level_{lv}" for lv in ("province", "city", "county", "zone")} | {"role_steward", "role_viewer"}
    used |= {f"target_{t}" for t in ("quarantined_row", "check", "submission")}
    used |= {f"history_{d}" for d in DECISIONS}
    used |= {f"stage_{s}" for s in ("gate", "submission")} | {f"status_{s}" for s in ("fail", "warn", "pass")}
    assert len(used) > 150
    used = {key for key in used if not key.endswith("_")}  # `t("kind_" ~ kind)`: the values are listed above
    assert sorted(used - set(messages.MESSAGES)) == []


@pytest.mark.parametrize(("header", "expected"), [
    (None, "zh"), ("", "zh"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9", "en"),
    ("fr-FR, en;q=0.5, zh;q=0.4", "en"), ("de, fr", "zh"), ("en;q=0, zh-TW", "zh"), ("EN", "en"),
])
def test_the_browser_language_picks_chinese_or_english(header, expected):
    assert messages.negotiate(None, header) == expected
    assert messages.negotiate("zh", "en") == "zh" and messages.negotiate("en", None) == "en"  # the switch wins


def test_plain_text_has_no_terminal_codes_and_names_control_characters():
    assert messages.plain(COLOURED).startswith("actual differs from expected:\n")
    assert "\x1b" not in messages.plain(COLOURED) and "1101.00→1100.00" in messages.plain(COLOURED)
    assert messages.plain(CONTROL_NAME) == "名<ESC>称<BEL>X"


# --- the pages ----------------------------------------------------------------------------------------------------

def test_pages_are_chinese_by_default_and_english_on_request_or_by_the_switch(env, client):
    home = client.get("/")
    assert '<html lang="zh-CN">' in home.text and "最近的运行" in home.text and "Latest runs" not in home.text
    english = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.text and "Latest runs" in english.text and "最近的运行" not in english.text
    switched = client.get("/lang/en", params={"next": "/ledger"}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/ledger"
    assert "Submission ledger" in client.get("/ledger").text  # the cookie, whatever the browser asks
    assert client.get("/lang/en", params={"next": "https://evil.example/"},
                      follow_redirects=False).headers["location"] == "/"
    client.get("/lang/zh")
    assert "报送台账" in client.get("/ledger", headers={"Accept-Language": "en"}).text


def test_no_page_shows_a_terminal_escape_or_references_an_external_host(env, client):
    external = re.compile(r"""(?:src|href|action|srcset)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//|url\(\s*["']?"""
                          r"""(?:https?:)?//|@import""", re.I)
    for lang in ("zh", "en"):
        for url in _pages(env[2]):
            page = client.get(url, headers={"Accept-Language": lang})
            assert page.status_code in (200, 404), url
            assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", page.text), (lang, url)
            assert not external.search(page.text), (lang, url, external.search(page.text).group())
    quarantined = client.get(f"/submissions/{env[2]['330402_2020-04.csv']}").text
    assert "名&lt;ESC&gt;称&lt;BEL&gt;X" in quarantined  # the submitter's control characters, named


def test_a_failed_unit_test_is_one_readable_failure_with_its_skipped_model_under_it_and_no_waive_button(env,
                                                                                                          client):
    page = client.get("/runs/r1").text
    blocks = re.findall(r'<div class="failure[^"]*" data-check="([^"]+)">(.*?)\n</div>', page, flags=re.S)
    gate = [name for name, _ in blocks if not name.startswith("buildings.")]  # the submission checks follow
    assert gate == [UNIT_TEST, DATA_CHECK] and blocks[0][0] == UNIT_TEST  # the project's failure first; no skipped
    unit_test = blocks[0][1]
    assert "项目本身的问题（单元测试失败），不能在此豁免：须由运维人员修复模型后重新运行。" in unit_test
    assert "actual differs from expected:" in unit_test and "1101.00→1100.00" in unit_test
    assert re.search(r'<details class="skipped"><summary>1 个 dbt 节点因此被跳过.*?<li>' + re.escape(SKIPPED_MODEL),
                     unit_test, flags=re.S)
    assert 'name="decision"' not in unit_test
    assert 'value="waive"' in blocks[1][1] and "豁免此检查" in blocks[1][1]  # a data check may be waived
    assert '<details id="passing-checks">' in page
    assert page.index(DATA_CHECK) < page.index("dbt.model.stg_raw__buildings")  # passing ones last, collapsed
    assert 'href="/ledger?unit=330402&amp;period=2020-03"' in blocks[1][1]  # the unit and month it is about
    home = client.get("/").text
    assert home.count('data-check="') == 2 and f'data-check="{SKIPPED_MODEL}"' not in home


@pytest.mark.parametrize("check", [UNIT_TEST, SKIPPED_MODEL])
def test_the_server_refuses_to_waive_a_project_failure_or_a_skipped_node(env, client, check):
    page = client.get("/runs/r1")
    refused = client.post("/decisions", data={"target_type": "check", "target_id": check, "decision": "waive",
                                              "note": "publish anyway", "next": "/runs/r1",
                                              "csrf_token": csrf_token(page.text)},
                          headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert refused.status_code == 400
    assert ("须由运维人员修复模型" if check == UNIT_TEST else "没有单独的决定") in refused.text
    with duckdb.connect(str(env[0].warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from dq.steward_reviews").fetchone()[0] == 0


def test_counts_lead_to_the_filtered_ledger_and_its_filters_select_the_files(env, client):
    s, _, ids = env
    home = client.get("/").text
    assert 'href="/ledger?run=r1&amp;quarantined=1">4</a>' in home  # 3 rows of 330402 2020-03, 1 of 2020-04
    with_rows = client.get("/ledger", params={"run": "r1", "quarantined": "1"}).text
    assert sorted(re.findall(r">(\d+_[\d-]+\.csv)</a>", with_rows)) == ["330402_2020-03.csv", "330402_2020-04.csv"]
    everything = client.get("/ledger").text
    assert "330411_2020-03.csv" in everything
    by_reason = client.get("/ledger", params={"reason": "prefab_floor_area_m2", "row_reason": ""}).text
    assert "330402_2020-03.csv" in by_reason and "330411_2020-03.csv" not in by_reason
    assert "330411_2020-03.csv" in client.get("/ledger", params={"level": "county"}).text
    assert "_2020-03.csv</a>" not in client.get("/ledger", params={"level": "city"}).text
    run_page = client.get("/runs/r1").text
    assert re.search(r'<a id="quarantined-count" href="/ledger\?run=r1&amp;quarantined=1">4</a>', run_page)


def test_times_are_shown_in_asia_shanghai_with_the_zone_named(env, client):
    with duckdb.connect(str(env[0].warehouse_path), read_only=True) as con:
        received = con.execute("select received_at from dq.submission_ledger where file_name = '330411_2020-03.csv'"
                               ).fetchone()[0]
    shanghai = (received + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")  # China has had no summer time since 1991
    ledger = client.get("/ledger").text
    assert "收到时间（北京时间）" in ledger and f"<tr><td>{shanghai}</td>" in ledger
    english = client.get("/ledger", headers={"Accept-Language": "en"}).text
    assert "Received (Beijing time, Asia/Shanghai)" in english


def test_row_decisions_are_named_by_their_effect_on_the_figures(env, client):
    page = client.get(f"/submissions/{env[2]['330402_2020-03.csv']}").text
    row = re.search(r'<tr id="row-5">.*?</tr>\n', page, flags=re.S).group()
    assert ">不计入统计数据</button>" in row and "此行不计入发布的统计数据" in row and "waive<" not in row
    assert ">请县里重新报送</button>" in page and "更正文件到达后将在下一次发布中替换本文件" in page
    english = client.get(f"/submissions/{env[2]['330402_2020-03.csv']}", headers={"Accept-Language": "en"}).text
    assert ">Exclude from the figures</button>" in english and ">Ask the county to resubmit</button>" in english


def test_row_reasons_are_shown_in_the_page_language(env, client):
    url = f"/submissions/{env[2]['330402_2020-03.csv']}"
    reasons = [re.search(r'<ul class="reasons">(.*?)</ul>', page, flags=re.S).group(1)
               for page in (client.get(url).text, client.get(url, headers={"Accept-Language": "en"}).text)]
    zh, en = reasons
    assert re.search("[\u4e00-\u9fff]{2}", zh) and "expected" not in zh and "exceeds" not in zh and "‖" not in zh
    assert ("expected" in en or "exceeds" in en) and "‖" not in en and "应为" not in en and "超过" not in en


def test_the_calendar_opens_on_the_latest_year_with_data_shows_only_due_months_and_groups_by_city(tmp_path):
    from datetime import date

    from steward.queries import missing_submissions

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema dq")
    con.execute("create table dq.missing_submissions (unit_code varchar, unit_name_zh varchar, unit_level varchar, "
                "city_code varchar, month date, has_arrived boolean, is_missing boolean, latest_submission_id "
                "varchar, rejected_file_count integer, latest_is_zero_report boolean)")
    rows = [("330402", "南湖区", "330400", date(2025, m, 1), m <= 2) for m in range(1, 13)]
    rows += [("330402", "南湖区", "330400", date(2026, m, 1), False) for m in range(1, 13)]
    rows += [("330102", "上城区", "330100", date(2026, m, 1), False) for m in range(1, 13)]
    con.executemany("insert into dq.missing_submissions values (?, ?, 'county', ?, ?, ?, not ?, "
                    "case when ? then 'S1' end, 0, false)", [(*r, r[4], r[4]) for r in rows])
    opened = missing_submissions(con, date(2026, 4, 15))
    assert opened["year"] == 2025 and opened["years"] == [2026, 2025]  # 2026: nothing has arrived
    assert [c["city_code"] for c in opened["cities"]] == ["330400"] and opened["cities"][0]["missing"] == 10
    current = missing_submissions(con, date(2026, 4, 15), 2026)
    assert current["months"] == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]  # April is not due yet
    assert [(c["city_code"], c["missing"]) for c in current["cities"]] == [("330100", 3), ("330400", 3)]
    assert all(len(u["cells"]) == 3 for c in current["cities"] for u in c["units"])


def test_the_viewer_sees_no_decision_buttons(env):
    with TestClient(env[1], base_url="http://testserver") as c:
        sign_in(c, "li")
        assert 'name="decision"' not in c.get("/runs/r1").text
