"""The SQL that lives in Python strings: every multi-line string constant of the product packages that starts
with a SQL statement parses (DuckDB's own parser, nothing is executed) and writes its keywords in lowercase, as
the dbt models do (sqlfluff checks those). f-strings are left out (their SQL exists only once formatted)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb
import pytest

from foundation.config import PROJECT_ROOT

PACKAGES = ("foundation", "ingestion", "expectations", "publishing", "pipeline", "steward", "demo", "sample_data")
STATEMENT = re.compile(r"\s*(select|with|insert|update|delete|create|alter|drop|attach|copy)\s", re.IGNORECASE)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def sql_strings() -> list[tuple[str, str]]:
    """(where, sql) of every multi-line plain string constant that starts with a SQL statement."""
    found = []
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            skip = _docstrings(tree) | {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                        and "\n" in node.value.strip() and STATEMENT.match(node.value)
                        and "{" not in node.value):  # a str.format template: SQL only once formatted
                    found.append((f"{Path(path).relative_to(PROJECT_ROOT)}:{node.lineno}", node.value))
    return found


SQL = sql_strings()


def test_there_are_sql_strings_to_check():
    assert len(SQL) >= 10, SQL


@pytest.mark.parametrize(("where", "sql"), SQL, ids=[w for w, _ in SQL])
def test_sql_string_parses_and_is_lowercase(where, sql):
    assert duckdb.extract_statements(sql), f"{where}: no statement"
    words = (re.match(r"[A-Za-z_]*", sql[position:]).group() for position, kind in duckdb.tokenize(sql)
             if kind == duckdb.token_type.keyword)  # `::` in `x::timestamp` is a keyword token too: no word
    upper = sorted({word for word in words if word and word != word.lower()})
    assert upper == [], f"{where}: keywords in uppercase: {', '.join(upper)}"
