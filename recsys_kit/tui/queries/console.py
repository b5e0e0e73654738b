"""The SQL console's query: read-only twice over (statement check and read-only file)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

#: Statement kinds the console runs; everything else would write (or attach, load, copy out).
READ_KINDS = frozenset({
    duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN, duckdb.StatementType.PRAGMA,
    duckdb.StatementType.CALL, duckdb.StatementType.SET, duckdb.StatementType.VARIABLE_SET,
})

MAX_ROWS = 1000


class WriteRefused(Exception):
    """The query would change something; the console is read-only."""


@dataclass(frozen=True)
class SqlResult:
    """Columns and rows of the last statement; ``truncated`` when more than ``MAX_ROWS``."""

    columns: list[str]
    rows: list[tuple]
    truncated: bool


def _kind(statement: duckdb.Statement) -> str:
    return str(statement.type).rsplit(".", 1)[-1].replace("_", " ")


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """Raise :class:`WriteRefused` when any statement in ``sql`` is not a read; else return
    how many statements there are."""
    statements = con.extract_statements(sql)
    for statement in statements:
        if statement.type not in READ_KINDS:
            raise WriteRefused(
                f"Refused: {_kind(statement)} statements are not allowed. The SQL console is "
                "read-only; the results file is written only by `recsys-kit run`.")
    return len(statements)


def run_sql(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int = MAX_ROWS) -> SqlResult:
    """Run every statement in ``sql`` (after :func:`check_read_only`); return the last result."""
    if not check_read_only(con, sql):
        return SqlResult([], [], False)
    try:
        cur = con.execute(sql)
    except duckdb.InvalidInputException as exc:
        if "read-only" in str(exc):
            raise WriteRefused(f"Refused: the results file is opened read-only ({exc}).") from exc
        raise
    if cur is None or cur.description is None:
        return SqlResult([], [], False)
    rows = cur.fetchmany(max_rows + 1)
    return SqlResult([d[0] for d in cur.description], rows[:max_rows], len(rows) > max_rows)
