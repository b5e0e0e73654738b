"""The read-only SQL surface over a results file: exactly one read-only statement, on a
connection that can neither write the file nor touch any other.

Every SQL surface (`recsys-kit sql`, the TUI console, and the serving and Python APIs) goes
through this module. Two independent guards, so that a gap in one is covered by the other:

1. the statement: DuckDB's own parser must find exactly one statement, of a reading kind
   (:func:`one_statement`);
2. the connection: the file is opened read-only with DuckDB's protections on (no access to
   other files, configuration locked, no extension loading or installing, no spilling to
   temporary files) (:func:`open_readonly`).

With ``allow_artifacts`` the connection may also read files under the results file's own
``artifacts/`` folder (the Parquet files that runs wrote there, e.g. per-user metrics).
DuckDB would let a ``COPY`` write there too, so that mode relies on guard 1 for writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from recsys_kit.errors import StoreError
from recsys_kit.store.connection import LOCK_WAIT_S, open_db

#: Statement kinds that only read. EXPLAIN counts only when what it explains is a SELECT
#: (EXPLAIN ANALYZE runs the statement it explains).
READ_KINDS = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.PRAGMA,
                        duckdb.StatementType.CALL})
EXPLAIN = duckdb.StatementType.EXPLAIN

#: Off, then locked: no file but the results file, and no setting can change that.
LOCKED: dict[str, str | bool] = {"enable_external_access": False, "lock_configuration": True}
#: DuckDB settings of every read-only connection, fixed when the file is opened.
PROTECTIONS: dict[str, str | bool] = {
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "temp_directory": "",  # no spilling to disk: the surface writes no file at all
}

#: Why each kind of statement is refused, where "it would change the results file" misleads.
WHY_REFUSED = {
    "COPY": "COPY writes (or reads) files",
    "EXPORT": "EXPORT writes files",
    "COPY DATABASE": "it copies a database into another file",
    "ATTACH": "ATTACH opens another database file",
    "DETACH": "DETACH changes the attached databases",
    "SET": "settings cannot be changed (and each query runs on a fresh connection)",
    "LOAD": "extensions cannot be installed or loaded",
    "EXTENSION": "extensions cannot be installed or loaded",
    "MULTI": "the statement expands into several (a PIVOT without an IN list does); list the "
             "pivot values, e.g. PIVOT t ON c IN ('a', 'b')",
    "TRANSACTION": "each query runs in its own transaction",
}
READ_HINT = ("One reading statement runs: SELECT (also WITH, FROM, SHOW, DESCRIBE, "
             "SUMMARIZE), EXPLAIN of a SELECT, PRAGMA, or CALL of a table function.")


class SqlRefused(StoreError):
    """A statement the read-only SQL surface will not run: a write, a file access, a
    setting, or more than one statement. Nothing was changed."""


class SqlFailed(StoreError):
    """DuckDB could not run the query (a typo, an unknown table or column)."""


@dataclass(frozen=True)
class SqlResult:
    """Columns and rows of the statement; ``truncated`` when rows past ``max_rows`` exist."""

    columns: list[str]
    rows: list[tuple]
    truncated: bool = False


def artifacts_dir(results: Path) -> Path:
    """The folder where runs writing to ``results`` keep their files."""
    return results.parent / "artifacts"


def _type(statement: duckdb.Statement) -> duckdb.StatementType | None:
    """The statement's kind; None for a kind DuckDB's Python API has no name for (it raises
    ValueError for ``UPDATE EXTENSIONS`` in 2.0)."""
    try:
        return statement.type
    except ValueError:
        return None


def _kind(statement: duckdb.Statement) -> str:
    kind = _type(statement)
    return "unnamed" if kind is None else kind.name.replace("_", " ")


def _explained(statement: duckdb.Statement) -> duckdb.Statement | None:
    """The statement an EXPLAIN explains: the first suffix after ``EXPLAIN`` (past
    ``ANALYZE`` and options) that DuckDB's parser reads as one statement."""
    text = statement.query
    for start, _ in duckdb.tokenize(text)[1:]:
        try:
            inner = duckdb.extract_statements(text[start:])
        except duckdb.Error:
            continue
        if len(inner) == 1:
            return inner[0]
    return None


def one_statement(sql: str) -> duckdb.Statement:
    """The one reading statement in ``sql``; :class:`SqlRefused` for anything else,
    :class:`SqlFailed` when DuckDB cannot parse it."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlFailed(f"The query is not valid SQL: {_clean(exc)}") from None
    if not statements:
        raise SqlFailed("There is no SQL statement to run (the text is empty or only comments).")
    if len(statements) > 1:
        kinds = ", ".join(_kind(s) for s in statements)
        raise SqlRefused(
            f"Refused: {len(statements)} statements ({kinds}); run one statement at a time. "
            "Only one result can be shown, so an earlier statement would go unseen.")
    statement = statements[0]
    explain = _type(statement) is EXPLAIN
    checked = _explained(statement) if explain else statement
    if checked is None or _type(checked) not in READ_KINDS:
        kind = _kind(statement if checked is None else checked)
        what = "EXPLAIN of " if explain else ""
        why = WHY_REFUSED.get(kind, "it would change the results file")
        verb = "is" if explain else "are"
        raise SqlRefused(f"Refused: {what}{kind} statements {verb} not allowed: {why}. The SQL "
                         "surface is read-only; the results file is written only by "
                         f"`recsys-kit run`. {READ_HINT}")
    return statement


def _clean(exc: BaseException) -> str:
    """DuckDB's message without blank lines (one paragraph)."""
    return "\n".join(line for line in str(exc).strip().splitlines() if line.strip())


