"""The run's summary tells an operator about files discover left for a later run (still being written), which
appear nowhere in the ledger yet."""

from __future__ import annotations

import time

from pipeline.summary import summary_text
from tests.helpers.landing import HEADER, land, row, run


def test_the_summary_names_landed_files_not_taken_yet(data_env):
    land(data_env, "330402_2020-03.csv", HEADER + row("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600"),
         1_600_000_000)
    land(data_env, "330411_2020-03.csv", HEADER + row("330411", "2020-03", "P2", "1#", "2020-03-06", "900", "500"),
         int(time.time()))  # just landed: within the 60 s settle time
    run(data_env, "r1")
    text = summary_text(data_env, "r1")
    assert "waiting: 1 landed files not taken yet" in text
    assert "buildings/330411_2020-03.csv" in text
    assert "330402_2020-03.csv" not in text.split("waiting:")[1]


def test_the_summary_names_its_warnings_and_links_the_steward_pages(data_env):
    from foundation.db import connect_warehouse
    from tests.helpers.steward import land_quarantine_files

    land_quarantine_files(data_env)  # 330402 2020-03: three quarantined rows; 330411 2020-03: none
    run(data_env, "r1")
    warning = "gx.monthly.floor_area_near_usual_volume"
    with connect_warehouse(data_env) as con:
        con.execute("insert into dq.check_results (run_id, check_name, stage, severity, status, failing_rows, detail, "
                    "checked_at) values ('r1', ?, 'gate', 'warn', 'warn', 1, '1 found: 330402 2020-03: 9.9 m², usual "
                    "990 m², 0.01x', now())", [warning])
        sid = con.execute("select submission_id from dq.submission_files where file_name = '330402_2020-03.csv'"
                          ).fetchone()[0]
    text = summary_text(data_env, "r1")
    assert "Gate: 0 passed, 1 warned, 0 failed" in text
    assert f"  - {warning} (gate, 1 rows): 1 found: 330402 2020-03: 9.9 m², usual 990 m², 0.01x" in text
    lines = text.splitlines()
    # Chinese first, the English after it on the same line.
    assert any(line.startswith("警告 1 项（不阻断发布）") and "follow them up at http://127.0.0.1:8765/runs/r1" in line
               for line in lines)
    assert any(line.startswith("  待处理的隔离行在 1 个文件中") and "open quarantined rows in 1 files" in line
               for line in lines)
    assert f"    330402_2020-03.csv: 3 rows  http://127.0.0.1:8765/submissions/{sid}" in text
    assert "330411_2020-03.csv" not in text.split("open quarantined rows")[1]  # nothing of it quarantined


def test_the_summary_lists_ten_warnings_and_says_how_many_more(data_env):
    from foundation.db import connect_warehouse
    from tests.helpers.steward import land_quarantine_files

    land_quarantine_files(data_env)
    run(data_env, "r1")
    names = [f"gx.test_warning_{i:02d}" for i in range(13)]
    with connect_warehouse(data_env) as con:
        con.execute("delete from dq.check_results where run_id = 'r1' and status = 'warn'")
        for name in names:
            con.execute("insert into dq.check_results (run_id, check_name, stage, severity, status, failing_rows, "
                        "detail, checked_at) values ('r1', ?, 'gate', 'warn', 'warn', 2, 'detail', now())", [name])
    text = summary_text(data_env, "r1")
    listed = [name for name in names if f"  - {name} (gate, 2 rows): detail" in text]
    assert listed == names[:10]  # by name, the first ten
    assert "  …另有 3 项，见运行页面 (and 3 more on that page)" in text.splitlines()
