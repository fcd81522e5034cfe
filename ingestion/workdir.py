"""The run's work folder: what one stage hands to the next (manifests as JSON, rows as Arrow IPC files).

Airflow tasks pass only small manifests through XCom; rows stay on disk under
`<PREFAB_DATA_DIR>/work/<run key>/`, removed when the run has loaded them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather

from warehouse.config import Settings


def run_key(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)[:120]


class WorkDir:
    def __init__(self, settings: Settings, run_id: str):
        self.path = settings.data_dir / "work" / run_key(run_id)

    def _p(self, name: str) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path / name

    def write_json(self, name: str, value: Any) -> None:
        tmp = self._p(name + ".tmp")
        tmp.write_text(json.dumps(value, ensure_ascii=False, default=str), encoding="utf-8")
        tmp.replace(self._p(name))

    def read_json(self, name: str, default: Any = None) -> Any:
        p = self.path / name
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else default

    def write_table(self, name: str, table: pa.Table) -> None:
        """Rows as an uncompressed Arrow IPC file: the next stage maps it into memory without parsing."""
        tmp = self._p(name + ".tmp")
        feather.write_feather(table, tmp, compression="uncompressed")
        tmp.replace(self._p(name))

    def read_table(self, name: str) -> pa.Table:
        return feather.read_table(self.path / name, memory_map=True)

    def names(self, prefix: str) -> list[str]:
        """The files written under names starting with `prefix`, in name order."""
        if not self.path.exists():
            return []
        return sorted(p.name for p in self.path.iterdir() if p.name.startswith(prefix) and not p.name.endswith(".tmp"))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