@contextmanager
def open_readonly(path: Path, *, allow_artifacts: bool = False,
                  wait_s: float = LOCK_WAIT_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """A protected read-only connection to ``path``, closed on exit.

    Without ``allow_artifacts`` every protection is fixed when the file is opened. With it,
    the connection first allows reading :func:`artifacts_dir` (DuckDB accepts that setting
    only once the database has started), then turns external access off and locks the
    configuration before any statement of the caller runs.
    """
    path = Path(path)
    # DuckDB 2.0 applies these in order and refuses temp_directory once external access is
    # off unless external access came first: LOCKED goes first.
    config = dict(PROTECTIONS) if allow_artifacts else {**LOCKED, **PROTECTIONS}
    with open_db(path, read_only=True, wait_s=wait_s, config=config) as con:
        if allow_artifacts:
            folder = artifacts_dir(path.absolute())
            allowed = sorted({f"{folder}/", f"{folder.resolve()}/"})
            con.execute("SET allowed_directories = ?", [allowed])
            for name, value in LOCKED.items():
                con.execute(f"SET {name} = {str(value).lower()}")
        yield con


def tables_hint(con: duckdb.DuckDBPyConnection) -> str:
    """'\nTables: a, b; ...' listing the results file's tables (empty if it cannot)."""
    try:
        rows = con.cursor().execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY table_name"
        ).fetchall()
    except duckdb.Error:
        return ""
    names = ", ".join(name for (name,) in rows)
    return f"\nTables: {names}; `DESCRIBE <table>` lists a table's columns." if names else ""


def explain_failure(con: duckdb.DuckDBPyConnection, exc: duckdb.Error, *,
                    allow_artifacts: bool = False) -> StoreError:
    """The user-facing error for a statement DuckDB refused or could not run."""
    message = _clean(exc)
    if isinstance(exc, duckdb.PermissionException) or "disabled through configuration" in message:
        reach = ("files under the results file's artifacts/ folder" if allow_artifacts else
                 "no file but the results file (with --allow-artifacts, `recsys-kit sql` also "
                 "reads the files runs wrote under its artifacts/ folder)")
        return SqlRefused(f"Refused: the query reaches outside the results file ({message}). "
                          f"The SQL surface reads {reach}.")
    if "configuration has been locked" in message:
        return SqlRefused(f"Refused: settings cannot be changed ({message}). The SQL surface "
                          "is read-only and its configuration is fixed.")
    if "read-only mode" in message:
        return SqlRefused(f"Refused: the results file is opened read-only ({message}); it is "
                          "written only by `recsys-kit run`.")
    return SqlFailed(f"The query failed: {message}{tables_hint(con)}")


def fetch(con: duckdb.DuckDBPyConnection, statement: duckdb.Statement,
          max_rows: int | None = None, *, allow_artifacts: bool = False) -> SqlResult:
    """Run one checked ``statement``; at most ``max_rows`` rows (all when None).

    DuckDB's interrupt (``duckdb.InterruptException``) passes through for the caller to
    report; every other DuckDB error becomes :class:`SqlRefused` or :class:`SqlFailed`.
    """
    try:
        cur = con.execute(statement)
        if cur.description is None:
            return SqlResult([], [])
        rows = cur.fetchall() if max_rows is None else cur.fetchmany(max_rows + 1)
    except duckdb.InterruptException:
        raise
    except duckdb.Error as exc:
        raise explain_failure(con, exc, allow_artifacts=allow_artifacts) from None
    columns = [d[0] for d in cur.description]
    if max_rows is not None and len(rows) > max_rows:
        return SqlResult(columns, rows[:max_rows], True)
    return SqlResult(columns, rows)


def checked_statement(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement:
    """:func:`one_statement`, with the tables of ``con``'s file listed when ``sql`` does
    not parse."""
    try:
        return one_statement(sql)
    except SqlFailed as exc:
        raise SqlFailed(f"{exc}{tables_hint(con)}") from None


def query(path: Path, sql: str, *, allow_artifacts: bool = False, max_rows: int | None = None,
          wait_s: float = LOCK_WAIT_S) -> SqlResult:
    """Check ``sql`` (one reading statement), then run it on a protected read-only
    connection to the results file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"No results file at {path}. Run a recipe first "
                         "(`recsys-kit run recipes/quickstart.yaml`) or pass --results.")
    with open_readonly(path, allow_artifacts=allow_artifacts, wait_s=wait_s) as con:
        statement = checked_statement(con, sql)
        return fetch(con, statement, max_rows, allow_artifacts=allow_artifacts)
