"""SQL lives in the warehouse layer: every other module asks it by a named function, so a
reader finds each query in one place. The fake Papra (``testing``) has no warehouse and stays
out of this."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "papra_pipeline"
EXEMPT = {"warehouse", "testing"}
# What runs SQL on a DuckDB connection (``execute()`` with no argument is something else).
SQL_METHODS = {"execute", "executemany", "sql"}
# A statement in a string: upper-case keywords as the code writes them.
SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(?:CREATE|ALTER|DROP)\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW|INDEX)\b"
)


def modules_outside_the_warehouse() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0].removesuffix(".py") not in EXEMPT
    )


def sql_found(source: str) -> list[str]:
    """What in ``source`` runs or holds SQL, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_METHODS
            and (node.args or node.keywords)
        ):
            found.append(f"line {node.lineno}: .{node.func.attr}(...)")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                names = [alias.name for alias in node.names]
            if any(name.split(".")[0] == "duckdb" for name in names):
                found.append(f"line {node.lineno}: imports duckdb")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and SQL.search(node.value)
        ):
            found.append(f"line {node.lineno}: SQL {node.value.strip()[:40]!r}")
    return found


@pytest.mark.parametrize(
    "module", modules_outside_the_warehouse(), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_sql_outside_the_warehouse(module):
    assert sql_found(module.read_text()) == [], (
        f"{module.relative_to(PACKAGE)}: give the query a named function in "
        "papra_pipeline/warehouse and call it from here"
    )


@pytest.mark.parametrize(
    "source",
    [
        'con.execute("SELECT 1")',
        "con.sql(query)",
        "rows = cursor.executemany(statement, batch)",
        "import duckdb",
        "from duckdb import DuckDBPyConnection",
        'QUERY = """SELECT id\n FROM documents"""',
        'f"SELECT count(*) FROM {table}"',
        'SQL = "INSERT INTO tags VALUES (?)"',
        '"DELETE FROM document_tags"',
    ],
)
def test_the_rule_sees_sql(source):
    assert sql_found(source)


@pytest.mark.parametrize(
    "source",
    ["run.execute()", 'print("Select the organizations to sync")', "registration.register(c)"],
)
def test_the_rule_leaves_what_is_not_sql(source):
    assert sql_found(source) == []
