"""A synthetic national list of reporting units, for the national benchmark only.

31 provinces x 10 cities x 9-10 county-level units, plus one development zone per province: 3,007 units that
report like counties. The codes follow the template's rules for real ones (6 digits; a province `PP0000`, a
city `PPCC00`, a district `PPCC01`-`20`, a county `PPCC21`-`80`, a county-level city `PPCC81`-`99`, a zone
`PPCC7x` with no GB/T 2260 code) but their province prefixes are ones GB/T 2260 has never allocated, so no code
can be mistaken for a real place. The rows have the seed's columns (`foundation.units.COLUMNS`); the benchmark
writes them over the `reporting_units.csv` of a copy of the dbt project (see `runner.national_project`).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from foundation.units import COLUMNS, Unit

# Two-digit province prefixes that GB/T 2260 does not use (regions 1-6, then 72-78 next to Taiwan's 71).
PROVINCE_PREFIXES = ("16", "17", "18", "19", "24", "25", "26", "27", "28", "29", "38", "39", "47", "48", "49",
                     "55", "56", "57", "58", "59", "66", "67", "68", "69", "72", "73", "74", "75", "76", "77", "78")
CITIES_PER_PROVINCE = 10
# county-level units of the province's cities, in city order (the first six have 10, the last four 9)
COUNTIES_PER_CITY = (10, 10, 10, 10, 10, 10, 9, 9, 9, 9)
# county pairs (5th-6th digits) of a city: 4 districts, 4 or 5 counties, 1 county-level city
COUNTY_PAIRS = ("02", "03", "04", "05", "21", "22", "23", "24", "25", "81")
ZONE_PAIR = "71"  # one zone per province, under its first city
FROM = date(1980, 1, 1)
ZONE_FROM = date(2000, 1, 1)


def _county(city: str, pair: str) -> Unit:
    code = city[:4] + pair
    kind = int(pair)
    zh, en = ("区", "District") if kind <= 20 else ("县", "County") if kind <= 80 else ("市", "City")
    return Unit(code, f"基准{code}{zh}", f"Bench {en} {code}", "county", city, code, FROM, None, None)


def national_units() -> list[Unit]:
    """Every row of the synthetic list, provinces first, then each province's cities, counties and zone."""
    units = []
    for prefix in PROVINCE_PREFIXES:
        province = prefix + "0000"
        units.append(Unit(province, f"基准{prefix}省", f"Bench Province {prefix}", "province", None, province,
                          FROM, None, None))
        for c in range(1, CITIES_PER_PROVINCE + 1):
            city = f"{prefix}{c:02d}00"
            units.append(Unit(city, f"基准{prefix}{c:02d}市", f"Bench City {prefix}{c:02d}", "city", province, city,
                              FROM, None, None))
            for pair in COUNTY_PAIRS[:COUNTIES_PER_CITY[c - 1] - 1] + COUNTY_PAIRS[-1:]:
                units.append(_county(city, pair))
        first_city = f"{prefix}0100"
        zone = prefix + "01" + ZONE_PAIR
        units.append(Unit(zone, f"基准{zone}经济技术开发区", f"Bench Development Zone {zone}", "zone", first_city,
                          None, ZONE_FROM, None, None))
    return units


def registry_csv() -> bytes:
    """The list in the seed's format (UTF-8, header `foundation.units.COLUMNS`), byte for byte reproducible."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for u in national_units():
        writer.writerow([u.unit_code, u.unit_name_zh, u.unit_name_en, u.unit_level, u.parent_code or "",
                         u.gbt2260_code or "", u.valid_from.isoformat(), "", ""])
    return out.getvalue().encode("utf-8")


def write_registry(path: Path) -> Path:
    """Write the list to `path` (a seed `reporting_units.csv`) unless it already holds exactly these bytes."""
    data = registry_csv()
    if not path.exists() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path
