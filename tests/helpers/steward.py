"""Shared set-up for the steward app tests: a configured users file and secret, a landing zone whose files
produce quarantined rows (one with a submitter-written <script> and formula-looking text), and signing in."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.helpers.landing import HEADER, land, row

SECRET = "test-secret-" + "x" * 40
PASSWORDS = {"wang": "steward-password-1", "li": "viewer-password-1"}
XSS = "<script>alert('x')</script>"
FORMULA = "=HYPERLINK(\"http://evil.example\",\"click\")"


def configure(monkeypatch, settings) -> None:
    """Users wang (steward) and li (viewer) and a session secret, in the test's data folder; the test client's
    host name `testserver` allowed besides the defaults."""
    from steward.auth import add_user

    users = settings.data_dir / "steward_users"
    monkeypatch.setenv("PREFAB_STEWARD_USERS_FILE", str(users))
    monkeypatch.setenv("PREFAB_STEWARD_SECRET", SECRET)
    monkeypatch.setenv("PREFAB_STEWARD_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    add_user(users, "wang", "steward", PASSWORDS["wang"])
    add_user(users, "li", "viewer", PASSWORDS["li"])


def land_quarantine_files(settings) -> None:
    """330402 2020-03: two good rows and three bad ones (row 3: prefab > total; row 5: <script> name and a
    formula in the area; row 6: '+1' in the permit-less area field); 330411 2020-03: one good row."""
    quoted_formula = '"' + FORMULA.replace('"', '""') + '"'
    bad_xss = f"330402,2020-03,P3,{XSS},1#,2020-03-07,居住建筑,装配式混凝土,{quoted_formula},500,30,15,20,是\n"
    land(settings, "330402_2020-03.csv", HEADER
         + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
         + row("330402", "2020-03", "P1", "2#", "2020-03-06", "2000", "2500")
         + row("330402", "2020-03", "P2", "1#", "2020-03-06", "1500", "900")
         + bad_xss
         + row("330402", "2020-03", "P4", "1#", "2020-03-08", "+1", "-5"), 1_600_000_000)
    land(settings, "330411_2020-03.csv", HEADER + row("330411", "2020-03", "P9", "1#", "2020-03-09", "800", "400"),
         1_600_000_001)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client, name: str, origin: str = "http://testserver") -> None:
    page = client.get("/login")
    response = client.post("/login", data={"username": name, "password": PASSWORDS[name],
                                           "csrf_token": csrf_token(page.text), "next": "/"},
                           headers={"Origin": origin}, follow_redirects=False)
    assert response.status_code == 303, response.text


CONTROL_NAME = "名\x1b称\x07X"  # a project name with ESC and BEL (a NUL now rejects the file it is in)


def land_control_character_file(settings) -> None:
    """330402 2020-04 as a UTF-16 CSV: one good row and row 3, quarantined (prefab > total), whose project
    name holds ESC and BEL, characters an XLSX cell cannot hold."""
    bad = f"330402,2020-04,P3,{CONTROL_NAME},1#,2020-04-07,居住建筑,装配式混凝土,2000,2500,30,15,20,是\n"
    land(settings, "330402_2020-04.csv", "\ufeff" + HEADER + row("330402", "2020-04", "P1", "1#", "2020-04-05", "1000",
                                                                  "600") + bad, 1_600_000_002, encoding="utf-16-le")


BROKEN_UNIT_TEST = "test_monthly_zone_rolls_up_to_its_city_like_a_county"
BROKEN_EXPECTATION = ("building_count: 2, total_floor_area_m2: 1500, prefab_floor_area_m2: 1100}",
                      "building_count: 2, total_floor_area_m2: 1500, prefab_floor_area_m2: 1101}")


def broken_unit_test_project(root) -> Path:
    """A copy of the dbt project whose unit test BROKEN_UNIT_TEST expects 1 m² too much for the city (as a
    model change that breaks the roll-up would make it fail): dbt fails it and skips what depends on the model."""
    from foundation.config import DBT_PROJECT_DIR

    project = Path(root) / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    tests = project / "models" / "marts" / "_marts__unit_tests.yml"
    text = tests.read_text(encoding="utf-8")
    assert BROKEN_EXPECTATION[0] in text, "the unit test to break has changed: update BROKEN_EXPECTATION"
    tests.write_text(text.replace(*BROKEN_EXPECTATION, 1), encoding="utf-8")
    return project
