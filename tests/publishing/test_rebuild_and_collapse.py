"""A lost warehouse beside an emptied landing zone and no journal (tests/pipeline/test_recovery.py has the
journal): the files are rebuilt from the archive (with its landing
manifests, or without them for copies archived before they existed) and the same figures are published again;
with the archive gone too, the collapse checks block the empty candidate, reporting.duckdb stays byte-identical,
and a steward's waiver of those checks lets it through."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from foundation import bilingual
from ingestion.archive import SIDECAR_SUFFIX
from publishing.build import build
from publishing.collapse import CHECK_PREFIX
from steward.decisions import record_review
from tests.helpers.e2e import query
from tests.helpers.gate import gate_rows, nightly_gate_and_publish, waivers_recorded
from tests.helpers.landing import HEADER, land, run
from tests.helpers.landing import row as building
from tests.helpers.nightly import nightly_without_airflow
from tests.helpers.warehouse import warehouse_rows

pytestmark = pytest.mark.slow

COLLAPSE = [f"{CHECK_PREFIX}fct_building", f"{CHECK_PREFIX}fct_prefab_floor_area_monthly"]


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def checksum_parts(checksum: str) -> dict[str, str]:
    return dict(part.split(":", 1) for part in checksum.split("|"))


def ledger_rows(s) -> list[tuple]:
    return warehouse_rows(s, "select submission_id, file_name, kind, received_at, status, rows_loaded, "
                             "rows_quarantined, warnings from dq.submission_ledger order by file_name")


def publish_twice_then_lose_everything_but_the_archive(s):
    """Two publications (the second supersedes one file and quarantines a row), then the warehouse and the
    landing zone are lost; returns (the last publication, its ledger)."""
    land(s, "330402_2020-03.csv", HEADER + building("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "600")
         + building("330402", "2020-03", "P1", "2#", "2020-03-06", "2000", "900"), 1000)
    land(s, "330411_2020-04.csv", HEADER + building("330411", "2020-04", "P2", "1#", "2020-04-08", "800", "400"), 1001)
    assert nightly_without_airflow(s, "r1").published
    land(s, "330402_2020-03_更正.csv", HEADER + building("330402", "2020-03", "P1", "1#", "2020-03-05", "1000", "700")
         + building("330402", "2020-03", "P1", "2#", "2020-03-06", "2000", "2500"), 2000)  # row 3 quarantined
    second = nightly_without_airflow(s, "r2")
    assert second.published and second.publication_id == 2
    before = ledger_rows(s)
    s.warehouse_path.unlink()
    shutil.rmtree(s.journal_dir)  # as a warehouse from before the journal (foundation/journal.py) was kept
    shutil.rmtree(s.landing_dir)
    s.landing_dir.mkdir()
    return second, before


def test_lost_warehouse_is_rebuilt_from_the_archive_and_publishes_the_same_figures(data_env):
    s = data_env
    second, before = publish_twice_then_lose_everything_but_the_archive(s)
    published = sha256(s.reporting_path)
    assert run(s, "r3")["discover"] == {"landed": 0, "new": 3, "recovered": 3, "waiting": []}
    result = build(s)
    gate, pub = nightly_gate_and_publish(s, "r3", result)
    assert gate.passed, [c.detail for c in gate.blocking]
    assert all(gate_rows(s, "r3")[name][2] == "pass" for name in COLLAPSE)
    assert pub.content_checksum == second.content_checksum  # the same figures, to the row
    assert not pub.published and sha256(s.reporting_path) == published  # identical: nothing to publish
    after = ledger_rows(s)
    assert [r[:7] for r in after] == [r[:7] for r in before]  # same ids, kinds, received_at, statuses, counts
    assert all(any("recovered from the archive" in w for w in r[7]) for r in after)
    assert not any("inferred" in w for r in after for w in r[7])


def test_archive_without_landing_manifests_is_recovered_with_a_warning(data_env):
    s = data_env
    second, before = publish_twice_then_lose_everything_but_the_archive(s)
    sidecars = list(s.archive_dir.rglob(f"*{SIDECAR_SUFFIX}"))
    assert len(sidecars) == 3
    for p in sidecars:  # as an archive written before the manifests were kept
        p.unlink()
    good = s.data_dir / "good.duckdb"
    shutil.copy(s.reporting_path, good)
    run(s, "r3")
    gate, pub = nightly_gate_and_publish(s, "r3", build(s))
    assert gate.passed, [c.detail for c in gate.blocking]
    # The same figures; only received_at (fct_building's and fct_submission_status's) is the archive copy's time
    # now (it could not be recovered).
    now, then = checksum_parts(pub.content_checksum), checksum_parts(second.content_checksum)
    for table in ("fct_building", "fct_submission_status"):
        assert now.pop(table) != then.pop(table)
        rows = f"select * exclude (received_at) from {table} order by all"
        assert query(s.reporting_path, rows).equals(query(good, rows))
    assert now == then
    after = ledger_rows(s)
    assert [(r[0], r[1], r[2], r[4], r[5], r[6]) for r in after] == [(r[0], r[1], r[2], r[4], r[5], r[6])
                                                                    for r in before]
    assert all(any("均为推断" in bilingual.part(w, "zh") and "inferred" in bilingual.part(w, "en") for w in r[7])
               for r in after)


def test_collapsed_candidate_is_blocked_until_a_steward_waives_it(data_env):
    s = data_env
    publish_twice_then_lose_everything_but_the_archive(s)
    shutil.rmtree(s.archive_dir)  # nothing left to rebuild from: the candidate is empty
    published = sha256(s.reporting_path)
    run(s, "r3")
    gate, pub = nightly_gate_and_publish(s, "r3", build(s))
    assert pub is None and not gate.passed
    assert sorted(c.check_name for c in gate.blocking) == COLLAPSE
    assert sha256(s.reporting_path) == published  # byte-identical: analysts keep the good publication
    stage, severity, status, failing, detail = gate_rows(s, "r3")[f"{CHECK_PREFIX}fct_building"]
    assert (stage, severity, status, failing) == ("gate", "error", "fail", 2)
    assert detail.startswith("候选数据较已发布数据骤减") and "fct_building 行数 2 -> 0 (-100%)" in detail
    assert "fct_building rows 2 -> 0 (-100%)" in bilingual.part(detail, "en")
    assert "装配式建筑面积 m² 1,100 -> 0" in bilingual.part(detail, "zh")
    assert "prefab m² 1,100 -> 0" in bilingual.part(detail, "en")

    for name in COLLAPSE:  # the steward knows: the data was withdrawn on purpose
        record_review(s, "wang.steward", "check", name, "waive", "units withdrawn, ticket 7")
    gate, pub = nightly_gate_and_publish(s, "r4", build(s))
    assert gate.passed and pub.published
    assert {name: by for name, (by, _) in waivers_recorded(s, "r4").items()} == dict.fromkeys(COLLAPSE, "wang.steward")
