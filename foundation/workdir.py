"""The run's work folder: what one stage hands to the next (manifests as JSON, rows as Arrow IPC files).

Airflow tasks pass only small manifests through XCom; rows stay on disk under
`<PREFAB_DATA_DIR>/work/<run key>/`, removed when the run has loaded them. A run killed before its load
leaves its folder behind for a retry of the same run; `prune` removes such folders once they are older than
`PREFAB_WORK_RETENTION_DAYS` (never the current run's).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather

from foundation.config import Settings


def write_json_file(path: Path, value: Any, indent: int | None = None) -> None:
    """`value` as JSON at `path`, whole or not at all (written beside it, then renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, default=str, indent=indent), encoding="utf-8")
    tmp.replace(path)


def read_json_file(path: Path, default: Any = None) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def run_key(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)[:120]


class WorkDir:
    def __init__(self, settings: Settings, run_id: str):
        self.path = settings.data_dir / "work" / run_key(run_id)

    def _p(self, name: str) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path / name

    def write_json(self, name: str, value: Any) -> None:
        write_json_file(self._p(name), value)

    def read_json(self, name: str, default: Any = None) -> Any:
        return read_json_file(self.path / name, default)

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


def _last_touched(path: Path) -> float:
    """The latest modification time of a run folder or anything directly in it."""
    times = [path.stat().st_mtime]
    for child in path.iterdir():
        with contextlib.suppress(FileNotFoundError):  # removed meanwhile
            times.append(child.stat().st_mtime)
    return max(times)


def prune(settings: Settings, current_run_id: str, now: float | None = None) -> list[str]:
    """Remove the work folders of other runs untouched for `settings.work_retention_days`; returns their
    names. The current run's folder is kept whatever its age (a cleared task of an old run reuses it)."""
    root = settings.data_dir / "work"
    if not root.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - settings.work_retention_days * 86400
    keep = run_key(current_run_id)
    removed = []
    for folder in sorted(root.iterdir()):
        if folder.name == keep or not folder.is_dir() or folder.is_symlink():
            continue
        try:
            stale = _last_touched(folder) < cutoff
        except FileNotFoundError:
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed
