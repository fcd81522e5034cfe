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
