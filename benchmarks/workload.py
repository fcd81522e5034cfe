"""Synthetic landing zones for each scale.

Many-file scales use the project's own generator (`sample_data.generate`, only real reporting units: about
126 county-level units exist). The big-file scale writes one template CSV directly (Chinese headers of
`ingestion.template`), re-encoded as GBK, plus a smaller XLSX. Everything is cached under the work folder
and deterministic, so repeated invocations reuse it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ingestion import template


@dataclass(frozen=True)
class Scale:
    name: str
    units: str | None = None  # sample_data selector; None: no many-file workload
    years: tuple[int, ...] = ()
    buildings_per_month: int | None = None
    incremental_year: int | None = None  # its January is landed for the incremental run
    big_rows: int = 0  # rows of the big UTF-8 CSV (and of its GBK copy)
    xlsx_rows: int = 0
    query_city: str = "330400"
    query_year: int = 2021
    note: str = ""


SCALES = {
    # CI smoke run: every figure, on tiny inputs (Jiaxing: 9 units x 12 months x 3 buildings; a 20k-row file).
    "quick": Scale("quick", "jiaxing", (2021,), 3, 2022, big_rows=20_000, xlsx_rows=2_000, query_year=2021),
    # Issue: ~120 units x 24 months x ~40 buildings (~115k rows, ~2,900 files). All 126 real units are used.
    "province": Scale("province", "all", (2020, 2021), 40, 2022),
    # Issue: ~3,000 units x 24 months (~2.9M rows, ~72k files). Only 126 real units exist, so this keeps the
    # row count (126 x 24 x 960 buildings) but not the file count; see README.
    "national": Scale("national", "all", (2020, 2021), 960, 2022,
                      note="row volume of the national scale, but only ~3,000 files (126 real units)"),
    "bigfile": Scale("bigfile", big_rows=1_000_000, xlsx_rows=100_000),
}

BIG_UNIT, BIG_PERIOD = "330402", "2021-03"
_FIELDS = ("unit_code", "period", "project_code", "project_name", "building_no", "start_date", "building_use",
           "structure_system", "total_floor_area_m2", "prefab_floor_area_m2", "score_q1", "score_q2", "score_q3",
           "full_decoration")
_USES = ("居住建筑", "公共建筑", "居住建筑", "工业建筑")
_SYSTEMS = ("装配式混凝土", "钢结构", "装配式混凝土", "混合结构")


def _header() -> list[str]:
    zh = {f.name: f.zh for f in template.KIND_FIELDS["buildings"]}
    return [zh[f] + ("(m2)" if f.endswith("_m2") else "") for f in _FIELDS]


def big_rows(n: int) -> list[list[str]]:
    """n valid, distinct buildings of one unit and month (20 buildings per project)."""
    rows = []
    for i in range(n):
        total = 1000 + (i * 37) % 9000
        rows.append([BIG_UNIT, BIG_PERIOD, f"P{i // 20:07d}", f"项目{i // 20}", f"{i % 20 + 1}#",
                     f"{BIG_PERIOD}-{i % 28 + 1:02d}", _USES[i % 4], _SYSTEMS[i % 4], str(total),
                     str(total * 6 // 10), "30", "15", "20", "是" if i % 3 else "否"])
    return rows


def big_csv(path: Path, n: int, encoding: str = "utf-8") -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(_header())] + [",".join(r) for r in big_rows(n)]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    tmp.replace(path)
    return path


def big_xlsx(path: Path, n: int) -> Path:
    if path.exists():
        return path
    from openpyxl import Workbook

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("buildings")
    ws.append(_header())
    for r in big_rows(n):
        ws.append(r)
    tmp = path.with_name(path.name + ".tmp.xlsx")
    wb.save(tmp)
    tmp.replace(path)
    return path


def single_file_landing(root: Path, source: Path) -> Path:
    """A landing zone holding only `source`, under the template's file name for its unit and month."""
    landing = root / "landing"
    target = landing / "buildings" / f"{BIG_UNIT}_{BIG_PERIOD}{source.suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.link(source, target)
    return landing


def many_file_landing(scale: Scale, work: Path) -> tuple[Path, Path, dict]:
    """(full landing, full + one new month landing, description); generated once per work folder."""
    from sample_data import generate

    full, incr, extra = work / "landing_full", work / "landing_incremental", work / "landing_next_year"
    if not (work / "landing.done").exists():
        for d in (full, incr, extra):
            shutil.rmtree(d, ignore_errors=True)
        generate(full, seed=7, years=scale.years, units=scale.units,
                 buildings_per_month=scale.buildings_per_month, bad=False)
        generate(extra, seed=7, years=(scale.incremental_year,), units=scale.units,
                 buildings_per_month=scale.buildings_per_month, bad=False)
        for path in sorted(full.rglob("*")):
            if path.is_file():
                target = incr / path.relative_to(full)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)
                shutil.copystat(path, target)
        for path in sorted((extra / "buildings").glob(f"*_{scale.incremental_year}-01*")):
            shutil.copy2(path, incr / "buildings" / path.name)
        (work / "landing.done").touch()
    files = sum(1 for p in full.rglob("*") if p.is_file())
    new = sum(1 for p in incr.rglob("*") if p.is_file()) - files
    size = sum(p.stat().st_size for p in full.rglob("*") if p.is_file())
    return full, incr, {"files": files, "new_month_files": new, "bytes": size}
