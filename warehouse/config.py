"""Configuration in one place: every path and tunable of the pipeline is read here, from the environment.

`PREFAB_LANDING_DIR` (default `data/landing`) is where county submissions arrive; `PREFAB_DATA_DIR`
(default `data`) holds the pipeline's `warehouse.duckdb`, the published `reporting.duckdb` and the
archive of every file received. `PREFAB_DBT_PROJECT_DIR` (default the repository's `dbt_project`) is the dbt
project that builds the warehouse; its seed `reporting_units.csv` is also the reference list ingestion checks
unit codes against (the benchmarks point it at a copy with a synthetic national list).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SUBMISSION_KINDS = ("buildings", "production_bases", "targets")


def _path(var: str, default: str) -> Path:
    value = os.environ.get(var) or default
    path = Path(value)
    return path if path.is_absolute() else (PROJECT_ROOT / path)


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    data_dir: Path
    max_file_bytes: int
    timezone: str = "Asia/Shanghai"
    dbt_project_dir: Path = DBT_PROJECT_DIR

    @property
    def reporting_units_path(self) -> Path:
        """The reference list of reporting units: the dbt project's seed."""
        return self.dbt_project_dir / "seeds" / "reporting_units.csv"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def reporting_path(self) -> Path:
        return self.data_dir / "reporting.duckdb"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def gx_dir(self) -> Path:
        """Great Expectations project folder: validation results and Data Docs."""
        return self.data_dir / "gx"

    @property
    def lock_path(self) -> Path:
        return self.data_dir / "warehouse.lock"


def settings() -> Settings:
    """The settings in force now (read on every call, so tests and `make demo` can redirect them)."""
    return Settings(
        landing_dir=_path("PREFAB_LANDING_DIR", "data/landing"),
        data_dir=_path("PREFAB_DATA_DIR", "data"),
        max_file_bytes=int(os.environ.get("PREFAB_MAX_FILE_BYTES", str(200 * 1024 * 1024))),
        dbt_project_dir=_path("PREFAB_DBT_PROJECT_DIR", str(DBT_PROJECT_DIR)),
    )
