"""The published tables describe themselves: each table's and column's description as a database comment.

The descriptions have one source, the dbt project's docs YAML: the reporting models' (`models/marts/*.yml`,
the same text `dbt docs` shows) and, for `publication`, the `dq.publication_log` source it is copied from
(`models/staging/_raw__sources.yml`). `comment_statements` turns them into `COMMENT ON TABLE` / `COMMENT ON
COLUMN` statements for the tables of one schema, in the SQL that DuckDB and PostgreSQL both accept (quoted
identifiers, string literals with quotes doubled, no backslash escapes: standard_conforming_strings is on in
every supported PostgreSQL). The DuckDB publication runs them on the file it builds (`publishing.publish`);
the PostgreSQL publication runs them on its own schema.

Measured (DuckDB 2.0 writing, December 2026): the comments survive a file written in storage version
'v0.10.0' (publish.STORAGE_VERSION) and the DuckDB 1.5.6 CLI, 0.10.3, 1.0.0 and 1.1.3 read them back
(`duckdb_tables().comment`, `duckdb_columns().comment`); DuckDB 0.10.0-0.10.2 cannot open the file at all,
with or without comments (a serialization error), so comments cost no client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from foundation.config import DBT_PROJECT_DIR

# libyaml's loader where PyYAML has it: the pure-Python one took about 2 s for the project's YAML here.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# The published table that is not a dbt model, and the dbt source that documents it.
SOURCE_OF_TABLE = {"publication": ("dq", "publication_log")}


@dataclass(frozen=True)
class TableDoc:
    description: str
    columns: dict[str, str]  # column name -> description, in the YAML's order


def _text(value: str | None) -> str:
    """A YAML description as one line: folded blocks end in a newline, literal ones may hold several."""
    return " ".join((value or "").split())


def _yaml_files(project_dir: Path) -> list[Path]:
    return sorted(p for ext in ("*.yml", "*.yaml") for p in (project_dir / "models").rglob(ext))


def documented(project_dir: Path = DBT_PROJECT_DIR) -> tuple[dict[str, TableDoc], dict[tuple[str, str], TableDoc]]:
    """Every documented model (by name) and source table (by (source, table)) of the dbt project."""
    models: dict[str, TableDoc] = {}
    sources: dict[tuple[str, str], TableDoc] = {}
    for path in _yaml_files(project_dir):
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
        for model in doc.get("models") or []:
            models[model["name"]] = TableDoc(_text(model.get("description")), {
                c["name"]: _text(c.get("description")) for c in model.get("columns") or []})
        for source in doc.get("sources") or []:
            for table in source.get("tables") or []:
                sources[(source["name"], table["name"])] = TableDoc(_text(table.get("description")), {
                    c["name"]: _text(c.get("description")) for c in table.get("columns") or []})
    return models, sources


def table_docs(tables: Iterable[str], project_dir: Path = DBT_PROJECT_DIR) -> dict[str, TableDoc]:
    """The docs of each published table; a table or column without a description is an error (the reporting
    contract has every one documented, and the tests hold the docs to the built tables)."""
    models, sources = documented(project_dir)
    out: dict[str, TableDoc] = {}
    for table in tables:
        doc = sources.get(SOURCE_OF_TABLE[table]) if table in SOURCE_OF_TABLE else models.get(table)
        if doc is None or not doc.description:
            raise ValueError(f"{table}: no description in the dbt docs YAML of {project_dir}")
        undocumented = [c for c, d in doc.columns.items() if not d]
        if undocumented:
            raise ValueError(f"{table}: columns without a description in the dbt docs: {undocumented}")
        out[table] = doc
    return out


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def comment_statements(schema: str, tables: Iterable[str], project_dir: Path = DBT_PROJECT_DIR,
                       kind: str = "TABLE", columns: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """`COMMENT ON <kind> schema.table IS '...'` and `COMMENT ON COLUMN schema.table.column IS '...'` for each
    of `tables` and each column its docs list, for DuckDB and PostgreSQL alike.

    `schema` may be qualified with its catalog ("candidate_file.main": a DuckDB file attached under that name);
    each part is quoted. `kind` is "VIEW" for views in PostgreSQL, which refuses COMMENT ON TABLE on a view
    (COMMENT ON COLUMN works on both there; DuckDB takes TABLE or VIEW as the relation is). `columns`, when
    given, names the columns each table has: documented columns a table lacks get no statement (a COMMENT on a
    missing column is an error in both databases). The reporting models' contracts keep their documented and
    built columns equal, so for them this drops nothing."""
    if kind not in ("TABLE", "VIEW"):
        raise ValueError(f"kind must be TABLE or VIEW, not {kind!r}")
    prefix = ".".join(_identifier(part) for part in schema.split("."))
    present = None if columns is None else {t: set(cs) for t, cs in columns.items()}
    statements = []
    for table, doc in table_docs(tables, project_dir).items():
        relation = f"{prefix}.{_identifier(table)}"
        statements.append(f"COMMENT ON {kind} {relation} IS {_literal(doc.description)}")
        statements += [f"COMMENT ON COLUMN {relation}.{_identifier(column)} IS {_literal(text)}"
                       for column, text in doc.columns.items()
                       if present is None or column in present.get(table, ())]
    return statements
