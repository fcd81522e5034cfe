"""reporting.duckdb opens in the DuckDB clients analysts have: the DuckDB 1.5 CLI from PyPI (`make duckdb-cli`,
a tool environment of its own) reads every published table, read-only, and answers what the project's DuckDB
answers; it reads every table's and column's description too (the comments from the dbt docs)."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import duckdb
import pytest

from publishing.describe import table_docs
from publishing.publish import PUBLISHED_TABLES, REPORTING_TABLES, STORAGE_VERSION, content_checksum
from tests.helpers.landing import HEADER, land, row
from tests.helpers.nightly import nightly_without_airflow

pytestmark = pytest.mark.slow

CLI = Path(__file__).resolve().parents[2] / ".tools" / "duckdb-cli" / "bin" / "duckdb"
# Every published table's row count, and a sum of a DECIMAL column where the table has one (as text: exact).
SUMS = {
    "fct_building": "prefab_floor_area_m2",
    "fct_prefab_floor_area_monthly": "total_floor_area_m2",
    "fct_indicators_daily": "ytd_prefab_floor_area_m2",
    "fct_production_bases": "design_capacity",
}
QUERY = " union all ".join(
    [f"select '{t}' as t, count(*)::varchar as v from {t}" for t in (*REPORTING_TABLES, "publication")]
    + [f"select '{t}.{c}', coalesce(sum({c})::varchar, 'null') from {t}" for t, c in SUMS.items()]
    + ["select 'publication.latest', max(publication_id)::varchar || ' ' || max(data_as_of)::varchar from publication"]
) + " order by 1"


def cli(path: Path, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "-readonly", "-csv", str(path), "-c", sql], capture_output=True, text=True,
                          timeout=120)


def test_the_duckdb_1_5_cli_reads_the_published_file(data_env):
    if not CLI.exists():
        pytest.skip(f"the DuckDB 1.5 CLI is not installed ({CLI}): run `make duckdb-cli`")
    version = subprocess.run([str(CLI), "--version"], capture_output=True, text=True).stdout
    assert version.startswith("v1.5."), version  # a real 1.x client, not the project's DuckDB 2.0

    s = data_env
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600.25")
         + row("330402", "2020-03", "P1", "2#", "2020-03-09", "2400.5", "1200"), 1000)
    land(s, "330411_2020-04.csv", HEADER + row("330411", "2020-04", "P2", "1#", "2020-04-02", "800", "400"), 2000)
    pub = nightly_without_airflow(s, "r1")
    assert pub.published

    con = duckdb.connect(str(s.reporting_path), read_only=True)
    try:
        expected = [tuple(r) for r in con.execute(QUERY).fetchall()]
        assert content_checksum(con, "main") == pub.content_checksum  # the contents as the candidate's
    finally:
        con.close()
    assert dict(expected)["fct_building"] == "3" and dict(expected)["fct_building.prefab_floor_area_m2"] == "2200.25"

    out = cli(s.reporting_path, QUERY)
    assert out.returncode == 0, f"the 1.5 CLI could not read the file ({STORAGE_VERSION}): {out.stderr}"
    got = [tuple(r) for r in list(csv.reader(io.StringIO(out.stdout)))[1:]]
    assert got == expected

    # Every column of every table decodes in the 1.5 client (not only the ones summed above).
    for t in (*REPORTING_TABLES, "publication"):
        out = cli(s.reporting_path, f"select count(*) from (select distinct * from {t})")
        assert out.returncode == 0, f"{t}: {out.stderr}"

    # The descriptions: every table and column of the file has its comment, the dbt docs' text, in the 1.5 client.
    out = cli(s.reporting_path, "select table_name, '' as column_name, comment from duckdb_tables() "
              "where database_name = current_database() union all "
              "select table_name, column_name, comment from duckdb_columns() where database_name = current_database()")
    assert out.returncode == 0, out.stderr
    got = {(t, c): text for t, c, text in list(csv.reader(io.StringIO(out.stdout)))[1:]}
    docs = table_docs(PUBLISHED_TABLES)
    expected = {(t, c): text for t, d in docs.items() for c, text in (("", d.description), *d.columns.items())}
    assert got == expected
    assert "NULL" not in got.values() and "" not in got.values()


def test_a_publication_written_from_the_published_file_reads_in_the_1_5_cli_as_the_candidate(data_env):
    """The second night's file is the first's, with only what changed written (publishing/file_delta.py): rows
    out (a corrected building) and rows in (a new month). It holds exactly the candidate's rows, table by table,
    and the 1.5 client reads every table of it."""
    if not CLI.exists():
        pytest.skip(f"the DuckDB 1.5 CLI is not installed ({CLI}): run `make duckdb-cli`")
    s = data_env
    land(s, "330402_2020-03.csv", HEADER + "".join(row("330402", "2020-03", "P1", f"{i}#", "2020-03-05", "1000",
                                                       str(600 + i)) for i in range(12)), 1000)
    land(s, "330411_2020-03.csv", HEADER + row("330411", "2020-03", "P2", "1#", "2020-03-02", "800", "400"), 1100)
    first = nightly_without_airflow(s, "r1")
    assert first.published and first.written == "written whole"
    land(s, "330411_2020-03_更正.csv", HEADER + row("330411", "2020-03", "P2", "1#", "2020-03-02", "800", "450"), 2000)
    land(s, "330402_2020-04.csv", HEADER + row("330402", "2020-04", "P3", "1#", "2020-04-02", "900", "300"), 2100)
    second = nightly_without_airflow(s, "r2")
    assert second.published and second.written.startswith("from the published file")
    assert "fct_building: 1 rows out, 2 in" in second.written, second.written

    con = duckdb.connect(str(s.warehouse_path), read_only=True)
    try:
        con.execute(f"attach '{s.reporting_path}' as published (read_only)")
        for t in REPORTING_TABLES:  # exactly the candidate's rows, each as many times
            differ = con.execute(f"select count(*) from ((select * from marts.{t} except all select * from "
                                 f"published.main.{t}) union all (select * from published.main.{t} except all "
                                 f"select * from marts.{t}))").fetchone()[0]
            assert differ == 0, t
        assert content_checksum(con, "published.main") == second.content_checksum
        expected = [tuple(r) for r in con.execute(QUERY.replace(" from ", " from published.main.")).fetchall()]
    finally:
        con.close()
    out = cli(s.reporting_path, QUERY)
    assert out.returncode == 0, f"the 1.5 CLI could not read the file: {out.stderr}"
    assert [tuple(r) for r in list(csv.reader(io.StringIO(out.stdout)))[1:]] == expected
    assert dict(expected)["fct_building.prefab_floor_area_m2"] == f"{sum(600 + i for i in range(12)) + 450 + 300:.2f}"
    for t in (*REPORTING_TABLES, "publication"):
        out = cli(s.reporting_path, f"select count(*) from (select distinct * from {t})")
        assert out.returncode == 0, f"{t}: {out.stderr}"
