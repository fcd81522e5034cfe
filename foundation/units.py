"""The reference list of reporting units (填报单位) and a resolver for the codes submissions carry.

The list lives in the dbt seed `dbt_project/seeds/reporting_units.csv` (of the dbt project configured in
`foundation.config`): provinces, cities, county-level units (GB/T 2260 codes) and functional zones
(statistical codes, no GB/T 2260 code). It is effective-dated: a code retired by an administrative-division
change keeps its row, with `valid_to` (its last valid day) and `successor_code` (the code that replaced it).

    registry = load_units()
    res = registry.resolve("140421", date(2020, 1, 1))
    res.unit_code  # "140404"
    res.warning    # "unit code 140421 (长治县) was retired with effect from 2018-06-19 ..."

A code that is not in the list (placeholders such as 000000 included) raises `UnknownUnit`; a retired
code is never dropped, it is mapped to its successor with a warning for the data steward.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from foundation.bilingual import join
from foundation.config import DBT_PROJECT_DIR, settings

DEFAULT_PATH = DBT_PROJECT_DIR / "seeds" / "reporting_units.csv"  # the repository's list
COLUMNS = (
    "unit_code",
    "unit_name_zh",
    "unit_name_en",
    "unit_level",
    "parent_code",
    "gbt2260_code",
    "valid_from",
    "valid_to",
    "successor_code",
)
LEVELS = ("province", "city", "county", "zone")
# Codes people type when they do not know the real one; reported as placeholders, not as typos.
PLACEHOLDER_CODES = frozenset({d * 6 for d in "0123456789"} | {"123456", "654321", "012345", "999998"})


_NOT_LISTED_ZH = "它不在报送单位名录中"


class UnknownUnit(LookupError):
    """A unit code that is not in the reference list (or cannot be a unit code at all)."""

    def __init__(self, code: object, reason: str, reason_zh: str = "") -> None:
        self.code = code
        self.reason = reason
        self.reason_zh = reason_zh  # the reason in Chinese ("" if there is none)
        super().__init__(f"unit code {str(code)!r} is not a known reporting unit: {reason}")

    @property
    def bilingual(self) -> str:
        """The message Chinese first, then the English (`foundation.bilingual`), for a steward."""
        if not self.reason_zh:
            return str(self)
        return join(f"单位代码“{self.code}”不是已知的报送单位：{self.reason_zh}", str(self))


@dataclass(frozen=True)
class Unit:
    """One row of the reference list."""

    unit_code: str
    unit_name_zh: str
    unit_name_en: str
    unit_level: str  # province | city | county | zone
    parent_code: str | None
    gbt2260_code: str | None  # None for zones
    valid_from: date
    valid_to: date | None  # last valid day; None while current
    successor_code: str | None  # set only on retired codes

    def is_valid_on(self, on: date) -> bool:
        """True when the code was in force on `on`."""
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    @property
    def is_current(self) -> bool:
        """True when the code has not been retired."""
        return self.valid_to is None

    @property
    def label(self) -> str:
        """`code (Chinese name)`, the form used in steward messages."""
        return f"{self.unit_code} ({self.unit_name_zh})"


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolving a submitted code: the code to use and, if it was changed, why."""

    unit_code: str
    warning: str | None = None


def _today() -> date:
    return datetime.now(ZoneInfo(settings().timezone)).date()


