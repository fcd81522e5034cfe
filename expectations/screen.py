"""The row rules evaluated with Arrow kernels: a pre-screen that tells, per rule, which rows of a batch fail.

Great Expectations is the validator of record: whenever the screen finds a failing row in a batch, the batch is
validated by GX, whose result (and Data Docs page) the stewards see, and the two must agree. A batch the screen
finds clean is not handed to GX: on a million rows GX costs about as much as reading the file, and it would
only confirm that nothing fails. `tests/expectations/test_screen.py` holds the screen to GX's verdicts, rule by rule, on
generated batches full of edge cases (nulls, bounds, duplicates, conditions).

Each expectation class the rules use is interpreted as GX's pandas engine evaluates it: a column map
expectation ignores rows whose value is missing, `ignore_row_if="either_value_is_missing"` ignores a pair with
a missing side, a row condition restricts the rule to the rows where it holds, and compound uniqueness treats
missing values as equal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from expectations.rules import RowRule

Columns = Callable[[str], pa.Array]  # a column of the batch by name (context columns included)

_COMPARE = {">": pc.greater, ">=": pc.greater_equal, "==": pc.equal}


def failing(rule: RowRule, column: Columns, n: int) -> np.ndarray:
    """Boolean mask of the `n` rows of a batch that fail `rule`."""
    domain = np.ones(n, dtype=bool)
    if rule.when is not None:
        cond = _COMPARE[rule.when.operator](column(rule.when.column), rule.when.value)
        domain = _true(cond)
    return domain & _EXPECTATIONS[rule.expectation](rule.kwargs, column, n)


def _true(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow result as numpy, null counting as false (as a pandas comparison with NaN)."""
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False).astype(bool)


def _present(values: pa.Array) -> np.ndarray:
    return _true(pc.invert(pc.is_null(values, nan_is_null=True)))


def _not_null(kw: dict, column: Columns, n: int) -> np.ndarray:
    return ~_present(column(kw["column"]))


def _numeric_zero(values: pa.Array) -> pa.Array:
    """Floats with -0.0 as 0.0: Arrow's set lookups and dictionaries hash the bits, GX (pandas) compares
    numbers, for which -0.0 == 0.0."""
    return pc.add(values, pa.scalar(0.0, values.type)) if pa.types.is_floating(values.type) else values


def _in_set(kw: dict, column: Columns, n: int) -> np.ndarray:
    values = _numeric_zero(column(kw["column"]))
    allowed = _numeric_zero(pa.array(kw["value_set"]).cast(values.type))
    return _present(values) & ~_true(pc.is_in(values, value_set=allowed))


def _between(kw: dict, column: Columns, n: int) -> np.ndarray:
    values = column(kw["column"])
    ok = np.ones(n, dtype=bool)
    if kw.get("min_value") is not None:
        op = pc.greater if kw.get("strict_min") else pc.greater_equal
        ok &= _true(op(values, kw["min_value"]))
    if kw.get("max_value") is not None:
        op = pc.less if kw.get("strict_max") else pc.less_equal
        ok &= _true(op(values, kw["max_value"]))
    return _present(values) & ~ok


def _pair(kw: dict, column: Columns) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """(A, B, rows where the rule applies): both given, as ignore_row_if='either_value_is_missing' asks."""
    assert kw.get("ignore_row_if") == "either_value_is_missing", kw
    a, b = column(kw["column_A"]), column(kw["column_B"])
    if a.type != b.type:  # e.g. large_string against string
        a, b = pc.cast(a, pa.string()), pc.cast(b, pa.string())
    return a, b, _present(a) & _present(b)


def _pair_equal(kw: dict, column: Columns, n: int) -> np.ndarray:
    a, b, both = _pair(kw, column)
    return both & ~_true(pc.equal(a, b))


def _a_greater(kw: dict, column: Columns, n: int) -> np.ndarray:
    a, b, both = _pair(kw, column)
    op = pc.greater_equal if kw.get("or_equal") else pc.greater
    return both & ~_true(op(a, b))


def _codes(values: pa.Array) -> tuple[np.ndarray, int]:
    """(a code per row, missing values sharing one code; the number of codes)."""
    if pa.types.is_floating(values.type):
        values = pc.if_else(pc.is_nan(values), pa.scalar(None, values.type), _numeric_zero(values))
    encoded = values.dictionary_encode()
    size = len(encoded.dictionary)
    return pc.fill_null(encoded.indices, size).to_numpy(zero_copy_only=False).astype(np.int64), size + 1


def _compound_unique(kw: dict, column: Columns, n: int) -> np.ndarray:
    if n == 0:
        return np.zeros(0, dtype=bool)
    combined, _ = _codes(column(kw["column_list"][0]))
    for name in kw["column_list"][1:]:
        codes, size = _codes(column(name))
        _, combined = np.unique(combined * size + codes, return_inverse=True)
    return np.bincount(combined)[combined] > 1


_EXPECTATIONS: dict[str, Callable[[dict, Columns, int], np.ndarray]] = {
    "ExpectColumnValuesToNotBeNull": _not_null,
    "ExpectColumnValuesToBeInSet": _in_set,
    "ExpectColumnValuesToBeBetween": _between,
    "ExpectColumnPairValuesToBeEqual": _pair_equal,
    "ExpectColumnPairValuesAToBeGreaterThanB": _a_greater,
    "ExpectCompoundColumnsToBeUnique": _compound_unique,
}
