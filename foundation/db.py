"""Connections to the pipeline's own database, `warehouse.duckdb`.

DuckDB allows one writing process at a time; stages open, work and close. Extensions are never
auto-installed (nothing can be downloaded here, and each failed attempt costs seconds). Memory is capped
at `Settings.duckdb_memory_limit` (DuckDB spills to disk beyond it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from foundation.config import Settings
from foundation.schema import ensure_schema

DUCKDB_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


@contextmanager
def connect_warehouse(settings: Settings, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.warehouse_path
    if read_only and not path.exists():
        read_only = False  # first run: create it (with the schema) so readers find the tables
    con = duckdb.connect(str(path), read_only=read_only,
                         config=DUCKDB_CONFIG | {"memory_limit": settings.duckdb_memory_limit})
    try:
        if not read_only:
            ensure_schema(con)
        yield con
    finally:
        con.close()
