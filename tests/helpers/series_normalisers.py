"""The normalisers on pandas Series, for the tests: each cell normaliser of `ingestion.normalise` (arrow text
in) run on a Series of text or of the Python values an XLSX sheet holds (rendered as `cell_text` renders
them), returning `(values, errors)` as two Series with the input's index. The reader does not use this
facade: it hands arrow text to `ingestion.normalise` directly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from foundation import template
from foundation.template import Field
from ingestion import normalise as nz
from ingestion.read.xlsx_file import cell_text


def to_arrow_text(values: pd.Series | Sequence[Any]) -> pa.ChunkedArray:
    """Cells as an arrow string array (nulls for None/NaN), rendering non-text values with `cell_text`."""
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    dtype = s.dtype
    if isinstance(dtype, pd.StringDtype | pd.ArrowDtype):
        arr = s.array.__arrow_array__()
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
    if dtype is np.dtype(object) and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
        return pa.chunked_array([pa.array(s.to_numpy(), type=pa.string(), from_pandas=True)])
    texts = [cell_text(v) for v in s.astype(object).to_numpy()]
    return pa.chunked_array([pa.array(texts, type=pa.string())])


def _series_errors(errors: np.ndarray | None, n: int, index: pd.Index) -> pd.Series:
    if errors is None:
        errors = np.full(n, None, dtype=object)
    return pd.Series(errors, index=index, dtype=object)


def _index_of(values: Any, n: int) -> pd.Index:
    return values.index if isinstance(values, pd.Series) else pd.RangeIndex(n)


def _public(values: pd.Series | Sequence[Any], core: nz.Core, *args: Any) -> tuple[pd.Series, pd.Series]:
    """Run a core normaliser (arrow text in, (Series on a RangeIndex, errors or None) out) on a Series,
    keeping its index."""
    arr = to_arrow_text(values)
    out, errors = core(arr, *args)
    index = _index_of(values, len(arr))
    return out.set_axis(index), _series_errors(errors, len(arr), index)


def normalise_number(values: pd.Series, *, percent: bool = False) -> tuple[pd.Series, pd.Series]:
    return _public(values, nz.number_values, percent)


def normalise_area(values: pd.Series, factor: float | None = None) -> tuple[pd.Series, pd.Series]:
    return _public(values, nz.area_values, factor)


def normalise_date(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return _public(values, nz.date_values)


def normalise_period(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return _public(values, nz.period_values)


def normalise_year(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return _public(values, nz.year_values)


def normalise_code(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return _public(values, nz.code_values)


def normalise_enum(values: pd.Series, enum: str) -> tuple[pd.Series, pd.Series]:
    return _public(values, nz.enum_values, enum)


def normalise_bool(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    return _public(values, nz.bool_values)


def normalise_text(values: pd.Series, *, missing_words: bool = True) -> tuple[pd.Series, pd.Series]:
    return _public(values, nz.text_values, missing_words)


def normalise_field(f: Field, values: pd.Series, unit_factor: float | None = None
                    ) -> tuple[pd.Series, pd.Series]:
    """`nz.normalise_cells` (the dispatch on the field's type) on a Series."""
    return _public(values, lambda cells: nz.normalise_cells(f, cells, unit_factor))


def value_dtypes(kind: str) -> dict[str, Any]:
    """Field name -> dtype of the normalised column."""
    return {f.name: nz.empty_column(f).dtype for f in template.fields(kind)}
