"""The read stage's check of a file name's period against the run date and the floor (`foundation.periods`):
a file whose name says a period in the future or before the floor is rejected as a whole, with the reason."""

from __future__ import annotations

from foundation.config import Settings
from foundation.periods import period_problem


def period_plausible(settings: Settings, entry: dict, out: dict) -> bool:
    """False (and the outcome rejected with the reason) when the file name's period (already parsed into
    `out["period"]`) is implausible."""
    why = period_problem(settings, entry["kind"], entry["file_name"], out["period"])
    if why:
        out.update(status="rejected", reason=why)
        return False
    return True
