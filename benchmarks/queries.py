"""The analysts' common questions (docs/analysts.md), timed from a fresh process on the published file."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

QUERIES = {
    "unit_ytd_on_date": """
        SELECT u.unit_name_zh, i.as_of_date, i.ytd_new_floor_area_m2, i.ytd_prefab_floor_area_m2,
               i.ytd_prefab_share_pct, i.ytd_prefab_yoy_pct, i.ytd_res_pub_prefab_floor_area_m2,
               i.annual_target_prefab_floor_area_m2, i.target_completion_pct
        FROM fct_indicators_daily AS i JOIN dim_reporting_unit AS u USING (unit_code)
        WHERE i.unit_code = '{city}' AND i.as_of_date = DATE '{year}-06-30'""",
    "rank_counties_by_task_completion": """
        SELECT rank() OVER (ORDER BY i.target_completion_pct DESC) AS rank, u.unit_code, u.unit_name_zh,
               i.ytd_prefab_floor_area_m2, i.annual_target_prefab_floor_area_m2, i.target_completion_pct
        FROM fct_indicators_daily AS i JOIN dim_reporting_unit AS u USING (unit_code)
        WHERE i.as_of_date = DATE '{year}-09-30' AND u.unit_level IN ('county', 'zone')
          AND i.target_completion_pct IS NOT NULL
        ORDER BY rank, u.unit_code""",
    "monthly_series_by_structure_system": """
        SELECT month, structure_system, sum(building_count) AS building_count,
               sum(total_floor_area_m2) AS total_floor_area_m2, sum(prefab_floor_area_m2) AS prefab_floor_area_m2
        FROM fct_prefab_floor_area_monthly
        WHERE unit_code = '{city}' AND month BETWEEN DATE '{year}-01-01' AND DATE '{year}-12-01'
        GROUP BY month, structure_system ORDER BY month, structure_system""",
}

# Runs in a new interpreter: each execution opens its own read-only connection, as an analyst's tool does.
_RUNNER = textwrap.dedent("""
    import json, sys, time
    import duckdb
    path, queries, repeats = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    out = {}
    for name, sql in queries.items():
        times, rows = [], 0
        for _ in range(repeats):
            t = time.perf_counter()
            con = duckdb.connect(path, read_only=True)
            rows = len(con.execute(sql).fetchall())
            con.close()
            times.append((time.perf_counter() - t) * 1000)
        out[name] = {"ms": times, "rows": rows}
    print(json.dumps(out))
""")


def run_queries(reporting_path: Path, city: str = "330400", year: int = 2021, repeats: int = 20) -> dict:
    """{query name: {"ms": [...], "rows": n}}, measured in a new Python process."""
    sql = {name: q.format(city=city, year=year) for name, q in QUERIES.items()}
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(reporting_path), json.dumps(sql), str(repeats)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)
