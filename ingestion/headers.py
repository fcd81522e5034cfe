"""Header matching: which template field a header as written stands for, and the area unit it carries.

Headers are compared after `fold_header` (NFKC, case, spaces, underscores, edge punctuation and trailing
bracketed groups such as a unit '(万m²)' removed); a field is found by its Chinese header, its English name or
an alias. The reader (`ingestion.read`), the enumeration spellings (`ingestion.normalise`) and the steward's
export (`steward.export`) match headers with these functions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any

from foundation import template

_DROP_CHARS = re.compile(r"[\s_\-*]+")
_EDGE_CHARS = ":：;；,，.。"
# A bracketed group at the end: (), [], 【】 (full-width （） and ［］ become () and [] under NFKC).
_TRAILING_BRACKET = re.compile(r"(?:\(([^()]*)\)|\[([^\[\]]*)\]|【([^【】]*)】)$")


def _fold_once(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).casefold()
    s = _DROP_CHARS.sub("", s)
    s = s.strip(_EDGE_CHARS)
    while True:
        m = _TRAILING_BRACKET.search(s)
        if not m or m.start() == 0:
            break
        s = s[: m.start()].rstrip(_EDGE_CHARS)
    return s


def fold_header(text: Any) -> str:
    """Fold a header (or an enumeration word) for lenient comparison.

    NFKC (full-width -> half-width, '㎡' -> 'm2', '（' -> '('), case-folded, whitespace, underscores,
    hyphens and asterisks removed, leading/trailing colons and commas removed, and trailing bracketed
    groups such as a unit '(万m²)', '（平方米）', '[m2]', '【必填】' removed (unless the whole text is one
    bracketed group). Idempotent: fold_header(fold_header(x)) == fold_header(x).
    """
    s = "" if text is None else str(text)
    for _ in range(20):
        folded = _fold_once(s)
        if folded == s:
            break
        s = folded
    return s


def _fold_unit(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).casefold()
    s = re.sub(r"[\s,，]+", "", s)
    s = re.sub(r"^单位[:：]?", "", s)
    return s.replace("²", "2")


_AREA_UNITS: dict[str, float] = {
    "m2": 1.0, "平方米": 1.0, "平米": 1.0, "sqm": 1.0, "sq.m": 1.0, "squaremetres": 1.0,
    "squaremeters": 1.0,
    "万m2": 10000.0, "万平方米": 10000.0, "万平米": 10000.0, "10000m2": 10000.0, "10000sqm": 10000.0,
}
# Unit suffixes recognised without brackets, longest first ('总建筑面积万m²', 'total floor area m2').
_UNIT_SUFFIXES = sorted(_AREA_UNITS, key=len, reverse=True)
_UNIT_LIKE = re.compile(r"m|米|亩|公顷|ha|km|平方")


def header_unit(text: Any) -> str | None:
    """The unit a header carries, as written: the content of its last bracketed group, or a known area
    unit written at its end without brackets ('总建筑面积万m²'). None when there is none."""
    if text is None:
        return None
    s = unicodedata.normalize("NFKC", str(text)).strip()
    m = re.search(r"(?:\(([^()]*)\)|\[([^\[\]]*)\]|【([^【】]*)】)\s*$", s)
    if m and m.start() > 0:
        return next(g for g in m.groups() if g is not None).strip()
    compact = _fold_unit(s)
    for unit in _UNIT_SUFFIXES:
        if compact.endswith(unit) and len(compact) > len(unit):
            return unit
    return None


def header_unit_factor(text: Any) -> float | None:
    """10000.0 for a header in 万m² (万m2, 万平方米, 万㎡), 1.0 for m² (m2, 平方米, ㎡), None otherwise
    (no unit, or a unit that is not an area unit)."""
    unit = header_unit(text)
    if unit is None:
        return None
    return _AREA_UNITS.get(_fold_unit(unit))


def is_unknown_area_unit(text: Any) -> bool:
    """True when a header carries something that looks like an area unit but is not m² or 万m²
    ('(公顷)', '(亩)', '(千平方米)'): such a column cannot be converted safely."""
    unit = header_unit(text)
    if unit is None or _fold_unit(unit) in _AREA_UNITS:
        return False
    return bool(_UNIT_LIKE.search(_fold_unit(unit)))


@cache
def _header_index(kind: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for f in template.fields(kind):
        names = [f.zh, f.name, *f.aliases]
        for suffix in ("_m2", "_pct"):
            if f.name.endswith(suffix):
                names.append(f.name[: -len(suffix)])
        for name in names:
            index.setdefault(fold_header(name), f.name)
    return index


def match_header(kind: str, header: Any) -> str | None:
    """The canonical field name a single header stands for, or None."""
    if isinstance(header, str):
        return _match_text(kind, header)
    return _match(kind, header)


@lru_cache(maxsize=1 << 16)
def _match_text(kind: str, header: str) -> str | None:
    return _match(kind, header)  # every file of a kind repeats the same few headers


def _match(kind: str, header: Any) -> str | None:
    index = _header_index(kind)
    key = fold_header(header)
    if not key:
        return None
    if key in index:
        return index[key]
    compact = _fold_unit(key)
    for unit in _UNIT_SUFFIXES:
        if compact.endswith(unit):
            stem = fold_header(compact[: -len(unit)].rstrip("/:："))
            if stem in index:
                return index[stem]
    return None


def match_headers(kind: str, headers: Sequence[Any]) -> dict[int, str]:
    """Map column positions (0-based) to canonical field names, matching the Chinese header, the English
    name or an alias after `fold_header`. Positions whose header matches nothing are absent: see
    `unknown_headers`. Two positions may map to the same field; the reader rejects that."""
    out: dict[int, str] = {}
    for i, header in enumerate(headers):
        name = match_header(kind, header)
        if name is not None:
            out[i] = name
    return out


def unknown_headers(kind: str, headers: Sequence[Any]) -> dict[int, str]:
    """Positions and text of non-empty headers that match no field of the kind."""
    return {i: str(h).strip() for i, h in enumerate(headers)
            if h is not None and str(h).strip() and match_header(kind, h) is None}
