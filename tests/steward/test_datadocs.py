"""The Great Expectations Data Docs as the steward app serves them (steward/datadocs.py): a real site built by
the submission checks of a real run; its pages name no host outside, every file they load is served by the app
(from the pinned npm packages), behind the sign-in; each failing check links its own validation page."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from pathlib import Path
from urllib.parse import urljoin

import duckdb
import pytest
from starlette.testclient import TestClient

from steward import datadocs
from tests.helpers.landing import run
from tests.helpers.steward import configure, land_quarantine_files, sign_in

pytestmark = pytest.mark.skipif(not datadocs.assets_installed(),
                                reason="the Data Docs assets are not installed: run `make datadocs-assets` (npm)")

# Any reference to another host: an absolute or protocol-relative URL in an attribute or a CSS url().
EXTERNAL = re.compile(r"""(?:src|href|action|srcset|data)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//|url\(\s*["']?\s*"""
                      r"""(?:[a-z][a-z0-9+.-]*:)?//""", re.I)
# What a page loads (not the links it has): scripts, images, style sheets and icons.
REFERENCE = re.compile(r"""(?:\ssrc=|<link\b[^>]*\shref=)["']([^"'#]+)["']""")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """Run r1 over files with quarantined rows: the submission checks fail and build their Data Docs pages."""
    from foundation.config import settings

    root = tmp_path_factory.mktemp("datadocs-seed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFAB_LANDING_DIR", str(root / "landing"))
        mp.setenv("PREFAB_DATA_DIR", str(root / "data"))
        s = settings()
        land_quarantine_files(s)
        run(s, "r1")
    return root


@pytest.fixture
def site(seeded, data_env, monkeypatch):
    """(settings, a signed-in client) on a copy of the seeded data folder."""
    from foundation.config import settings
    from steward.app import create_app

    shutil.copytree(seeded / "data", data_env.data_dir)
    configure(monkeypatch, data_env)
    s = settings()
    with TestClient(create_app(s), base_url="http://testserver") as client:
        yield s, client


def _pages(s) -> list[str]:
    return sorted(p.relative_to(s.gx_docs_dir).as_posix() for p in s.gx_docs_dir.rglob("*.html"))


def test_the_raw_pages_load_from_cdns_and_the_served_ones_from_the_app_only(site):
    s, client = site
    pages = _pages(s)
    assert "index.html" in pages and any(p.startswith("validations/") for p in pages)
    for name in pages:
        raw = (s.gx_docs_dir / name).read_text(encoding="utf-8")
        assert "cdn.jsdelivr.net" in raw and "unpkg.com" in raw  # what GX wrote: blank without internet
    sign_in(client, "wang")
    for name in pages:
        page = client.get(f"/gx-docs/{name}")
        assert page.status_code == 200, name
        assert not EXTERNAL.search(page.text), (name, EXTERNAL.search(page.text).group(0))
        refs = [urljoin(f"/gx-docs/{name}", r) for r in REFERENCE.findall(page.text)]
        assets = [r for r in refs if r.startswith("/gx-docs/_assets/")]
        # Bootstrap, bootstrap-table (and its filter control), jQuery, Popper, the date picker, the dark theme,
        # Font Awesome: 12 files, each served as the pinned package's own bytes.
        assert len(set(assets)) == 12, assets
        for ref in refs:
            response = client.get(ref)
            assert response.status_code == 200, (name, ref)
            if ref in assets:
                package_file = datadocs.ASSETS_DIR / ref.removeprefix("/gx-docs/_assets/")
                assert response.content == package_file.read_bytes()
                assert response.headers["content-type"].split(";")[0] in {"text/css", "text/javascript"}


def test_font_awesome_loads_its_fonts_from_the_app(site):
    _, client = site
    sign_in(client, "wang")
    css = client.get("/gx-docs/_assets/@fortawesome/fontawesome-free/css/all.min.css")
    fonts = set(re.findall(r"url\(([^)]+\.woff2)\)", css.text))
    assert fonts, "no woff2 fonts named in Font Awesome's CSS"
    for font in fonts:
        response = client.get(urljoin("/gx-docs/_assets/@fortawesome/fontawesome-free/css/all.min.css", font))
        assert response.status_code == 200 and response.headers["content-type"] == "font/woff2", font


