"""Synthetic landing zones for each scale.

Many-file scales use the project's own generator (`sample_data`), without its deliberately bad inputs: the
quick and province scales on the real reporting units of the repository's list (126 county-level units), the
national scale on the synthetic national list of `benchmarks.registry` (3,007 units). The files are written by
one process per CPU, a group of units each (every unit-month is drawn from its own seed, so the files do not
depend on the grouping). The big-file scale writes one template CSV directly (Chinese headers of
`foundation.template`), re-encoded as GBK, a copy with 1 row in 100 failing a check, and a smaller XLSX.
Everything is cached under the work folder and deterministic, so repeated invocations reuse it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from foundation import template

SEED = 7
UNITS_PER_TASK = 25


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
    national_registry: bool = False  # the synthetic national list of units instead of the repository's
    airflow_nights: bool = False  # also the nights through `airflow dags test` (benchmarks.airflow_night)
    postgres_publication: bool = False  # also the publication into PostgreSQL (benchmarks.postgres_publish)
    note: str = ""


SCALES = {
    # CI smoke run: every figure, on tiny inputs (Jiaxing: 9 units x 12 months x 3 buildings; a 20k-row file).
    "quick": Scale("quick", "jiaxing", (2021,), 3, 2022, big_rows=20_000, xlsx_rows=2_000, query_year=2021),
    # Issue: ~120 units x 24 months x ~40 buildings (~115k rows, ~2,900 files). All 126 real units are used.
    "province": Scale("province", "all", (2020, 2021), 40, 2022, airflow_nights=True, postgres_publication=True),
    # Issue: ~3,000 units x 24 months x ~40 buildings (~2.9M rows, ~72k files): the synthetic national list.
    "national": Scale("national", "all", (2020, 2021), 40, 2022, query_city="160100", national_registry=True),
    "bigfile": Scale("bigfile", big_rows=1_000_000, xlsx_rows=100_000),
}

BIG_UNIT, BIG_PERIOD = "330402", "2021-03"
BIG_FAILING_EVERY = 100  # the failing copy of the big CSV: 1 row in 100 breaks a rule
_FIELDS = ("unit_code", "period", "project_code", "project_name", "building_no", "start_date", "building_use",
           "structure_system", "total_floor_area_m2", "prefab_floor_area_m2", "score_q1", "score_q2", "score_q3",
           "full_decoration")
_USES = ("居住建筑", "公共建筑", "居住建筑", "工业建筑")
_SYSTEMS = ("装配式混凝土", "钢结构", "装配式混凝土", "混合结构")


def first_units(scale: Scale, units_path: Path, n: int) -> Scale:
    """The scale restricted to the first `n` reporting units (in code order) of its selection."""
    from sample_data.units import load_units

    codes = [u.unit_code for u in load_units(units_path).reporting_units(scale.units)][:n]
    return replace(scale, units=",".join(codes), note=f"first {len(codes)} units of the {scale.name} scale only")


def _header() -> list[str]:
    zh = {f.name: f.zh for f in template.KIND_FIELDS["buildings"]}
    return [zh[f] + ("(m2)" if f.endswith("_m2") else "") for f in _FIELDS]


def big_rows(n: int, failing_every: int | None = None) -> list[list[str]]:
    """n distinct buildings of one unit and month (20 buildings per project), all valid; with `failing_every`
    k, every k-th has a prefab area above its total (a row the checks quarantine)."""
    rows = []
    for i in range(n):
        total = 1000 + (i * 37) % 9000
        prefab = total * 2 if failing_every and i % failing_every == failing_every - 1 else total * 6 // 10
        rows.append([BIG_UNIT, BIG_PERIOD, f"P{i // 20:07d}", f"项目{i // 20}", f"{i % 20 + 1}#",
                     f"{BIG_PERIOD}-{i % 28 + 1:02d}", _USES[i % 4], _SYSTEMS[i % 4], str(total),
                     str(prefab), "30", "15", "20", "是" if i % 3 else "否"])
    return rows


def big_csv(path: Path, n: int, encoding: str = "utf-8", failing_every: int | None = None) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(_header())] + [",".join(r) for r in big_rows(n, failing_every)]
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


def _write_group(landing: Path, units_path: Path, selector: str, years: tuple[int, ...], buildings: int | None,
                 months: tuple[int, ...] | None, kinds: tuple[str, ...]) -> int:
    """One process's share: plan and write the files of some units (no truth frames); the number written."""
    from sample_data.landing import plan_landing, write_plan
    from sample_data.units import load_units

    plan = plan_landing(SEED, years, selector, buildings, False, load_units(units_path), months, kinds)
    return len(write_plan(landing, plan))


def write_landing(landing: Path, units_path: Path, selector: str, years: tuple[int, ...], buildings: int | None,
                  months: tuple[int, ...] | None = None, kinds: tuple[str, ...] = ("buildings", "production_bases",
                                                                                   "targets")) -> int:
    """The files `sample_data.generate(landing, seed=SEED, bad=False, ...)` writes, in parallel: buildings and
    production bases by groups of units, targets (one file per province and year) in one more task."""
    from sample_data.units import load_units

    codes = [u.unit_code for u in load_units(units_path).reporting_units(selector)]
    tasks = [(",".join(codes[i:i + UNITS_PER_TASK]), tuple(k for k in kinds if k != "targets"))
             for i in range(0, len(codes), UNITS_PER_TASK)]
    if "targets" in kinds:
        tasks.append((selector, ("targets",)))
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_write_group, landing, units_path, group, years, buildings, months, group_kinds)
                   for group, group_kinds in tasks]
        return sum(f.result() for f in futures)


def many_file_landing(scale: Scale, work: Path, units_path: Path) -> tuple[Path, Path, dict]:
    """(full landing, full + one new month landing, description); generated once per work folder and list of
    units (`units_path`: the seed the pipeline will check unit codes against)."""
    full, incr, extra = work / "landing_full", work / "landing_incremental", work / "landing_next_month"
    done = work / "landing.json"
    # as JSON gives it back (tuples become lists), or the cache would never match
    key = {"scale": asdict(scale), "seed": SEED, "units": units_path.read_text(encoding="utf-8")}
    key = json.loads(json.dumps(key))
    if not done.exists() or json.loads(done.read_text(encoding="utf-8")) != key:
        done.unlink(missing_ok=True)
        for d in (full, incr, extra):
            shutil.rmtree(d, ignore_errors=True)
        write_landing(full, units_path, scale.units, scale.years, scale.buildings_per_month)
        write_landing(extra, units_path, scale.units, (scale.incremental_year,), scale.buildings_per_month,
                      months=(1,), kinds=("buildings",))
        for path in sorted(full.rglob("*")):
            if path.is_file():
                target = incr / path.relative_to(full)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)
        for path in sorted((extra / "buildings").glob("*")):
            os.link(path, incr / "buildings" / path.name)
        done.write_text(json.dumps(key), encoding="utf-8")
    files = sum(1 for p in full.rglob("*") if p.is_file())
    new = sum(1 for p in incr.rglob("*") if p.is_file()) - files
    size = sum(p.stat().st_size for p in full.rglob("*") if p.is_file())
    from sample_data.units import load_units

    units = len(load_units(units_path).reporting_units(scale.units))
    return full, incr, {"reporting_units": units, "files": files, "new_month_files": new, "bytes": size}