class UnitRegistry:
    """The reference list, indexed by code, with hierarchy and effective-date lookups."""

    def __init__(self, units: list[Unit]) -> None:
        self._units: dict[str, Unit] = {}
        self._children: dict[str, list[str]] = {}
        for unit in units:
            if unit.unit_code in self._units:
                raise ValueError(f"duplicate unit_code {unit.unit_code} in the reference list")
            self._units[unit.unit_code] = unit
        for unit in sorted(self._units.values(), key=lambda u: u.unit_code):
            self._check(unit)
            if unit.parent_code is not None:
                self._children.setdefault(unit.parent_code, []).append(unit.unit_code)

    def _check(self, unit: Unit) -> None:
        where = f"reference list row {unit.unit_code}"
        if unit.unit_level not in LEVELS:
            raise ValueError(f"{where}: unit_level {unit.unit_level!r} is not one of {', '.join(LEVELS)}")
        if (unit.parent_code is None) != (unit.unit_level == "province"):
            raise ValueError(f"{where}: only provinces have no parent_code")
        if unit.parent_code is not None and unit.parent_code not in self._units:
            raise ValueError(f"{where}: parent_code {unit.parent_code} is not in the list")
        if unit.successor_code is not None and unit.successor_code not in self._units:
            raise ValueError(f"{where}: successor_code {unit.successor_code} is not in the list")
        if unit.successor_code is not None and unit.valid_to is None:
            raise ValueError(f"{where}: a successor_code needs a valid_to")
        if unit.valid_to is not None and unit.valid_to < unit.valid_from:
            raise ValueError(f"{where}: valid_to is before valid_from")

    # -- lookups ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._units)

    def __iter__(self) -> Iterator[Unit]:
        """Every row, current and retired, in code order."""
        return iter(sorted(self._units.values(), key=lambda u: u.unit_code))

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._units

    def get(self, code: str) -> Unit:
        """The row for `code`; raises UnknownUnit when there is none."""
        unit = self._units.get(code)
        if unit is None:
            raise UnknownUnit(code, "it is not in the reference list of reporting units", _NOT_LISTED_ZH)
        return unit

    def current(self, level: str | None = None, on: date | None = None) -> Iterator[Unit]:
        """Units valid on `on` (default: today), optionally of one level, in code order."""
        if level is not None and level not in LEVELS:
            raise ValueError(f"level {level!r} is not one of {', '.join(LEVELS)}")
        on = on or _today()
        for unit in self:
            if unit.is_valid_on(on) and (level is None or unit.unit_level == level):
                yield unit

    # -- hierarchy -------------------------------------------------------------------------------

    def children(self, code: str, on: date | None = None) -> list[Unit]:
        """Units whose parent is `code`; all rows, or only those valid on `on` when it is given."""
        self.get(code)
        kids = [self._units[c] for c in self._children.get(code, [])]
        return kids if on is None else [u for u in kids if u.is_valid_on(on)]

    def descendants(self, code: str, on: date | None = None) -> list[Unit]:
        """Every unit below `code` (all levels), depth first in code order; filtered by `on` if given."""
        found: list[Unit] = []
        for child in self.children(code):
            if on is None or child.is_valid_on(on):
                found.append(child)
            found.extend(self.descendants(child.unit_code, on))
        return found

    def ancestors(self, code: str) -> list[Unit]:
        """The parent chain of `code` up to its province, nearest first (empty for a province)."""
        chain: list[Unit] = []
        unit = self.get(code)
        while unit.parent_code is not None:
            unit = self.get(unit.parent_code)
            chain.append(unit)
        return chain

    def is_descendant_or_self(self, code: str, ancestor: str) -> bool:
        """True when `code` is `ancestor` or lies anywhere below it."""
        return code == ancestor or any(u.unit_code == ancestor for u in self.ancestors(code))

    # -- resolving submitted codes ---------------------------------------------------------------

    def resolve(self, code: str, on: date | None = None) -> Resolution:
        """The code a submission's `code` should be recorded under for a date `on` (default: today).

        A code valid on `on` is kept as is. A code retired by then follows its successor_code chain
        to the first successor valid on `on` (else the chain's last, current code), with a warning.
        A code used before it came into force is kept, with a warning. Anything else raises
        UnknownUnit: malformed codes, placeholders and codes that are not in the list.
        """
        on = on or _today()
        text = self.check_format(code)
        unit = self._units.get(text)
        if unit is None:
            if text in PLACEHOLDER_CODES:
                raise UnknownUnit(
                    text, "it is a placeholder, not a real unit code; use the unit's 6-digit code",
                    "这是占位代码，不是真实的单位代码：请使用本单位的 6 位代码",
                )
            raise UnknownUnit(text, "it is not in the reference list of reporting units", _NOT_LISTED_ZH)
        if unit.is_valid_on(on):
            return Resolution(unit.unit_code)
        if on < unit.valid_from:
            return Resolution(
                unit.unit_code,
                join(f"单位代码 {unit.label} 自 {unit.valid_from.isoformat()} 起才生效，晚于日期 {on.isoformat()}："
                     "按报送原样保留",
                     f"unit code {unit.label} only came into force on {unit.valid_from.isoformat()}, "
                     f"after the date {on.isoformat()}; kept as submitted"),
            )
        target = self._follow(unit, on)
        assert unit.valid_to is not None
        retired = (unit.valid_to + timedelta(days=1)).isoformat()
        return Resolution(
            target.unit_code,
            join(f"单位代码 {unit.label} 已自 {retired} 起撤销：已映射到其继任单位 {target.label}",
                 f"unit code {unit.label} was retired with effect from {retired}; "
                 f"mapped to its successor {target.label}"),
        )

    def _follow(self, unit: Unit, on: date) -> Unit:
        seen = {unit.unit_code}
        current = unit
        while current.successor_code is not None:
            current = self.get(current.successor_code)
            if current.unit_code in seen:
                raise UnknownUnit(unit.unit_code, "its successor_code chain loops in the reference list",
                                  "报送单位名录中它的继任代码（successor_code）链形成了循环")
            seen.add(current.unit_code)
            if current.is_valid_on(on):
                return current
        if current is unit:
            raise UnknownUnit(unit.unit_code, f"it was retired after {unit.valid_to} and has no successor",
                              f"它在 {unit.valid_to} 之后已撤销，且没有继任单位")
        return current

    @staticmethod
    def check_format(code: object) -> str:
        """`code` as a clean 6-digit string; raises UnknownUnit when it cannot be a unit code."""
        text = str(code).strip() if code is not None else ""
        if not text:
            raise UnknownUnit(code, "the unit code is empty", "单位代码为空")
        if len(text) != 6 or not (text.isascii() and text.isdigit()):
            raise UnknownUnit(code, "a unit code is exactly 6 digits (GB/T 2260 or zone statistical code)",
                              "单位代码必须恰好是 6 位数字（GB/T 2260 行政区划代码或园区统计代码）")
        return text


