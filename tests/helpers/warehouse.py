"""Reading a test's warehouse: the rows of one query on a read-only connection, closed at once (a test that
kept it open would block the next stage's writer)."""

from __future__ import annotations

import duckdb


def warehouse_rows(settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
