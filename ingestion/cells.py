"""Submission cells as text, before any type: missing words, trimming, quoting a cell in a reason, the
per-distinct-value loop of the low-cardinality normalisers, and the clean-up every field's cells get
before they are parsed (`clean_cells`: format characters removed, over-long cells cut and named).
`ingestion.normalise` parses the cleaned cells into typed values."""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from foundation import template
from foundation.bilingual import join

STR_DTYPE = "str"

# A cell longer than this is refused, whatever its field (a name, an address or a remark is far shorter;
# an XLSX cell holds at most 32,767): the row is quarantined with the cell's length, the whole cell kept in
# the row's raw JSON.
MAX_CELL_CHARS = 4000

# Zero-width and format characters that a copy from a web page or a word processor leaves inside cells
# (U+FEFF as a byte-order mark pasted mid-line, U+200B zero-width space, U+200C/U+200D joiners, U+2060
# word joiner): invisible, never meant, and they make '是' fail as a yes/no value. Removed from the
# values; the raw JSON keeps the cell as received.
FORMAT_CHARS = "\ufeff\u200b\u200c\u200d\u2060"
_FORMAT_RE = "[" + FORMAT_CHARS + "]"
_FORMAT_UTF8 = tuple(c.encode("utf-8") for c in FORMAT_CHARS)
_FORMAT_TABLE = dict.fromkeys(map(ord, FORMAT_CHARS))


def strip_format(text: str) -> str:
    """`text` without FORMAT_CHARS and surrounding spaces."""
    return text.translate(_FORMAT_TABLE).strip()


def _missing_variants() -> list[str]:
    words: set[str] = set()
    for word in (*template.MISSING_WORDS, "／", "–", "－－", "n/a", "#n/a"):
        nfkc = unicodedata.normalize("NFKC", word)
        for w in (word, nfkc):
            if w.isascii() and any(c.isalpha() for c in w):
                words.update("".join(p) for p in itertools.product(*((c.lower(), c.upper()) for c in w)))
            else:
                words.add(w)
    return sorted(words)


_MISSING_SET = pa.array(_missing_variants(), type=pa.string())


_MISSING_VARIANTS = frozenset(_missing_variants())
_MISSING_LOWER = frozenset(unicodedata.normalize("NFKC", w).casefold() for w in _MISSING_VARIANTS) | {""}


def is_missing_word(text: str) -> bool:
    """True for an empty cell or one of the template's missing words (case- and width-insensitive)."""
    return unicodedata.normalize("NFKC", text).strip().casefold() in _MISSING_LOWER