def _optional(value: str) -> str | None:
    value = value.strip()
    return value or None


def _date(value: str) -> date | None:
    value = value.strip()
    return date.fromisoformat(value) if value else None


def read_units(path: Path) -> list[Unit]:
    """Parse the reference CSV at `path` into Unit rows (no cross-row checks; see UnitRegistry)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise ValueError(f"{path}: header must be {','.join(COLUMNS)}, found {reader.fieldnames}")
        units = []
        for row in reader:
            valid_from = _date(row["valid_from"])
            if valid_from is None:
                raise ValueError(f"{path}: unit {row['unit_code']} has no valid_from")
            units.append(
                Unit(
                    unit_code=row["unit_code"].strip(),
                    unit_name_zh=row["unit_name_zh"].strip(),
                    unit_name_en=row["unit_name_en"].strip(),
                    unit_level=row["unit_level"].strip(),
                    parent_code=_optional(row["parent_code"]),
                    gbt2260_code=_optional(row["gbt2260_code"]),
                    valid_from=valid_from,
                    valid_to=_date(row["valid_to"]),
                    successor_code=_optional(row["successor_code"]),
                )
            )
    return units


@functools.lru_cache(maxsize=4)
def _load_seed(path: Path) -> UnitRegistry:
    return UnitRegistry(read_units(path))


def load_units(path: Path | str | None = None) -> UnitRegistry:
    """The registry from `path`, or from the seed of the configured dbt project (`settings().reporting_units_path`,
    loaded once per path and cached) when `path` is None."""
    if path is None:
        return _load_seed(settings().reporting_units_path)
    return UnitRegistry(read_units(Path(path)))
