"""Publication: an analyst holding reporting.duckdb open never blocks a run, keeps a consistent view of the
publication they opened, and a new connection sees the new one. No WAL is left beside the published file."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pipeline.stages import Skipped
from tests.helpers.e2e import query
from tests.helpers.landing import HEADER, land, row
from tests.helpers.nightly import nightly_without_airflow

pytestmark = pytest.mark.slow

READER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    q = "select sum(prefab_floor_area_m2)::double from fct_building"
    print(con.execute(q).fetchone()[0], flush=True)
    sys.stdin.readline()  # the test publishes again meanwhile
    print(con.execute(q).fetchone()[0], flush=True)
""")




def test_open_reader_keeps_its_view_and_never_blocks(data_env):
    s = data_env
    land(s, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600"), 1000)
    first = nightly_without_airflow(s, "r1")
    assert first.published and first.publication_id == 1

    reader = subprocess.Popen([sys.executable, "-c", READER, str(s.reporting_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert float(reader.stdout.readline()) == 600.0
        land(s, "330402_2020-03_更正.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "750"),
             2000)
        second = nightly_without_airflow(s, "r2")  # the analyst's connection is open all along
        assert second.published and second.publication_id == 2
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert float(reader.stdout.readline()) == 600.0  # the open connection still sees its publication
    finally:
        reader.kill()
    assert query(s.reporting_path, "select sum(prefab_floor_area_m2)::double as v from fct_building")["v"][0] == 750.0
    pubs = query(s.reporting_path, "select publication_id, run_id from publication order by 1")
    assert list(pubs["run_id"]) == ["r1", "r2"]
    assert not s.reporting_path.with_name("reporting.duckdb.wal").exists()
    assert [p.name for p in s.data_dir.iterdir() if p.name.startswith(".reporting")] == []

    third = nightly_without_airflow(s, "r3")  # nothing new: dbt, gate and publication skipped, the file untouched
    assert isinstance(third, Skipped)
    assert list(query(s.reporting_path, "select run_id from publication order by 1")["run_id"]) == ["r1", "r2"]
