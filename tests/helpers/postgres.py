"""The local PostgreSQL for the publication tests: a throwaway database and roles per test session (named with
the worker's pid, dropped after), and queries on it as any role."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

HOST, PORT, ADMIN = "127.0.0.1", 5432, "postgres"
START_HINT = ("PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres) is not running: start it with "
              "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`")


def url(dbname: str, user: str = ADMIN) -> str:
    return f"postgresql://{user}@{HOST}:{PORT}/{dbname}"


def admin() -> psycopg.Connection:
    return psycopg.connect(url("postgres"), autocommit=True, connect_timeout=3)


def require_postgres() -> None:
    """Skip the calling test (or fixture) when the local PostgreSQL is not there, saying what to start."""
    try:
        admin().close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"{START_HINT} ({str(exc).strip()[:200]})")


@contextmanager
def throwaway(label: str, roles: tuple[str, ...] = ()) -> Iterator[tuple[str, dict[str, str]]]:
    """A new database `prefab_test_<label>_<pid>` and role names `<role>_<pid>` (created by whoever needs them),
    dropped after: (database URL, role -> its session name)."""
    suffix = f"{label}_{os.getpid()}"
    dbname = f"prefab_test_{suffix}"
    names = {r: f"{r}_{suffix}" for r in roles}
    with admin() as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    try:
        yield url(dbname), names
    finally:
        with admin() as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dbname)))
            for name in names.values():
                conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


def rows(database_url: str, query: str, params: list | None = None) -> list[tuple]:
    """The rows of one query on a new autocommit connection, closed at once."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=3) as conn:
        return conn.execute(query, params).fetchall()


def execute(database_url: str, *statements: str | sql.Composable) -> None:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=3) as conn:
        for s in statements:
            conn.execute(s)


def schemas(database_url: str) -> list[str]:
    return [r[0] for r in rows(database_url, "select nspname from pg_namespace where nspname like 'reporting%' "
                                             "order by 1")]
