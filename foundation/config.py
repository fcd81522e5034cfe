"""Configuration in one place: every path and tunable of the pipeline is read here, from the environment.

`PREFAB_LANDING_DIR` (default `data/landing`) is where county submissions arrive; `PREFAB_DATA_DIR`
(default `data`) holds the pipeline's `warehouse.duckdb`, the published `reporting.duckdb` and the
archive of every file received. `PREFAB_MAX_FILE_BYTES` (default 200 MiB) is the largest file read;
`PREFAB_MAX_UNZIPPED_BYTES` (default 2 GiB) the most an XLSX workbook's parts may declare unpacked.
XLSX files are read in a worker process limited to `PREFAB_XLSX_READ_MEMORY_BYTES` of address space
(default 4 GiB) and `PREFAB_XLSX_READ_SECONDS` per file (default 300; see `ingestion.read.xlsx_worker`).
`PREFAB_WORK_RETENTION_DAYS` (default 7): how long a killed run's work folder is kept for a retry.
`PREFAB_REHASH_LANDING` (default off): hash every landed file each run, not only those whose path, size or
modification time the ledger has not seen (see `ingestion.discover`).
`PREFAB_DUCKDB_MEMORY_LIMIT` (default 2GB) is the memory each DuckDB that writes the warehouse (the load
stage, dbt, publication) may use before it spills to disk.
`PREFAB_DBT_PROJECT_DIR` (default the repository's `dbt_project`) is the dbt
project that builds the warehouse; its seed `reporting_units.csv` is also the reference list ingestion checks
unit codes against (the benchmarks point it at a copy with a synthetic national list).

The steward web app (`make steward`, package `steward`) listens on 127.0.0.1, port `PREFAB_STEWARD_PORT`
(default 8765). Its users are in `PREFAB_STEWARD_USERS_FILE` (default `PREFAB_DATA_DIR/steward_users`;
lines `name:role:scrypt-hash`, written by `python -m steward add-user`) and its session cookies are signed
with `PREFAB_STEWARD_SECRET` (no default: the app refuses to start without it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
SUBMISSION_KINDS = ("buildings", "production_bases", "targets")
DATA_DOCS_SITE = Path("gx") / "uncommitted" / "data_docs" / "local_site"  # inside the GX project folder


def _path(var: str, default: str) -> Path:
    value = os.environ.get(var) or default
    path = Path(value)
    return path if path.is_absolute() else (PROJECT_ROOT / path)


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    data_dir: Path
    max_file_bytes: int
    max_unzipped_bytes: int = 2 << 30  # what an XLSX file's parts may declare unpacked, in all
    xlsx_read_memory_bytes: int = 4 << 30  # address space of the worker process that reads XLSX files
    xlsx_read_seconds: float = 300  # what reading one XLSX file may take
    work_retention_days: float = 7  # a killed run's work folder is kept this long for a retry
    timezone: str = "Asia/Shanghai"
    steward_host: str = "127.0.0.1"
    steward_port: int = 8765
    steward_users_file: Path | None = None
    steward_secret: str | None = None
    dbt_project_dir: Path = DBT_PROJECT_DIR
    duckdb_memory_limit: str = "2GB"  # DuckDB's memory_limit for the writers of the warehouse (it spills beyond)
    rehash_landing: bool = False  # hash every landed file, even one the ledger holds with its size and mtime

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
        return self.data_dir / "foundation.lock"

    @property
    def steward_users_path(self) -> Path:
        return self.steward_users_file or (self.data_dir / "steward_users")

    @property
    def gx_docs_dir(self) -> Path:
        """The Great Expectations Data Docs site (served by the steward app behind its sign-in)."""
        return self.gx_dir / DATA_DOCS_SITE


def settings() -> Settings:
    """The settings in force now (read on every call, so tests and `make demo` can redirect them)."""
    return Settings(
        landing_dir=_path("PREFAB_LANDING_DIR", "data/landing"),
        data_dir=_path("PREFAB_DATA_DIR", "data"),
        max_file_bytes=int(os.environ.get("PREFAB_MAX_FILE_BYTES", str(200 * 1024 * 1024))),
        steward_port=int(os.environ.get("PREFAB_STEWARD_PORT") or 8765),
        steward_users_file=_path("PREFAB_STEWARD_USERS_FILE", "") if os.environ.get("PREFAB_STEWARD_USERS_FILE")
        else None,
        steward_secret=os.environ.get("PREFAB_STEWARD_SECRET") or None,
        max_unzipped_bytes=int(os.environ.get("PREFAB_MAX_UNZIPPED_BYTES", str(2 << 30))),
        xlsx_read_memory_bytes=int(os.environ.get("PREFAB_XLSX_READ_MEMORY_BYTES", str(4 << 30))),
        xlsx_read_seconds=float(os.environ.get("PREFAB_XLSX_READ_SECONDS", "300")),
        work_retention_days=float(os.environ.get("PREFAB_WORK_RETENTION_DAYS", "7")),
        dbt_project_dir=_path("PREFAB_DBT_PROJECT_DIR", str(DBT_PROJECT_DIR)),
        duckdb_memory_limit=os.environ.get("PREFAB_DUCKDB_MEMORY_LIMIT") or "2GB",
        rehash_landing=os.environ.get("PREFAB_REHASH_LANDING", "").lower() in ("1", "true", "yes"),
    )
