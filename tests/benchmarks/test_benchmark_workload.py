"""The national benchmark's synthetic list of units, the dbt-project setting that points the pipeline at it,
and the benchmark's parallel writing of landing zones (the same files as `sample_data.generate`)."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from benchmarks import registry, workload
from foundation.units import DEFAULT_PATH, PLACEHOLDER_CODES, UnitRegistry, read_units

# Province prefixes allocated by GB/T 2260 (31 provinces, Taiwan, Hong Kong, Macao): none may be reused.
GBT2260_PROVINCES = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
                     "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
                     "65", "71", "81", "82"}
TODAY = date(2025, 6, 30)


@pytest.fixture(scope="module")
def units():
    return registry.national_units()


def test_codes_follow_the_code_rules_and_cannot_be_real(units):
    real_codes = {u.unit_code for u in read_units(DEFAULT_PATH)}
    for u in units:
        code = u.unit_code
        assert UnitRegistry.check_format(code) == code
        assert code not in PLACEHOLDER_CODES and code not in real_codes
        assert code[:2] not in GBT2260_PROVINCES
        pair = int(code[4:])
        if u.unit_level == "province":
            assert code.endswith("0000") and u.gbt2260_code == code
        elif u.unit_level == "city":
            assert code.endswith("00") and code[2:4] != "00" and u.gbt2260_code == code
        elif u.unit_level == "zone":
            assert code[4] == "7" and u.gbt2260_code is None
        else:
            assert u.gbt2260_code == code and pair != 0 and code[4] != "7"
            # districts 01-20 (区), counties 21-80 (县), county-level cities 81-99 (市)
            expected = "区" if pair <= 20 else "县" if pair <= 80 else "市"
            assert u.unit_name_zh.endswith(expected), u
        assert re.fullmatch(r"基准\d+(省|市|区|县|经济技术开发区)", u.unit_name_zh), u.unit_name_zh
        assert u.valid_to is None and u.successor_code is None


def test_hierarchy_is_consistent_and_national_sized(units):
    reg = UnitRegistry(units)  # parents exist, only provinces lack one, no duplicate codes
    levels = Counter(u.unit_level for u in units)
    assert levels == {"province": 31, "city": 310, "county": 2976, "zone": 31}
    for u in units:
        if u.unit_level in ("county", "zone"):
            city = reg.get(u.parent_code)
            assert city.unit_level == "city" and city.unit_code == u.unit_code[:4] + "00"
            assert city.parent_code == u.unit_code[:2] + "0000"
        elif u.unit_level == "city":
            assert u.parent_code == u.unit_code[:2] + "0000"
            assert reg.get(u.parent_code).unit_level == "province"
        assert reg.resolve(u.unit_code, TODAY).warning is None
    reporting = [u for u in reg.current(on=TODAY) if u.unit_level in ("county", "zone")]
    assert len(reporting) == 3007  # the "about 3,000 units"; x 24 months = 72,168 monthly files


def test_list_is_deterministic_and_in_the_seed_format(tmp_path, units):
    first = registry.registry_csv()
    assert registry.registry_csv() == first
    path = registry.write_registry(tmp_path / "seeds" / "reporting_units.csv")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(first).hexdigest()
    assert read_units(path) == units  # the pipeline's own reader, header checked


@pytest.fixture
def national_project(tmp_path, monkeypatch):
    """A dbt project folder whose seed is the synthetic list, configured through PREFAB_DBT_PROJECT_DIR."""
    project = tmp_path / "dbt_project"
    registry.write_registry(project / "seeds" / "reporting_units.csv")
    monkeypatch.setenv("PREFAB_DBT_PROJECT_DIR", str(project))
    return project


def test_the_setting_points_ingestion_dbt_and_the_generator_at_the_project(national_project):
    from foundation.config import settings
    from foundation.units import load_units
    from sample_data.units import load_units as generator_units

    assert settings().dbt_project_dir == national_project
    reg = load_units()
    assert "160102" in reg and "330402" not in reg and len(reg) == 3348
    assert "160102" in generator_units() and "330402" not in generator_units()


def test_the_setting_defaults_to_the_repository_project(monkeypatch):
    from foundation.config import DBT_PROJECT_DIR, settings
    from foundation.units import load_units

    monkeypatch.delenv("PREFAB_DBT_PROJECT_DIR", raising=False)
    assert settings().dbt_project_dir == DBT_PROJECT_DIR
    assert "330402" in load_units() and "160102" not in load_units()


def _listing(root: Path) -> dict[str, tuple[int, str]]:
    return {str(p.relative_to(root)): (int(p.stat().st_mtime), hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_parallel_writing_gives_the_generators_files(tmp_path, monkeypatch):
    from sample_data import generate

    monkeypatch.setattr(workload, "UNITS_PER_TASK", 4)  # several groups for Jiaxing's 9 units
    written = workload.write_landing(tmp_path / "parallel", DEFAULT_PATH, "jiaxing", (2021,), 3)
    generate(tmp_path / "serial", seed=workload.SEED, years=(2021,), units="jiaxing", buildings_per_month=3,
             bad=False)
    parallel, serial = _listing(tmp_path / "parallel"), _listing(tmp_path / "serial")
    assert written == len(serial) > 9 * 12
    assert parallel == serial


def test_a_new_month_alone_is_the_month_of_the_whole_year(tmp_path, units):
    """The incremental landing's new month equals that month of a whole year generated for the same units."""
    from sample_data import generate
    from sample_data.units import load_units as generator_units

    path = registry.write_registry(tmp_path / "reporting_units.csv")
    selector = "160102,160171,780981"
    workload.write_landing(tmp_path / "month", path, selector, (2022,), 5, months=(1,), kinds=("buildings",))
    year = generate(tmp_path / "year", seed=workload.SEED, years=(2022,), units=selector, buildings_per_month=5,
                    bad=False, unit_list=generator_units(path))
    january = {k: v for k, v in _listing(tmp_path / "year").items() if "_2022-01" in k}
    assert sorted(k.split("/")[1][:6] for k in january) == sorted(selector.split(","))  # one file per unit
    assert _listing(tmp_path / "month") == january
    assert len(year.buildings[year.buildings["period"] == "2022-01"]) == 3 * 5


def test_landing_zones_are_generated_once_per_scale_and_unit_list(tmp_path, monkeypatch):
    """A second run of a scale reuses the cached landing zones; another unit list regenerates them."""
    scale = workload.Scale("tiny", "330402,330411", (2021,), 2, 2022)
    first = workload.many_file_landing(scale, tmp_path, DEFAULT_PATH)
    listing = _listing(first[1])
    calls = []
    real = workload.write_landing
    monkeypatch.setattr(workload, "write_landing", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert workload.many_file_landing(scale, tmp_path, DEFAULT_PATH) == first
    assert calls == [] and _listing(first[1]) == listing
    other = tmp_path / "units.csv"
    other.write_text(DEFAULT_PATH.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    workload.many_file_landing(scale, tmp_path, other)
    assert len(calls) == 2  # the full landing and the new month, written again
