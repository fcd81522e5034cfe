"""The bulletin end to end: a generated landing zone (four Shanxi counties in three cities, two years, with the
generator's bad files) goes through the real nightly DAG (`dag.test()`); its `announce` task updates the
`prefab_reporting` asset, which queues `prefab_bulletin`; that DAG (`dag.test()`) writes the province's and every
city's bulletin. Every figure of the text (parsed from the HTML and from the PDF's extracted text) and of the
charts is compared with figures computed here from the generator's own records, in Decimal arithmetic, not
with the pipeline's tables. A second nightly run publishes nothing: no asset event, and the bulletins stay
byte for byte what they were."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest

from foundation.config import PROJECT_ROOT
from tests.helpers.bulletin import (
    Units,
    chart_rows,
    dec,
    figures,
    html_references,
    html_text,
    in_scope,
    pct,
    pdf_text,
    prev_day,
    wan,
)
from tests.helpers.e2e import pipeline_env, run_nightly

pytestmark = [pytest.mark.slow]

COUNTIES = "140105,140106,140212,140403"  # 太原市 x2, 大同市, 长治市
PROVINCE = "140000"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


def _asset_events() -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(AssetEvent.source_dag_id, AssetEvent.source_task_id, AssetEvent.extra)
                               .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
                               .where(AssetModel.name == "prefab_reporting")).all()
    return [{"dag_id": d, "task_id": t, "extra": e} for d, t, e in rows]


def _queued_for(dag_id: str) -> int:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(select(func.count()).select_from(AssetDagRunQueue)
                              .where(AssetDagRunQueue.target_dag_id == dag_id))


def _run_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags[dag_id].test()


def _hashes(folder) -> dict[str, tuple[str, int]]:
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def published(tmp_path_factory, airflow_db):
    if not os.path.exists(FONT):
        pytest.skip("the bulletin needs fonts-noto-cjk and pango: run `make bulletin-deps` as root")
    from foundation.config import settings
    from sample_data import generate

    root = tmp_path_factory.mktemp("bulletin")
    with pipeline_env(root):
        gen = generate(root / "landing", seed=11, years=(2020, 2021), units=COUNTIES, buildings_per_month=2)
        events_before = _asset_events()
        nightly = run_nightly()
        events_first = _asset_events()
        queued = _queued_for("prefab_bulletin")
        bulletin_run = _run_dag("prefab_bulletin")
        s = settings()
        root_dir = s.data_dir / "bulletins"
        first_hashes = _hashes(root_dir)
        nightly_again = run_nightly()
        events_second = _asset_events()
        bulletin_again = _run_dag("prefab_bulletin")
        yield {"gen": gen, "settings": s, "nightly": nightly, "nightly_again": nightly_again,
               "new_events": events_first[len(events_before):], "events_second": events_second[len(events_first):],
               "queued": queued, "bulletin_run": bulletin_run, "bulletin_again": bulletin_again,
               "first_hashes": first_hashes, "second_hashes": _hashes(root_dir), "units": Units.load(),
               "as_of": max(gen.buildings["start_date"])}


def _folder(p, code: str):
    return p["settings"].data_dir / "bulletins" / f"{code}_{p['as_of'].isoformat()}"


def _cities(p) -> list[str]:
    units = p["units"]
    return sorted({units.ancestors(u)[1] if units.rows[units.ancestors(u)[1]]["unit_level"] == "city"
                   else units.ancestors(u)[2] for u in p["gen"].buildings["unit_code"]})


def test_asset_event_only_for_a_new_publication_and_it_queues_the_bulletin_dag(published):
    p = published
    assert p["nightly"].state == "success" and p["nightly_again"].state == "success"
    assert [(e["dag_id"], e["task_id"]) for e in p["new_events"]] == [("prefab_nightly", "announce")]
    assert p["new_events"][0]["extra"]["publication_id"] == 1
    assert p["queued"] >= 1  # what the scheduler turns into a prefab_bulletin run
    assert p["events_second"] == []  # nothing new published: announce skipped, no event
    states = {ti.task_id: ti.state for ti in p["nightly_again"].get_task_instances()}
    # nothing new landed: dbt_build, gate and publish are skipped (publishing/unchanged.py), announce with them
    assert states["publish"] == "skipped" and states["announce"] == "skipped" and states["summary"] == "success"


def test_bulletin_dag_writes_the_province_and_every_city_once_per_publication(published):
    p = published
    assert p["bulletin_run"].state == "success" and p["bulletin_again"].state == "success"
    written = {k.split("/")[0] for k in p["first_hashes"]}
    expected = {f"{c}_{p['as_of'].isoformat()}" for c in [PROVINCE, *_cities(p)]}
    assert expected <= written
    for name in written:
        assert {f"{name}/bulletin.html", f"{name}/bulletin.pdf", f"{name}/monthly.svg", f"{name}/monthly.png"} <= set(
            p["first_hashes"])
    # the same publication again: the same files, not even rewritten (contents and modification times)
    assert p["second_hashes"] == p["first_hashes"]


def _expected(p, code: str) -> dict:
    gen, units, as_of = p["gen"], p["units"], p["as_of"]
    truth = gen.buildings
    rows = in_scope(truth, units, code, date(as_of.year, 1, 1), as_of)
    prev = in_scope(truth, units, code, date(as_of.year - 1, 1, 1), prev_day(as_of))
    prefab, total = dec(rows["prefab_floor_area_m2"]), dec(rows["total_floor_area_m2"])
    res_pub_mask = rows["building_use"].isin(["residential", "public"])
    res_pub = dec(rows.loc[res_pub_mask, "prefab_floor_area_m2"])
    prev_prefab = dec(prev["prefab_floor_area_m2"])
    prev_res_pub = dec(prev.loc[prev["building_use"].isin(["residential", "public"]), "prefab_floor_area_m2"])
    targets = gen.targets[(gen.targets["unit_code"] == code) & (gen.targets["year"] == as_of.year)]
    target = Decimal(str(targets["target_prefab_floor_area_m2"].iloc[-1])) if len(targets) else None
    residential = rows[rows["building_use"] == "residential"]
    green = rows[~rows["green_star"].fillna("none").isin(["none"])]
    bases = gen.production_bases[[y == as_of.year and code in units.ancestors(u) for y, u in zip(
        gen.production_bases["year"], gen.production_bases["unit_code"], strict=True)]]
    expected_units = units.below(code, ("county", "zone"))
    out = {
        "prefab": wan(prefab), "new": wan(total), "res_pub": wan(res_pub), "share": pct(prefab, total),
        "yoy": pct(prefab - prev_prefab, prev_prefab), "res_pub_yoy": pct(res_pub - prev_res_pub, prev_res_pub),
        "recognised": int(rows["recognised"].sum()),
        "grades": tuple(int((rows["grade"] == g).sum()) for g in ("A", "AA", "AAA")),
        "full_decoration": pct(dec(residential.loc[residential["full_decoration"].astype(bool),
                                                   "total_floor_area_m2"]), dec(residential["total_floor_area_m2"])),
        "green": pct(dec(green["total_floor_area_m2"]), total),
        "bases": len(bases),
        "avg_rate": _weighted_rate(rows),
        "units_expected": len(expected_units),
        "units_reported": len(set(rows["unit_code"]) & set(expected_units)),
        "publication_id": 1,
    }
    if target is not None:
        out.update(target=wan(target), completion=pct(prefab, target))
    return out


def _weighted_rate(rows) -> Decimal | None:
    """The assembly rate (GB/T 51129, as computed from the scores) averaged over the buildings that have one,
    weighted by their floor area."""
    rated = rows[rows["computed_assembly_rate_pct"].notna()]
    weights = [Decimal(str(round(float(a), 2))) for a in rated["total_floor_area_m2"]]
    rates = [Decimal(str(r)) for r in rated["computed_assembly_rate_pct"]]
    total = sum(weights, Decimal("0"))
    return None if total == 0 else (sum((w * r for w, r in zip(weights, rates, strict=True)), Decimal("0"))
                                    / total).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")


@pytest.mark.parametrize("source", ["html", "pdf"])
def test_every_figure_of_the_text_equals_the_generated_submissions(published, source):
    p = published
    for code in [PROVINCE, *_cities(p)]:
        folder = _folder(p, code)
        text = html_text(folder / "bulletin.html") if source == "html" else pdf_text(folder / "bulletin.pdf")
        got = figures(text)
        for key, value in _expected(p, code).items():
            assert got.get(key, "missing") == value, (code, source, key)


def test_ranking_of_the_cities_and_those_that_met_their_task(published):
    p = published
    got = figures(html_text(_folder(p, PROVINCE) / "bulletin.html"))
    expected = []
    for city in p["units"].below(PROVINCE, ("city",)):
        e = _expected(p, city)
        if e.get("completion") is not None:
            expected.append((p["units"].name(city), e["completion"], city))
    expected.sort(key=lambda t: (-t[1], t[2]))
    assert got["ranking"] == [(n, c) for n, c, _ in expected]
    met = [n for n, c, _ in expected if c >= 100]
    if met:
        assert got["met"] == met
    else:
        assert "尚无单位完成年度任务" in html_text(_folder(p, PROVINCE) / "bulletin.html")


def test_charts_draw_the_generated_figures(published):
    p = published
    truth, units, as_of = p["gen"].buildings, p["units"], p["as_of"]
    labels = {r["code"]: r["name_zh"] for r in _seed("structure_systems")}
    for code in [PROVINCE, *_cities(p)]:
        folder = _folder(p, code)
        monthly = {(r["year"], r["month"]): Decimal(r["area_wan"]) for r in chart_rows(folder, "monthly")}
        for year in (as_of.year - 1, as_of.year):
            for month in range(1, as_of.month + 1):
                last = date(year + month // 12, month % 12 + 1, 1).toordinal() - 1
                rows = in_scope(truth, units, code, date(year, month, 1), date.fromordinal(last))
                expected = wan(dec(rows["prefab_floor_area_m2"]))
                assert monthly[(f"{year}年", f"{month}月")] == expected, (code, year, month)
        rows = in_scope(truth, units, code, date(as_of.year, 1, 1), as_of)
        mix = {labels[s]: wan(dec(g["prefab_floor_area_m2"])) for s, g in rows.groupby("structure_system")
               if dec(g["prefab_floor_area_m2"]) > 0}
        assert {r["structure"]: Decimal(r["area_wan"]) for r in chart_rows(folder, "structure")} == mix, code
        # the bars' value labels in the SVG are the same figures
        svg = (folder / "structure.svg").read_text(encoding="utf-8")
        labels_drawn = set(re.findall(r">(\d+\.\d{2})</text>", svg))
        assert {str(v) for v in mix.values()} <= labels_drawn, code
    province = chart_rows(_folder(p, PROVINCE), "completion")
    assert [(r["unit"], Decimal(r["completion_pct"])) for r in province] == figures(
        html_text(_folder(p, PROVINCE) / "bulletin.html"))["ranking"]


def test_each_png_is_the_chart_as_vl_convert_draws_it_from_its_spec(published):
    # bulletin.charts.images rasterises the SVG it drew instead of drawing the spec a second time
    import vl_convert as vlc

    from bulletin import charts
    from bulletin.data import load

    p = published
    for code in [PROVINCE, *_cities(p)]:
        drawn = charts.charts(load(p["settings"], code, p["as_of"]))
        assert {"monthly", "structure"} <= set(drawn), code
        for name, (chart, _) in drawn.items():
            expected = vlc.vegalite_to_png(chart.to_dict(), scale=2, allowed_base_urls=[])
            assert (_folder(p, code) / f"{name}.png").read_bytes() == expected, (code, name)


def test_bulletins_the_dag_wrote_in_several_processes_are_those_one_process_writes(published, tmp_path, monkeypatch):
    import dataclasses
    import shutil

    from bulletin import render
    from bulletin.data import bulletin_units

    p = published
    codes = bulletin_units(p["settings"])[1]  # every province and city with indicators: more than one process takes
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: the DAG wrote the bulletins in one process")
    assert len(codes) >= render.PARALLEL_FROM
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy2(p["settings"].reporting_path, data / p["settings"].reporting_path.name)
    monkeypatch.setattr(render, "PARALLEL_FROM", len(codes) + 1)
    written = render.write_publication(dataclasses.replace(p["settings"], data_dir=data))
    assert [w.unit_code for w in written] == codes and all(w.written for w in written)
    assert {k: h for k, (h, _) in _hashes(data / "bulletins").items()} == {
        k: h for k, (h, _) in p["first_hashes"].items()}


def _seed(name: str) -> list[dict]:
    import csv

    with (PROJECT_ROOT / "dbt_project" / "seeds" / f"{name}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_html_has_no_external_reference_and_the_pdf_has_searchable_chinese(published):
    p = published
    folder = _folder(p, PROVINCE)
    html = (folder / "bulletin.html").read_text(encoding="utf-8")
    refs = html_references(folder / "bulletin.html")
    assert all(v.startswith(("#", "data:")) for _, _, v in refs), refs
    assert "@import" not in html and not re.search(r"url\((?!['\"]?(data:|#))", html)
    assert "<link" not in html and "<script" not in html
    text = pdf_text(folder / "bulletin.pdf")
    assert "山西省装配式建筑发展情况通报" in text and "万平方米" in text
    from pypdf import PdfReader

    fonts = {str(f["/BaseFont"]) for page in PdfReader(str(folder / "bulletin.pdf")).pages
             for f in page["/Resources"]["/Font"].values()}
    assert any("CJK" in f for f in fonts), fonts  # the Chinese font is embedded (a subset)


def test_no_base_is_said_in_words(published, tmp_path):
    """The first year (2020) has no previous year: the bulletin says so, from `make bulletin`'s command."""
    p = published
    s = p["settings"]
    env = {**os.environ, "PREFAB_DATA_DIR": str(s.data_dir), "PREFAB_LANDING_DIR": str(s.landing_dir)}
    done = subprocess.run([sys.executable, "-m", "bulletin", "--unit", PROVINCE, "--date", "2020-12-31"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "第1次发布" in done.stdout
    text = html_text(s.data_dir / "bulletins" / f"{PROVINCE}_2020-12-31" / "bulletin.html")
    assert "上年同期无新开工装配式建筑面积，无法计算同比" in text
    assert "同比增长0.00%" not in text and "nan" not in text.lower() and "None" not in text
    got = figures(text)
    assert got["yoy"] is None and got["res_pub_yoy"] is None
    # a unit with nothing published on that date: a clear refusal, no file
    bad = subprocess.run([sys.executable, "-m", "bulletin", "--unit", PROVINCE, "--date", "2019-06-30"],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "没有已发布的指标" in bad.stderr
    assert not (s.data_dir / "bulletins" / f"{PROVINCE}_2019-06-30").exists()


def test_screenshot_in_headless_chromium(published, tmp_path):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver: run `make browser` as root")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1000,1400",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        folder = _folder(published, PROVINCE)
        driver.get((folder / "bulletin.html").as_uri())
        assert driver.title.startswith("山西省装配式建筑发展情况通报")
        assert len(driver.find_elements(By.CSS_SELECTOR, "figure svg")) == 3
        # nothing was fetched but the file itself
        fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert fetched == []
        shot = tmp_path / "bulletin.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 20_000
        if os.environ.get("BULLETIN_SCREENSHOT"):
            driver.set_window_size(1000, 2300)
            driver.save_screenshot(str(PROJECT_ROOT / os.environ["BULLETIN_SCREENSHOT"]))
    finally:
        driver.quit()


def test_steward_lists_and_serves_the_bulletins_behind_sign_in(published, monkeypatch):
    from starlette.testclient import TestClient

    from foundation.config import settings
    from steward.app import create_app
    from tests.helpers.steward import configure, sign_in

    p = published
    monkeypatch.setenv("PREFAB_DATA_DIR", str(p["settings"].data_dir))
    monkeypatch.setenv("PREFAB_LANDING_DIR", str(p["settings"].landing_dir))
    configure(monkeypatch, settings())
    client = TestClient(create_app(settings()))
    name = _folder(p, PROVINCE).name
    assert client.get("/bulletins", follow_redirects=False).status_code == 303
    assert client.get(f"/bulletins/{name}/bulletin.pdf", follow_redirects=False).status_code == 303
    sign_in(client, "li")
    page = client.get("/bulletins")
    assert page.status_code == 200 and "第1次发布" in page.text and "山西省" in page.text
    assert f"/bulletins/{name}/bulletin.pdf" in page.text
    english = client.get("/bulletins", headers={"Accept-Language": "en"})
    assert "Publication 1" in english.text and "第1次发布" not in english.text and "山西省" in english.text
    pdf = client.get(f"/bulletins/{name}/bulletin.pdf")
    assert pdf.status_code == 200 and pdf.content == (_folder(p, PROVINCE) / "bulletin.pdf").read_bytes()
    html = client.get(f"/bulletins/{name}/bulletin.html")
    assert html.status_code == 200 and "山西省装配式建筑发展情况通报" in html.text
    for bad in (f"/bulletins/{name}/..%2F..%2Fwarehouse.duckdb", "/bulletins/..%2F/bulletin.html",
                f"/bulletins/{name}/steward_users"):
        assert client.get(bad).status_code == 404, bad


def test_summary_says_where_the_bulletins_are(published):
    from pipeline.summary import summary_text

    p = published
    text = summary_text(p["settings"])
    assert f"{p['settings'].data_dir / 'bulletins'}/<unit_code>_{p['as_of'].isoformat()}" in text
    made = len({k.split("/")[0] for k in p["first_hashes"]}) + 1  # and the 2020 one of test_no_base_...
    assert re.search(r"publication 1: .*; (\d+) made so far", text)[1] in (str(made - 1), str(made))
    assert "通报：第1次发布的全省和各市通报由 prefab_bulletin 写入" in text
    assert p["settings"].steward_url("/bulletins") in text
