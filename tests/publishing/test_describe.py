"""The published tables' comments come from the dbt docs YAML: every published table and column has one, and
the statements `publishing.describe` writes run as they are in DuckDB (in the storage format the file is
published in) and in PostgreSQL, where the comments read back equal to the docs, quotes and Chinese included.
Fast: no dbt build (the published file's comments, read by the 1.5 CLI, are in test_client_compatibility)."""

from __future__ import annotations

import os
import uuid

import duckdb
import pytest
import yaml

from foundation.config import DBT_PROJECT_DIR
from foundation.schema import ensure_schema
from publishing.describe import comment_statements, table_docs
from publishing.publish import PUBLISHED_TABLES, STORAGE_VERSION

PG_URL = os.environ.get("PREFAB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _yaml_docs() -> dict[str, dict]:
    """Each published table's description and column descriptions, read here from the YAML files directly."""
    out: dict[str, dict] = {}
    for path in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) or {}
        for m in doc.get("models") or []:
            out[m["name"]] = m
        for src in doc.get("sources") or []:
            for t in src.get("tables") or []:
                if (src["name"], t["name"]) == ("dq", "publication_log"):
                    out["publication"] = t
    return out


def _documented_tables(con, schema: str) -> None:
    """Each published table in `schema`, with the columns its docs list (all varchar: comments need no data)."""
    for table, doc in table_docs(PUBLISHED_TABLES).items():
        con.execute(f"create table {schema}.{table} ({', '.join(f'{c} varchar' for c in doc.columns)})")


def test_every_published_table_and_column_has_its_description_from_the_dbt_docs():
    yml = _yaml_docs()
    docs = table_docs(PUBLISHED_TABLES)
    assert set(docs) == set(PUBLISHED_TABLES)
    for table, doc in docs.items():
        assert doc.description == " ".join(yml[table]["description"].split()), table
        assert list(doc.columns) == [c["name"] for c in yml[table]["columns"]], table
        assert all(doc.columns.values()), table
    # `publication` is a copy of dq.publication_log: its docs (the dbt source) list exactly that table's columns.
    con = duckdb.connect()
    try:
        ensure_schema(con)
        have = [r[0] for r in con.execute("select column_name from information_schema.columns where "
                                          "table_schema = 'dq' and table_name = 'publication_log' "
                                          "order by ordinal_position").fetchall()]
    finally:
        con.close()
    assert list(docs["publication"].columns) == have


def test_a_table_or_column_without_a_description_is_refused(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "m.yml").write_text(yaml.safe_dump({"version": 2, "models": [
        {"name": "fct_a", "description": "A.", "columns": [{"name": "x", "description": "X."}, {"name": "y"}]},
        {"name": "fct_b", "columns": [{"name": "x", "description": "X."}]},
    ]}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"fct_a: columns without a description in the dbt docs: \['y'\]"):
        table_docs(["fct_a"], tmp_path)
    with pytest.raises(ValueError, match="fct_b: no description"):
        table_docs(["fct_b"], tmp_path)
    with pytest.raises(ValueError, match="fct_c: no description"):
        table_docs(["fct_c"], tmp_path)


def test_text_is_quoted_not_interpreted(tmp_path):
    """Quotes, a backslash, Chinese and a folded multi-line description arrive as written (one line)."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "m.yml").write_text(
        "version: 2\nmodels:\n  - name: fct_a\n    description: >\n      单体 it's\n      a \\n 'x'; --\n"
        "    columns:\n      - {name: x, description: \"O'Neil \\\\ 100 %\"}\n", encoding="utf-8")
    statements = comment_statements("main", ["fct_a"], tmp_path)
    con = duckdb.connect()
    try:
        con.execute("create table fct_a (x varchar)")
        for st in statements:
            con.execute(st)
        assert con.execute("select comment from duckdb_tables() where table_name = 'fct_a'").fetchone()[0] \
            == "单体 it's a \\n 'x'; --"
        assert con.execute("select comment from duckdb_columns() where table_name = 'fct_a'").fetchone()[0] \
            == "O'Neil \\ 100 %"
    finally:
        con.close()


def test_comments_are_kept_in_the_published_storage_format(tmp_path):
    """Written into a file attached with the publication's STORAGE_VERSION (as publish does), read back after
    the file is closed and opened again."""
    path = tmp_path / "f.duckdb"
    con = duckdb.connect()
    try:
        con.execute(f"attach '{path}' as f (storage_version '{STORAGE_VERSION}')")
        _documented_tables(con, "f.main")
        for st in comment_statements("f.main", PUBLISHED_TABLES):
            con.execute(st)
        con.execute("checkpoint f")
        con.execute("detach f")
    finally:
        con.close()
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = dict(con.execute("select table_name, comment from duckdb_tables() "
                                  "where database_name = current_database()").fetchall())
        columns = {(t, c): text for t, c, text in con.execute(
            "select table_name, column_name, comment from duckdb_columns() "
            "where database_name = current_database()").fetchall()}
    finally:
        con.close()
    docs = table_docs(PUBLISHED_TABLES)
    assert tables == {t: d.description for t, d in docs.items()}
    assert columns == {(t, c): text for t, d in docs.items() for c, text in d.columns.items()}


def test_only_the_columns_a_table_has_get_a_statement():
    docs = table_docs(["fct_building"])
    some = list(docs["fct_building"].columns)[:3]
    statements = comment_statements("main", ["fct_building"], columns={"fct_building": some})
    assert len(statements) == 1 + len(some)
    assert statements[0].startswith('COMMENT ON TABLE "main"."fct_building" IS ')
    with pytest.raises(ValueError, match="TABLE or VIEW"):
        comment_statements("main", ["fct_building"], kind="INDEX")


def test_the_statements_run_in_postgresql_on_tables_and_views():
    psycopg = pytest.importorskip("psycopg")
    try:
        pg = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        pytest.skip(f"start PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres) to run this test: {e}")
    tables_schema, views_schema = f"describe_t_{uuid.uuid4().hex[:8]}", f"describe_v_{uuid.uuid4().hex[:8]}"
    docs = table_docs(PUBLISHED_TABLES)
    try:
        pg.execute(f"create schema {tables_schema}")
        pg.execute(f"create schema {views_schema}")
        _documented_tables(pg, tables_schema)
        for table in docs:
            pg.execute(f"create view {views_schema}.{table} as select * from {tables_schema}.{table}")
        for st in comment_statements(tables_schema, PUBLISHED_TABLES):
            pg.execute(st)
        for st in comment_statements(views_schema, PUBLISHED_TABLES, kind="VIEW"):
            pg.execute(st)
        for schema in (tables_schema, views_schema):
            got = dict(pg.execute("select c.relname, obj_description(c.oid, 'pg_class') from pg_class c "
                                  "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s",
                                  [schema]).fetchall())
            assert got == {t: d.description for t, d in docs.items()}, schema
            got = {(t, c): text for t, c, text in pg.execute(
                "select c.relname, a.attname, col_description(c.oid, a.attnum) from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid "
                "where n.nspname = %s and a.attnum > 0 and not a.attisdropped", [schema]).fetchall()}
            assert got == {(t, c): text for t, d in docs.items() for c, text in d.columns.items()}, schema
    finally:
        pg.execute(f"drop schema if exists {views_schema} cascade")
        pg.execute(f"drop schema if exists {tables_schema} cascade")
        pg.close()