def test_assets_need_the_sign_in_and_only_the_packages_files_are_served(site):
    _, client = site
    jquery = "/gx-docs/_assets/jquery/dist/jquery.min.js"
    assert client.get(jquery, follow_redirects=False).status_code == 303  # to the sign-in
    sign_in(client, "wang")
    assert client.get(jquery).status_code == 200
    for refused in ["/gx-docs/_assets/jquery/package.json",  # not a CSS, script or font
                    "/gx-docs/_assets/../../../pyproject.toml", "/gx-docs/_assets/%2e%2e/%2e%2e/%2e%2e/Makefile",
                    "/gx-docs/_assets/..%2f..%2f..%2fMakefile", "/gx-docs/_assets/no-such-package/x.js"]:
        assert client.get(refused).status_code == 404, refused


def test_inline_scripts_run_by_hash_on_the_index_only(site):
    s, client = site
    sign_in(client, "wang")
    index = client.get("/gx-docs/index.html")
    csp = index.headers["Content-Security-Policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src")).split()
    assert "'unsafe-inline'" not in script_src and "http" not in csp and "*" not in csp
    table_init = next(x for x in re.findall(r"<script>(.*?)</script>", index.text, re.S) if "bootstrapTable(" in x)
    digest = base64.b64encode(hashlib.sha256(table_init.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in script_src  # the index's table is drawn (its data: our suite and run names)
    walkthrough = next(x for x in re.findall(r"<script>(.*?)</script>", index.text, re.S) if "ge-cta-footer" in x)
    assert base64.b64encode(hashlib.sha256(walkthrough.encode()).digest()).decode() not in csp  # no advert
    validation = next(p for p in _pages(s) if p.startswith("validations/"))
    page_csp = client.get(f"/gx-docs/{validation}").headers["Content-Security-Policy"]
    assert "sha256-" not in page_csp and "script-src 'self';" in page_csp  # county text: no inline script


def test_each_failing_check_links_its_own_validation_page(site):
    s, client = site
    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    try:
        links = con.execute("select check_name, status, report_url from dq.check_results where run_id = 'r1' "
                            "and report_url is not null").fetchall()
        failed = {n for n, in con.execute("select check_name from dq.check_results where run_id = 'r1' and "
                                          "status <> 'pass' and check_name not like '%values_readable'").fetchall()}
    finally:
        con.close()
    assert failed and failed <= {name for name, _, _ in links}
    sign_in(client, "wang")
    for name, _, url in links:
        assert "/validations/" in url and not url.endswith("/index.html"), (name, url)
        served = "/gx-docs/" + url.split("/local_site/", 1)[1]
        assert client.get(served).status_code == 200, served
    run_page = client.get("/runs/r1")
    linked = re.findall(r'href="(/gx-docs/[^"]+)"', run_page.text)
    assert linked.count("/gx-docs/index.html") <= 1  # the site's index in the navigation, no check's link
    checks = [link for link in linked if link != "/gx-docs/index.html"]
    assert checks and all("/validations/" in link for link in checks)


def test_every_cdn_file_of_the_gx_templates_is_vendored():
    """A GX upgrade that names another CDN file fails here, not blank in a steward's browser."""
    import great_expectations

    templates = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
    named = {m for t in templates.glob("*.j2")
             for m in re.findall(r"""<(?:script|link)[^>]*(?:src|href)=["'](https?://[^"']+)""", t.read_text())}
    assert named, "no CDN reference found in GX's templates: has their layout changed?"
    missing = {u for u in named if u not in datadocs.CDN_ASSETS and "/vega" not in u}
    assert not missing, missing
    for path in datadocs.CDN_ASSETS.values():
        assert (datadocs.ASSETS_DIR / path).is_file(), path
