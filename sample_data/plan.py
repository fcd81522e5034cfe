"""What is to be written, before writing: the files with their records, look and expected outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from foundation.units import Unit

from . import render
from .units import UnitList


@dataclass
class PlannedFile:
    kind: str
    name: str
    unit_code: str | None  # as in the file name
    period: str  # YYYY-MM or YYYY
    records: list
    style: render.Style
    received_at: datetime
    outcome: str = "loaded"  # loaded | rejected | superseded | duplicate
    reasons: list[str] = field(default_factory=list)  # file-level reason keywords
    warnings: list[str] = field(default_factory=list)
    content: bytes | None = None  # fixed bytes instead of rendering (garbage)
    copy_of: PlannedFile | None = None  # byte-identical copy of another file
    case: str | None = None  # the bad case this file stands for
    extra: bool = False  # not one of the regular one-per-unit-and-period files


@dataclass
class Plan:
    """Everything to be written, before writing: what `bad` works on."""
    seed: int
    units: UnitList
    selected: list[Unit]
    periods: list[str]
    files: list[PlannedFile]
    used_codes: dict[str, set[str]]
    rate_mismatches: bool

    def place(self, code: str) -> str:
        """嘉兴市南湖区 / 山西省 / 长治市长治县: how a title line names a unit."""
        unit = self.units[code]
        city = self.units.city_of(code)
        return (city.unit_name_zh if city and unit.unit_level in ("county", "zone") else "") + unit.unit_name_zh
