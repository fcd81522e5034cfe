"""End to end in a real browser: a nightly run (the real DAG, `dag.test()`) is blocked by its gate; a steward
signs in to the real app (uvicorn in a subprocess), opens the failed run, opens a submission's quarantined rows,
waives one with a note, waives the blocking gate failure with a note; the next nightly run publishes, and the
browser sees the publication.

The blocking failure is produced as in tests/publishing/test_gate.py: the candidate marts are made to disagree with the
accepted rows right after dbt builds them (as a broken model would), so the GX reconciliation fails. Chromium
and chromedriver come from Debian (`make browser`); without them this test is skipped with that message.
Set STEWARD_SCREENSHOT=docs/img/steward.png to refresh the screenshot in the docs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from foundation.config import PROJECT_ROOT
from tests.helpers.e2e import query, run_nightly
from tests.helpers.gate import RECONCILIATION, corrupt_candidate
from tests.helpers.steward import PASSWORDS, XSS, configure, land_quarantine_files

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow")]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BROWSER_MISSING = ("the browser test needs Debian's chromium and chromium-driver (/usr/bin/chromium, "
                   "/usr/bin/chromedriver): run `make browser` as root, or `apt-get install chromium chromium-driver`")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(data_env, monkeypatch):
    """The app started as `make steward` starts it, on a free port; yields its base URL."""
    configure(monkeypatch, data_env)
    port = _free_port()
    env = {**os.environ, "PREFAB_STEWARD_PORT": str(port)}
    log = data_env.data_dir.parent / "steward.log"
    data_env.data_dir.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "steward", "serve"], cwd=PROJECT_ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the app did not start:\n" + log.read_text()
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(BROWSER_MISSING)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def _decide(driver, target_id: str, note: str, decision: str = "waive") -> None:
    from selenium.webdriver.common.by import By

    form = driver.find_element(By.XPATH, f"//form[input[@name='target_id' and @value='{target_id}']]")
    form.find_element(By.NAME, "note").send_keys(note)
    form.find_element(By.CSS_SELECTOR, f"button[value='{decision}']").click()


def test_steward_waives_in_the_browser_and_the_next_run_publishes(data_env, airflow_db, server, browser,
                                                                    monkeypatch):
    from selenium.webdriver.common.by import By

    import publishing.build

    s = data_env
    land_quarantine_files(s)
    original_build = publishing.build.build

    def broken_build(settings):
        result = original_build(settings)
        corrupt_candidate(settings, "330411")
        return result

    monkeypatch.setattr(publishing.build, "build", broken_build)  # the DAG's task imports it when it runs
    first = run_nightly()
    assert first.state == "failed"
    assert not s.reporting_path.exists()

    # Sign in.
    browser.get(server + "/")
    assert "/login" in browser.current_url
    browser.find_element(By.ID, "username").send_keys("wang")
    browser.find_element(By.ID, "password").send_keys(PASSWORDS["wang"])
    browser.find_element(By.ID, "sign-in").click()
    assert browser.find_element(By.ID, "open-failures").is_displayed()
    assert "blocks publication" in browser.find_element(By.ID, "open-failures").text

    # Open the failed run: the blocking check, and the files it processed.
    browser.find_element(By.LINK_TEXT, first.run_id).click()
    assert browser.find_element(By.ID, "run-outcome").text == "blocked"
    checks = browser.find_element(By.ID, "checks").text
    assert RECONCILIATION in checks and "330411 2020-03" in checks
    data_docs = browser.find_element(By.XPATH, "//table[@id='checks']//a[text()='Data Docs']").get_attribute("href")
    assert "/gx-docs/" in data_docs

    # Open the quarantined rows of 330402's file: reasons next to the raw values, the submitter's script as text.
    browser.find_element(By.LINK_TEXT, "330402_2020-03.csv").click()
    quarantine = browser.find_element(By.ID, "quarantine")
    assert [tr.get_attribute("id") for tr in quarantine.find_elements(By.XPATH, "./tbody/tr[@id]")] == \
        ["row-3", "row-5", "row-6"]
    row5 = browser.find_element(By.ID, "row-5")
    assert XSS in row5.text and "is not a number" in row5.text
    submission_url = browser.current_url
    submission_id = submission_url.rsplit("/", 1)[1]
    _decide(browser, f"{submission_id}:5", "project name checked with the county by phone")
    assert browser.current_url == submission_url
    assert "waived by wang: project name checked with the county by phone" in browser.find_element(By.ID,
                                                                                                   "row-5").text
    if os.environ.get("STEWARD_SCREENSHOT"):
        browser.set_window_size(1400, 1500)
        browser.save_screenshot(str(PROJECT_ROOT / os.environ["STEWARD_SCREENSHOT"]))

    # Waive the blocking gate failure.
    browser.get(server + "/")
    _decide(browser, RECONCILIATION, "marts differ by 1 m² for 330411, ticket 42: publish, fix in the model")
    assert "waived by wang" in browser.find_element(By.ID, "open-failures").text

    # The next nightly run (still with the broken model) publishes because of the waiver.
    second = run_nightly()
    assert second.state == "success"
    published = query(s.warehouse_path, "select run_id, publication_id from dq.publication_log")
    assert list(published["run_id"]) == [second.run_id]

    browser.refresh()
    runs = browser.find_element(By.ID, "runs")
    first_row = runs.find_elements(By.XPATH, "./tbody/tr[td]")[0].text
    assert second.run_id in first_row and "published (#1)" in first_row
    assert "blocked" in runs.text  # the first run stays in the history as it was
    browser.find_element(By.LINK_TEXT, second.run_id).click()
    assert browser.find_element(By.ID, "run-outcome").text.startswith("published (publication #1")

    # The missing-submissions calendar, built by the run: 2020-03 arrived for both units.
    browser.get(server + "/missing?year=2020")
    calendar = browser.find_element(By.ID, "calendar")
    for unit in ("330402", "330411"):
        cells = calendar.find_elements(By.XPATH, f".//tr[th[starts-with(., '{unit}')]]/td")
        assert [c.text for c in cells[1:]][2] == "✓", unit  # after the count of missing months: Jan, Feb, Mar