def trim(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.utf8_trim_whitespace(arr)


def missing_mask(trimmed: pa.ChunkedArray) -> np.ndarray:
    """True for null, empty or missing-word cells (input already trimmed)."""
    mask = pc.or_kleene(pc.is_null(trimmed), pc.is_in(trimmed, value_set=_MISSING_SET))
    return numpy_bools(pc.fill_null(mask, True))


def numpy_bools(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An arrow boolean array (without nulls) as a numpy bool array."""
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 0:
            return np.zeros(0, dtype=bool)
        arr = arr.combine_chunks() if arr.num_chunks > 1 else arr.chunk(0)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def np_float(arr: pa.ChunkedArray) -> np.ndarray:
    if arr.num_chunks == 0:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(arr.to_numpy(), dtype=np.float64)


def quote_cell(text: str, limit: int = 60) -> str:
    """A cell's text as a reason quotes it: in single quotes, cut to `limit` characters."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "'" + text + "'"


def str_series(arr: pa.ChunkedArray | pa.Array, index: pd.Index | None = None) -> pd.Series:
    return pd.Series(arr, dtype=STR_DTYPE, index=index)




def per_unique(arr: pa.ChunkedArray, func: Callable[[str], tuple[Any, str | None]]
                ) -> tuple[list[Any], np.ndarray | None, np.ndarray]:
    """Apply `func(stripped_text) -> (value, error)` once per distinct value (stripped in Python, of
    surrounding spaces and FORMAT_CHARS: the values that differ only by them are few, and give the same
    result).

    Returns (values per distinct value + [None] for missing, errors per cell or None, codes per cell
    indexing the first list)."""
    codes, uniques = pd.factorize(pd.Series(arr, dtype=STR_DTYPE), use_na_sentinel=True)
    results: list[Any] = []
    errs: list[str | None] = []
    for u in uniques:
        u = strip_format(u)
        if is_missing_word(u):
            value, error = None, None
        else:
            value, error = func(u)
        results.append(value)
        errs.append(error)
    results.append(None)
    errs.append(None)
    codes = np.where(codes < 0, len(uniques), codes)
    errors = None
    if any(e is not None for e in errs):
        errors = np.asarray(errs, dtype=object)[codes]
    return results, errors, codes


def take_str(results: list[Any], codes: np.ndarray) -> pa.Array:
    return pc.take(pa.array(results, type=pa.string()), pa.array(codes))


def _may_hold_format_chars(arr: pa.ChunkedArray) -> bool:
    """False when no chunk's character data holds one of FORMAT_CHARS (a byte search, cheap on a
    million cells); True means 'perhaps' (a chunk's buffer may reach beyond its slice)."""
    for chunk in arr.chunks:
        data = chunk.buffers()[2] if len(chunk) and pa.types.is_string(chunk.type) or \
            pa.types.is_large_string(chunk.type) else None
        if data is None:
            continue
        raw = data.to_pybytes()
        if any(seq in raw for seq in _FORMAT_UTF8):
            return True
    return False


def clean_cells(arr: pa.ChunkedArray, limit: int = MAX_CELL_CHARS) -> tuple[pa.ChunkedArray, np.ndarray | None]:
    """The cells of one field made ready to parse: FORMAT_CHARS removed; a cell over `limit` characters
    cut to the quote of a reason. Returns (cells, errors per cell or None): an over-long cell's error names
    its length, and replaces whatever parsing the cut text finds."""
    if _may_hold_format_chars(arr):
        arr = pc.replace_substring_regex(arr, _FORMAT_RE, "")
    if len(arr) == 0 or (pc.max(pc.binary_length(arr)).as_py() or 0) <= limit:  # bytes >= characters
        return arr, None
    chars = pc.fill_null(pc.utf8_length(arr), 0).to_numpy(zero_copy_only=False)
    long = np.flatnonzero(chars > limit)
    if len(long) == 0:
        return arr, None
    errors = np.full(len(arr), None, dtype=object)
    texts = arr.take(pa.array(long)).to_pylist()
    for p, text in zip(long, texts, strict=True):
        errors[p] = join(f"{quote_cell(text.strip())} 长 {int(chars[p]):,} 个字符：一个单元格最多 {limit:,} 个字符",
                         f"{quote_cell(text.strip())} is {int(chars[p]):,} characters long: "
                         f"a cell holds at most {limit:,}")
    cut = pa.array([quote_cell(t.strip())[1:-1] for t in texts], arr.type)
    mask = np.zeros(len(arr), dtype=bool)
    mask[long] = True
    arr = pc.replace_with_mask(arr.combine_chunks(), pa.array(mask),
                               cut)
    return pa.chunked_array([arr]), errors


def merge_errors(first: np.ndarray | None, then: np.ndarray | None) -> np.ndarray | None:
    """Per-cell errors: those of `first` where it has one, else those of `then`."""
    if first is None:
        return then
    if then is None:
        return first
    return np.where(pd.isna(first), then, first)


def non_ascii_digits(text: str) -> str:
    """The decimal digits of `text` (after NFKC, which makes full-width digits ASCII) that are not 0-9:
    Arabic-Indic, Devanagari, ... digits, which neither numbers nor dates accept."""
    return "".join(c for c in unicodedata.normalize("NFKC", text) if c.isdecimal() and not c.isascii())
