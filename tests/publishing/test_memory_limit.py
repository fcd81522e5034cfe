"""The DuckDB memory cap (`PREFAB_DUCKDB_MEMORY_LIMIT`) reaches every writer of the warehouse: the load stage's
connection and dbt's."""

from __future__ import annotations

import json

import duckdb

from foundation.config import settings
from foundation.db import connect_warehouse
from publishing.build import run_dbt


def _bytes(limit: str) -> int:
    con = duckdb.connect()
    try:
        con.execute(f"set memory_limit = '{limit}'")
        return con.execute("select current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()


def test_warehouse_connection_is_capped(data_env, monkeypatch):
    monkeypatch.setenv("PREFAB_DUCKDB_MEMORY_LIMIT", "300MB")
    with connect_warehouse(settings()) as con:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == _bytes("300MB")


def test_dbt_connection_is_capped(data_env, monkeypatch):
    """dbt's profile takes the cap from the settings: a query through dbt's own connection sees it."""
    monkeypatch.setenv("PREFAB_DUCKDB_MEMORY_LIMIT", "300MB")
    proc = run_dbt(settings(), "show", "--inline", "select current_setting('memory_limit') as m", "--output", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = json.loads(proc.stdout[proc.stdout.index("{"):])["show"][0]["m"]
    assert shown == _bytes("300MB") != _bytes("2GB")
