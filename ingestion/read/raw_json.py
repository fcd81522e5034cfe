"""The raw JSON of data rows (header as written -> cell text as received), built column-wise with arrow
kernels, for all rows or only for those that need it (the quarantined ones)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion import normalise as nz


def _json_escape(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if not nz.numpy_bools(pc.fill_null(pc.match_substring_regex(col, r'["\\\x00-\x1f]'), False)).any():
        return col
    if nz.numpy_bools(pc.fill_null(pc.match_substring_regex(col, r"[\x00-\x08\x0b\x0c\x0e-\x1f]"), False)).any():
        values = [json.dumps(v, ensure_ascii=False)[1:-1] for v in col.to_pylist()]
        return pa.chunked_array([pa.array(values, type=pa.string())])
    for old, new in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        col = pc.replace_substring(col, old, new)
    return col


@dataclass
class RawSource:
    """What the raw JSON of the data rows is built from: cell text as received, one column per key."""

    cells: list[pa.ChunkedArray]
    keys: list[str]
    plain: bool  # no cell needs JSON escaping
    extras: dict[int, list[str]]  # frame position -> non-empty cells beyond the header

    def build(self, positions: np.ndarray | None = None) -> pa.ChunkedArray:
        """JSON objects (header as written -> cell text) for all rows, or for the given frame positions."""
        cells, extras = self.cells, self.extras
        if positions is not None:
            index = pa.array(positions, type=pa.int64())
            cells = [c.take(index) for c in cells]
            where = {int(p): j for j, p in enumerate(positions)}
            extras = {where[p]: v for p, v in extras.items() if p in where}
        n = len(cells[0]) if cells else (len(positions) if positions is not None else 0)
        if n == 0 or not cells:
            return pa.chunked_array([pa.array(["{}"] * n, type=pa.string())])
        literals = [("{" if j == 0 else '",') + json.dumps(key, ensure_ascii=False) + ':"'
                    for j, key in enumerate(self.keys)] + ['"}']
        escaped = [c if self.plain else _json_escape(c) for c in cells]
        # Joined batch by batch: one join over a million rows reallocates its output many times.
        chunks = []
        for batch in pa.table(escaped, names=[f"c{j}" for j in range(len(escaped))]).to_batches():
            parts: list[Any] = []
            for j in range(len(escaped)):
                parts += [literals[j], batch.column(j)]
            chunks.append(pc.binary_join_element_wise(*parts, literals[-1], ""))
        out = pa.chunked_array(chunks, type=pa.string())
        if extras:
            flat = out.combine_chunks()
            mask = np.zeros(n, dtype=bool)
            fixed = []
            for pos in sorted(extras):
                obj = json.loads(flat[pos].as_py())
                for k, v in enumerate(extras[pos]):
                    obj[f"extra cell {k + 1}"] = v
                mask[pos] = True
                fixed.append(json.dumps(obj, ensure_ascii=False))
            out = pa.chunked_array([pc.replace_with_mask(flat, pa.array(mask), pa.array(fixed, type=pa.string()))])
        return out
