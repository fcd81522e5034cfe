"""The gate's collapse checks: the candidate against the live published `reporting.duckdb`.

Every other gate check looks at the candidate alone, so a candidate that lost most of its rows (a warehouse
rebuilt empty beside an emptied landing zone, a raw table truncated by mistake) passes them all and would be
swapped over the good publication. These checks compare the candidate marts with what analysts read now:
when a table's row count or its total prefabricated floor area falls by more than COLLAPSE_SHARE of the
published figure, the check fails with severity `error` and blocks publication. A steward who knows the drop
is real (a unit's data withdrawn on purpose) waives it like any other check, by its name.

Why 50 %: figures only grow between publications in normal operation (corrections move a few buildings, a
superseded file replaces its own slice); the largest legitimate drop seen is one unit's file withdrawn, a few
per cent of a province. Losing half is never a correction: it is lost data.
"""

from __future__ import annotations

import duckdb

from expectations.results import CheckResult
from foundation.bilingual import join
from foundation.config import Settings
from foundation.db import DUCKDB_CONFIG, connect_warehouse
from publishing import retention

COLLAPSE_SHARE = 0.5  # a drop by more than this share of the published figure blocks
# table -> the published figures compared: (label, SQL aggregate)
MEASURES: dict[str, tuple[tuple[str, str], ...]] = {
    "fct_building": (("rows", "count(*)"), ("prefab m²", "sum(prefab_floor_area_m2)")),
    "fct_prefab_floor_area_monthly": (("rows", "count(*)"), ("prefab m²", "sum(prefab_floor_area_m2)")),
}
LABELS_ZH = {"rows": "行数", "prefab m²": "装配式建筑面积 m²"}
CHECK_PREFIX = "publication.collapse."


def _figures(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[float]:
    select = ", ".join(f"coalesce({sql}, 0)::double" for _, sql in MEASURES[table])
    return list(con.execute(f"select {select} from {schema}.{table}").fetchone())


def _published(settings: Settings) -> dict[str, list[float]] | None:
    path = settings.reporting_path
    if retention.damaged(path):  # compare with what analysts had: the newest kept publication that opens
        path = retention.latest_readable(settings)
    if path is None or not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True, config=DUCKDB_CONFIG)
    try:
        return {t: _figures(con, "main", t) for t in MEASURES}
    finally:
        con.close()


def _shown(x: float) -> str:
    return f"{x:,.0f}" if x == int(x) else f"{x:,.2f}"


def collapse_checks(settings: Settings) -> list[CheckResult]:
    """One `error` check per table of MEASURES: the candidate keeps more than half of each published figure."""
    published = _published(settings)
    with connect_warehouse(settings, read_only=True) as con:
        candidate = {t: _figures(con, "marts", t) for t in MEASURES}
    checks = []
    for table, measures in MEASURES.items():
        name = f"{CHECK_PREFIX}{table}"
        if published is None:
            checks.append(CheckResult(name, "error", "pass", 0, join("尚未发布过：没有可比较的数字",
                                                                     "nothing published yet: no figure to compare")))
            continue
        drops, drops_zh = [], []
        for (label, _), before, after in zip(measures, published[table], candidate[table], strict=True):
            if before > 0 and after < before * (1 - COLLAPSE_SHARE):
                change = f"{_shown(before)} -> {_shown(after)} ({(after - before) / before:+.0%})"
                drops.append(f"{label} {change}")
                drops_zh.append(f"{LABELS_ZH[label]} {change}")
        if not drops:
            keeps = f"{1 - COLLAPSE_SHARE:.0%}"
            checks.append(CheckResult(name, "error", "pass", 0, join(
                f"{table} 保留了已发布的行数和装配式建筑面积的 {keeps} 以上",
                f"{table} keeps more than {keeps} of the published rows and prefab floor area")))
            continue
        lost = int(max(published[table][0] - candidate[table][0], 0))
        share = f"{COLLAPSE_SHARE:.0%}"
        checks.append(CheckResult(name, "error", "fail", lost, join(
            f"候选数据较已发布数据骤减，已阻止发布：{table} {'；'.join(drops_zh)}（已发布 -> 候选）。候选数据比分析人员"
            f"现在读取的数据少了 {share} 以上，多半是数据仓库或原始文件丢失（从存档重建），或某个模型丢了行。"
            f"如果减少属实，由数据管理员豁免检查 {name}。",
            f"the candidate fell sharply below what is published, publication blocked: {table} {'; '.join(drops)} "
            f"(published -> candidate). The candidate lost more than {share} of what analysts read now; most often "
            "the warehouse or the raw files were lost (rebuild from the archive) or a model dropped rows. If the "
            f"drop is real, a steward waives check {name}.")))
    return checks
