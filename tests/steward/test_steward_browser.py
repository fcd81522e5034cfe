"""End to end in a real browser, in Chinese: a nightly run (the real DAG, `dag.test()`) is blocked because a dbt
unit test fails (a copy of the dbt project whose test expects 1 m² too much, as a model change that broke the
roll-up would make it fail). A steward signs in to the real app (uvicorn in a subprocess), finds the run, sees one
readable failure with the nodes dbt skipped listed under it and no waive button (an operator must fix the model),
follows the quarantined count to the file, excludes a row from the figures with a note, switches to English; the
operator fixes the model, the next nightly run publishes, and the calendar opens on the year with data.

Chromium and chromedriver come from Debian (`make browser`); without them this test is skipped with that message.
Set STEWARD_SCREENSHOTS=docs/img to refresh the screenshots in docs/stewards.md.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from foundation.config import PROJECT_ROOT
from tests.helpers.e2e import query, run_nightly
from tests.helpers.steward import (
    BROKEN_UNIT_TEST,
    PASSWORDS,
    XSS,
    broken_unit_test_project,
    configure,
    land_quarantine_files,
)

pytestmark = [pytest.mark.slow]

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
                 "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chromium-profile'}", "--lang=zh-CN"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})  # a Chinese steward's browser
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


def _wait_for(driver, condition, seconds: float = 20):
    """Wait until `condition(driver)` holds on the page the last click loads (the old page may still be there)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def _text_of(element_id: str):
    from selenium.webdriver.common.by import By

    return lambda driver: driver.find_element(By.ID, element_id).text


def _fits_the_window(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def _screenshot(driver, name: str, height: int = 1400) -> None:
    folder = os.environ.get("STEWARD_SCREENSHOTS")
    if folder:
        driver.set_window_size(1400, height)
        driver.save_screenshot(str(PROJECT_ROOT / folder / name))
        driver.set_window_size(1400, 1000)


def _skipped_by_dbt(settings) -> int:
    """How many nodes dbt itself reports as skipped in the build's run_results.json (counted here, not by the app)."""
    results = json.loads((settings.data_dir / "dbt" / "target" / "run_results.json").read_text(encoding="utf-8"))
    return sum(r["status"] == "skipped" for r in results["results"])


def test_steward_reads_a_failed_unit_test_decides_a_row_in_chinese_and_the_fixed_run_publishes(
        data_env, airflow_db, server, browser, monkeypatch, tmp_path):
    from selenium.webdriver.common.by import By

    s = data_env
    land_quarantine_files(s)
    monkeypatch.setenv("PREFAB_DBT_PROJECT_DIR", str(broken_unit_test_project(tmp_path)))
    first = run_nightly()
    assert first.state == "failed"
    assert not s.reporting_path.exists()
    skipped = _skipped_by_dbt(s)
    assert skipped >= 1

    # Sign in (in Chinese, as the browser asks).
    browser.get(server + "/")
    assert "/login" in browser.current_url
    browser.find_element(By.ID, "username").send_keys("wang")
    browser.find_element(By.ID, "password").send_keys(PASSWORDS["wang"])
    browser.find_element(By.ID, "sign-in").click()
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    failures = browser.find_element(By.ID, "open-failures")
    assert BROKEN_UNIT_TEST in failures.text and "阻止发布" in failures.text

    # The failed run: one readable failure, the skipped nodes under it, no waive button, an operator must act.
    browser.find_element(By.LINK_TEXT, first.run_id).click()
    _wait_for(browser, lambda d: _text_of("run-outcome")(d) == "被阻止")
    dbt_failures = browser.find_elements(By.CSS_SELECTOR, "#checks-to-act-on div.failure[data-check^='dbt.']")
    assert len(dbt_failures) == 1
    failure = dbt_failures[0]
    assert BROKEN_UNIT_TEST in failure.get_attribute("data-check")
    assert "项目本身的问题（单元测试失败），不能在此豁免：须由运维人员修复模型后重新运行。" in failure.text
    assert "actual differs from expected" in failure.text and "\x1b" not in failure.text and "[0m" not in failure.text
    assert failure.find_elements(By.TAG_NAME, "button") == []
    summary = failure.find_element(By.CSS_SELECTOR, "details.skipped summary")
    assert summary.text.startswith(f"{skipped} 个 dbt 节点因此被跳过")
    summary.click()
    assert "dbt.model.fct_prefab_floor_area_monthly" in failure.find_element(By.CSS_SELECTOR, "details.skipped").text
    assert _fits_the_window(browser)
    _screenshot(browser, "steward-run.png", 1500)

    # Follow the quarantined count to the file, and decide a row by its effect on the figures.
    browser.find_element(By.ID, "quarantined-count").click()
    _wait_for(browser, lambda d: "quarantined=1" in d.current_url)
    assert [a.text for a in browser.find_elements(By.XPATH, "//table[@id='ledger']//a[contains(@href, "
                                                            "'/submissions/')][contains(., '.csv')]")] == \
        ["330402_2020-03.csv"]
    browser.find_element(By.LINK_TEXT, "330402_2020-03.csv").click()
    quarantine = browser.find_element(By.ID, "quarantine")
    assert [tr.get_attribute("id") for tr in quarantine.find_elements(By.XPATH, "./tbody/tr[@id]")] == \
        ["row-3", "row-5", "row-6"]
    row5 = browser.find_element(By.ID, "row-5")
    assert XSS in row5.text and "不计入统计数据" in row5.text and "此行不计入发布的统计数据" in row5.text
    submission_url = browser.current_url
    submission_id = submission_url.rsplit("/", 1)[1]
    _decide(browser, f"{submission_id}:5", "项目名称已与县里电话核实")
    _wait_for(browser, lambda d: "不计入统计数据（wang：项目名称已与县里电话核实）" in _text_of("row-5")(d))
    assert browser.current_url == submission_url
    assert _fits_the_window(browser)
    _screenshot(browser, "steward.png", 1500)

    # Switch the language: the same page in English, and it stays English.
    browser.find_element(By.ID, "language").click()
    _wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en")
    assert browser.current_url == submission_url
    assert "excluded from the figures by wang: 项目名称已与县里电话核实" in browser.find_element(By.ID, "row-5").text
    browser.get(server + "/")
    assert "Latest runs" in browser.page_source
    browser.find_element(By.ID, "language").click()
    _wait_for(browser, lambda d: "最近的运行" in d.page_source)

    # An operator fixes the model; the next nightly run publishes.
    monkeypatch.delenv("PREFAB_DBT_PROJECT_DIR")
    second = run_nightly()
    assert second.state == "success"
    published = query(s.warehouse_path, "select run_id, publication_id from dq.publication_log")
    assert list(published["run_id"]) == [second.run_id]
    browser.refresh()
    _wait_for(browser, lambda d: second.run_id in _text_of("runs")(d))
    runs = browser.find_element(By.ID, "runs")
    first_row = runs.find_elements(By.XPATH, "./tbody/tr[td]")[0].text
    assert second.run_id in first_row and "已发布（第 1 次）" in first_row
    assert "被阻止" in runs.text  # the first run stays in the history as it was

    # The missing-submissions calendar opens on the year with data (2020), grouped by city, gaps linked.
    browser.get(server + "/missing")
    assert browser.find_element(By.XPATH, "//p[starts-with(., '年份')]/strong").text == "2020"
    calendar = browser.find_element(By.ID, "calendar")
    assert "330400 嘉兴市 合计" in calendar.text
    for unit in ("330402", "330411"):
        cells = calendar.find_elements(By.XPATH, f".//tr[th[starts-with(., '{unit}')]]/td")
        assert [c.text for c in cells[1:3]] == ["✓", "✗"], unit  # after the missing count: March (the first), April
    gap = calendar.find_element(By.XPATH, ".//tr[th[starts-with(., '330402')]]/td[3]/a")
    assert gap.get_attribute("href").endswith("/ledger?unit=330402&kind=buildings")
    _screenshot(browser, "steward-missing.png", 1000)
