"""Reading tables into DuckDB: files, bad rows with their lines, column mapping, filters.

Python only looks for the line of a bad row after DuckDB has found it.
"""

from __future__ import annotations

import csv
import gzip
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsys_kit.builtin.ingest import (
    Filters,
    InteractionsSource,
    ItemsSource,
    TableSource,
)
from recsys_kit.errors import DataError, did_you_mean
from recsys_kit.ingest.bad_rows import SHOWN, Bad, control_in, handle_bad_rows, not_finite

if TYPE_CHECKING:
    import duckdb

    from recsys_kit.runner.context import DataContext

NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL",
           "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "BOOLEAN")
CANONICAL = ("user_id", "item_id", "ts", "rating", "weight")


def quote(text: str) -> str:
    """SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _id(name: str) -> str:
    """SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The first row of a query (fetching all, so that no result is left open)."""
    return con.execute(sql).fetchall()[0]


def existing_file(path: str, setting: str) -> Path:
    """The path, or a DataError naming it, the current directory and the --set to fix it."""
    file = Path(path).expanduser()
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "does not exist"
        raise DataError(
            f"Input file '{path}' {what} (a relative path is read from the current directory, "
            f"{os.getcwd()}). Fix the path in the recipe, or give another one with "
            f"--set data.ingest.params.{setting}=PATH.")
    return file


def input_file(path: str, setting: str) -> Path:
    """:func:`existing_file`, and for a .gz file a full pass through it: DuckDB reads a
    damaged gzip stream without checking its CRC, so flipped bytes would become rows."""
    file = existing_file(path, setting)
    if file.suffix == ".gz":
        try:
            with gzip.open(file, "rb") as handle:
                while handle.read(1 << 22):
                    pass
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{file} is not a complete, undamaged gzip file ({exc}). Fetch "
                            "or compress it again.") from None
    return file


def _lines(file: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """(1-based number, text) of every line of a (possibly gzip) text file; a DataError
    naming the file when it cannot be read (a damaged or truncated .gz)."""
    opener: Any = gzip.open if file.suffix == ".gz" else open
    number = 0
    try:
        with opener(file, "rt", encoding=encoding, errors="replace", newline="") as handle:
            for number, text in enumerate(handle, 1):
                yield number, text.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as exc:
        what = "a complete gzip file" if file.suffix == ".gz" else "readable"
        where = f" after line {number}" if number else ""
        raise DataError(f"Could not read {file}{where}: {exc}. Is it {what}? Fetch or "
                        "decompress it again.") from None


def read_lines(con: duckdb.DuckDBPyConnection, file: Path, encoding: str, table: str,
                select: str = "line") -> None:
    """Create ``table`` from ``select`` over each ``line`` of a file (rowid = line number - 1)."""
    import duckdb

    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM read_csv({quote(str(file))}, "
            "columns={'line': 'VARCHAR'}, delim='\x01', quote='', escape='', header=false, "
            f"auto_detect=false, encoding={quote(encoding)})")
    except duckdb.Error as exc:
        raise _failure(file, "text lines", exc) from None


def _failure(file: Path, what: str, exc: Exception) -> DataError:
    """A DataError for a file DuckDB could not read at all."""
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return DataError(f"Could not read {file} as {what}: {detail}. Check the format, delimiter and "
                     "encoding params of this file (older MovieLens files are latin-1).")


def cleanup(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the stage's scratch tables."""
    for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE "
                               "'\\_ingest\\_%' ESCAPE '\\'").fetchall():
        con.execute(f"DROP TABLE {_id(name)}")


# -- reading one table ----------------------------------------------------------------------


@dataclass
class Raw:
    """A file loaded into ``table`` (rowid = read order), with an SQL expression per column."""

    table: str
    file: Path
    columns: dict[str, tuple[str, str]]  # name -> (SQL expression, DuckDB type)
    unit: str = "line"
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # first (line, kind, text)
    reject_kinds: dict[str, int] = field(default_factory=dict)  # rows the reader rejected, by kind
    csv: tuple[str, bool] | None = None  # (encoding, header): find csv lines in Python
    where: str = ""  # rows to read
    guard: str = ""  # CASE arms naming bad rows of the format itself
    text: str = "NULL"  # SQL text shown for a bad row


def _load_csv(con: duckdb.DuckDBPyConnection, src: TableSource, file: Path, table: str) -> Raw:
    """Load a delimited file as VARCHAR columns; DuckDB's rejects table gives malformed lines."""
    import duckdb

    tsv = ".tsv" in [s.lower() for s in file.suffixes]
    delim = src.delimiter if src.delimiter is not None else "\t" if tsv else ","
    first = next((t for _, t in _lines(file, src.encoding) if t.strip()), "").lstrip("\ufeff")
    if not first:
        raise DataError(f"{file} is empty: there is nothing to read.")
    if len(delim) == 1:
        quoting = {"quotechar": src.quote} if src.quote else {"quoting": csv.QUOTE_NONE}
        fields = next(csv.reader([first], delimiter=delim, **quoting))
    else:
        fields = [f.strip(src.quote) if src.quote else f for f in first.split(delim)]
    fields = [f.strip() for f in fields]
    names = src.columns or (fields if src.header else [f"field{i + 1}" for i in range(len(fields))])
    if len(names) != len(fields) or len(set(names)) != len(names):
        raise DataError(f"columns {names} must be {len(fields)} unique names, one per field of the "
                        f"first line of {file} (delimiter {delim!r}).")
    cols = ", ".join(f"{quote(n)}: 'VARCHAR'" for n in names)
    con.execute("DROP TABLE IF EXISTS _ingest_rejects; DROP TABLE IF EXISTS _ingest_scans")
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv({quote(str(file))}, "
            f"columns={{{cols}}}, delim={quote(delim)}, header={str(src.header).lower()}, "
            f"quote={quote(src.quote)}, escape={quote(src.quote)}, encoding={quote(src.encoding)}, "
            "auto_detect=false, store_rejects=true, rejects_table='_ingest_rejects', "
            "rejects_scan='_ingest_scans')")
    except duckdb.Error as exc:
        raise _failure(file, f"delimited text (delimiter {delim!r})", exc) from None
    kind = ("CASE WHEN error_type LIKE '%COLUMNS' THEN 'wrong number of fields' WHEN error_type "
            f"= 'INVALID ENCODING' THEN 'invalid {src.encoding} encoding' ELSE lower(error_type) "
            "END")
    detail = ("CASE WHEN error_type LIKE '%COLUMNS' THEN ' (expected ' || regexp_extract("
              "error_message, 'Columns: (\\d+)', 1) || ', found ' || regexp_extract(error_message, "
              f"'Found: (\\d+)', 1) || ', delimiter ' || {quote(repr(delim))} || ')' ELSE '' END")
    # DuckDB rejects a line once per problem (a short line once per missing field): one each.
    per_line = (f"(SELECT DISTINCT ON (line) line, {kind} AS kind, {detail} AS detail, csv_line "
                "FROM _ingest_rejects ORDER BY line, column_idx)")
    rejects = con.execute(f"SELECT line, kind || detail, csv_line FROM {per_line} "
                          f"ORDER BY line LIMIT {SHOWN}").fetchall()
    kinds = con.execute(f"SELECT kind, count(*) FROM {per_line} GROUP BY ALL").fetchall()
    return Raw(table, file, {n: (_id(n), "VARCHAR") for n in names}, rejects=rejects,
               reject_kinds=dict(kinds), csv=(src.encoding, src.header))


def _load(con: duckdb.DuckDBPyConnection, src: TableSource, setting: str, table: str) -> Raw:
    """Load a csv, JSON lines or Parquet file into ``table``."""
    import duckdb

    file = input_file(src.path, setting)
    kind = src.format
    if kind == "auto":
        suffixes = [s for s in map(str.lower, file.suffixes) if s not in (".gz", ".zst")]
        suffix = suffixes[-1] if suffixes else ""
        kind = {".parquet": "parquet", ".pq": "parquet", ".json": "json", ".jsonl": "json",
                ".ndjson": "json"}.get(suffix, "csv")
    if kind == "csv":
        return _load_csv(con, src, file, table)
    if kind == "json":
        read_lines(con, file, src.encoding, table, "line, CASE WHEN json_valid(line) THEN line "
                    "END AS _json")
        keys = con.execute(f"SELECT json_keys(_json) FROM {table} WHERE json_type(_json) = "
                           "'OBJECT' LIMIT 1").fetchall()
        fields = keys[0][0] if keys else []
        return Raw(table, file,
                   {k: (f"json_extract_string(_json, {quote('$.' + _id(k))})", "VARCHAR")
                    for k in fields},
                   where="WHERE trim(line) <> ''", text="line",
                   guard="WHEN _json IS NULL THEN 'not valid JSON' ")
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS FROM read_parquet({quote(str(file))})")
    except duckdb.Error as exc:
        raise _failure(file, "Parquet", exc) from None
    types = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()
    return Raw(table, file, {n: (_id(n), t) for n, t in types}, unit="row",
               text=f"CAST(struct_pack({', '.join(f'{_id(n)} := {_id(n)}' for n, _ in types)}) "
                    "AS VARCHAR)")


def _column(raw: Raw, name: str, role: str) -> tuple[str, str]:
    """The (expression, type) of a file column, or a DataError listing the file's columns."""
    if name not in raw.columns:
        raise DataError(
            f"{raw.file} has no column '{name}' (wanted for {role})."
            f"{did_you_mean(name, raw.columns)} Its columns: {', '.join(raw.columns) or 'none'}."
            " Fix the mapping, or check the columns, header and delimiter params.")
    return raw.columns[name]


#: Column types that hold more than one value per row (DuckDB's names).
NESTED = ("STRUCT", "MAP", "UNION")
#: Column types of points and spans of time: a timestamp, never a rating or a weight.
TEMPORAL = ("TIMESTAMP", "DATE", "TIME", "INTERVAL")


def _check_type(raw: Raw, name: str, role: str, dtype: str) -> None:
    """Refuse a typed (Parquet) column whose type cannot hold ``role``: a list or struct for
    any of them, a date-time for a rating or weight. Row by row, such values would convert
    without a complaint (a list's text becomes an id, a date-time its epoch seconds)."""
    if dtype.endswith("]") or dtype.startswith(NESTED):
        what = f"{dtype} values (several values in each row)"
    elif role in ("rating", "weight") and dtype.startswith(TEMPORAL):
        what = f"{dtype} values (points in time; the timestamp is interactions.mapping.ts)"
    else:
        return
    raise DataError(
        f"{raw.file}: column '{name}', mapped to {role}, holds {what}, but {role} takes one "
        f"{'id' if role.endswith('_id') else 'number'} per row. Map another column with "
        f"interactions.mapping.{role}; its columns: {', '.join(raw.columns)}.")


#: A date-time text that ends with its time zone after its time of day: an offset
#: (`...10:00:00+02:00`, `...T07:00Z`, `... 10:00 +0200`) or a zone name (`... Europe/Berlin`).
_ENDS_WITH_ZONE = (r"\d:\d\d(:\d\d(\.\d+)?)?(\s*([zZ]|[+-]\d\d(:?\d\d){0,2})"
                   r"|\s+[A-Za-z][A-Za-z_]*(/[A-Za-z_+-]+)*)\s*$")
#: Space before an offset, which DuckDB's TIMESTAMPTZ cast does not take.
_SPACE_BEFORE_OFFSET = r"\s+([zZ]|[+-]\d\d(:?\d\d){0,2})\s*$"


def _number(expr: str, dtype: str, is_ts: bool) -> str:
    """SQL turning a column into DOUBLE: numbers as they are, date-times as epoch seconds."""
    if dtype.startswith(NUMERIC):
        return f"CAST({expr} AS DOUBLE)"
    if dtype.startswith(("TIMESTAMP", "DATE")):
        return f"epoch({expr})"
    if is_ts:
        # A time written with its zone is that instant: TIMESTAMPTZ keeps the zone, which
        # TIMESTAMP drops. One without is UTC, as TIMESTAMP reads it (TIMESTAMPTZ would read
        # it in the machine's time zone); so is one whose zone TIMESTAMPTZ cannot read.
        text = f"CAST({expr} AS VARCHAR)"
        zoned = f"regexp_replace({text}, '{_SPACE_BEFORE_OFFSET}', '\\1')"
        plain = f"epoch(TRY_CAST({expr} AS TIMESTAMP))"
        return (f"coalesce(TRY_CAST({expr} AS DOUBLE), CASE WHEN regexp_matches({text}, "
                f"'{_ENDS_WITH_ZONE}') THEN coalesce(epoch(TRY_CAST({zoned} AS TIMESTAMPTZ)), "
                f"{plain}) ELSE {plain} END)")
    return f"TRY_CAST({expr} AS DOUBLE)"


def _csv_lines(con: duckdb.DuckDBPyConnection, raw: Raw, rows: list[int]) -> dict[int, Any]:
    """File line and text of 0-based csv rows, skipping header, blank and rejected lines."""
    if raw.csv is None or not rows:
        return {}
    encoding, header = raw.csv
    rejected: set[int] = set()
    if raw.reject_kinds:
        rejected = {n for (n,) in con.execute("SELECT line FROM _ingest_rejects").fetchall()}
    wanted = set(rows)
    found: dict[int, tuple[int, str]] = {}
    row = 0
    for number, text in _lines(raw.file, encoding):
        if (header and number == 1) or number in rejected or not text:
            continue
        if row in wanted:
            found[row] = (number, text)
            if len(found) == len(wanted):
                break
        row += 1
    return found


def _convert(ctx: DataContext, raw: Raw, select: list[str], arms: str, policy: str) -> int:
    """Create ``_ingest_conv(_row, select..., _bad)`` from a loaded file, deal with its bad rows
    (reader rejects and rows whose ``arms`` give a reason) and return the rows read."""
    con = ctx.con
    con.execute(f"CREATE OR REPLACE TABLE _ingest_conv AS SELECT rowid AS _row, "
                f"{', '.join(select)}, CASE {raw.guard}{arms}END AS _bad "
                f"FROM {raw.table} {raw.where}")
    kinds = dict(raw.reject_kinds)
    for kind, n in con.execute("SELECT _bad, count(*) FROM _ingest_conv WHERE _bad IS NOT NULL "
                               "GROUP BY _bad").fetchall():
        kinds[kind] = n
    found = con.execute("SELECT _row, _bad FROM _ingest_conv WHERE _bad IS NOT NULL "
                        f"ORDER BY _row LIMIT {SHOWN}").fetchall()
    # Only the rows shown are rendered as text (for every row, it tripled a Parquet ingest).
    texts = dict(con.execute(
        f"SELECT rowid, {raw.text} FROM {raw.table} WHERE rowid IN "
        f"({', '.join(str(r) for r, _ in found)})").fetchall()) if found else {}
    lines = _csv_lines(con, raw, [r for r, _ in found])
    first = []
    for r, kind in found:
        line, shown = lines.get(r, (r + 1, texts.get(r) or ""))
        first.append((line, kind, shown))
    n_read = fetch_one(con, "SELECT count(*) FROM _ingest_conv")[0] + sum(raw.reject_kinds.values())
    ctx.report("ingest", f"{raw.file.name}: {n_read} rows read")
    shown = sorted(first + raw.rejects)[:SHOWN]
    handle_bad_rows(ctx, policy, Bad(raw.file, raw.unit, kinds, shown))
    return n_read


def read_interactions(ctx: DataContext, src: InteractionsSource, policy: str) -> int:
    """Create ``interactions`` from a file; return the number of rows read."""
    raw = _load(ctx.con, src, "interactions.path", "_ingest_raw")
    mapping = {c: src.mapping.get(c, c) for c in CANONICAL if c in src.mapping or c in raw.columns}
    for need in ("user_id", "item_id"):
        if need not in mapping:
            raise DataError(f"{raw.file} has no {need} column (its columns: "
                            f"{', '.join(raw.columns)}). Set interactions.mapping.{need} to the "
                            "column that holds it, or check the columns, header and delimiter.")
    cols = {c: _column(raw, s, c) for c, s in mapping.items()}
    for c, (_, dtype) in cols.items():
        _check_type(raw, mapping[c], c, dtype)
    select, arms = [], ""
    for c in ("user_id", "item_id"):
        text = f"CAST({cols[c][0]} AS VARCHAR)"
        select.append(f"{text} AS {c}")
        arms += f"WHEN nullif(trim({text}), '') IS NULL THEN 'empty {c}' " + control_in(text, c)
    for c in ("ts", "rating", "weight"):
        if c not in cols:
            select.append(f"CAST({'rowid' if c == 'ts' else 'NULL'} AS DOUBLE) AS {c}")
            continue
        expr, dtype = cols[c]
        num = _number(expr, dtype, c == "ts")
        arms += f"WHEN {expr} IS NULL THEN 'empty ts' " if c == "ts" else ""
        arms += f"WHEN {expr} IS NOT NULL AND {num} IS NULL THEN '{c} is not a number' "
        arms += not_finite(num, c)
        select.append(f"{num} AS {c}")
    n_read = _convert(ctx, raw, select, arms, policy)
    ctx.con.execute("CREATE OR REPLACE TABLE interactions AS SELECT user_id, item_id, ts, rating, "
                    "weight, _row AS row_no FROM _ingest_conv WHERE _bad IS NULL ORDER BY _row")
    return n_read


def read_items(ctx: DataContext, src: ItemsSource, policy: str) -> None:
    """Create ``items`` (item_id plus VARCHAR side columns) from a file, first row per item."""
    raw = _load(ctx.con, src, "items.path", "_ingest_items_raw")
    id_col = src.mapping.get("item_id", "item_id")
    idx = _column(raw, id_col, "item_id")[0]
    side = {k: v for k, v in src.mapping.items() if k != "item_id"}
    text = src.text_columns
    if text is None and not side:
        text = [c for c in raw.columns if c != id_col]
    side.update({c: c for c in text or [] if c != "item_id"})
    select = [f"CAST({idx} AS VARCHAR) AS item_id",
              *(f"CAST({_column(raw, s, k)[0]} AS VARCHAR) AS {_id(k)}" for k, s in side.items())]
    text = f"CAST({idx} AS VARCHAR)"
    _convert(ctx, raw, select, f"WHEN nullif(trim({text}), '') IS NULL THEN 'empty item_id' "
             + control_in(text, "item_id"), policy)
    ctx.con.execute(
        f"CREATE OR REPLACE TABLE items AS SELECT {', '.join(['item_id', *map(_id, side)])} FROM "
        "_ingest_conv WHERE _bad IS NULL QUALIFY row_number() OVER (PARTITION BY item_id "
        "ORDER BY _row) = 1 ORDER BY _row")
    n, hit = fetch_one(ctx.con, "SELECT count(*), count(*) FILTER (WHERE item_id IN "
                       "(SELECT item_id FROM interactions)) FROM items")
    ctx.report("ingest", f"{raw.file.name}: {n} items with {', '.join(side) or 'no side columns'}; "
               f"{hit} of them have interactions")


# -- filters --------------------------------------------------------------------------------


def _delete(con: duckdb.DuckDBPyConnection, column: str, minimum: int) -> int:
    """Delete interactions of users or items that have fewer than ``minimum``; return how many."""
    if minimum <= 1:
        return 0
    return fetch_one(con, f"DELETE FROM interactions WHERE {column} IN (SELECT {column} FROM "
                     f"interactions GROUP BY {column} HAVING count(*) < {minimum})")[0]


def apply_filters(con: duckdb.DuckDBPyConnection, filters: Filters) -> dict[str, int]:
    """Apply ``filters`` to ``interactions`` in place; return the rows dropped per reason."""
    dropped: dict[str, int] = {}
    if filters.min_rating is not None:
        if not fetch_one(con, "SELECT count(rating) FROM interactions")[0]:
            raise DataError("filters.min_rating is set but the interactions have no ratings: map a "
                            "rating column (interactions.mapping.rating) or remove min_rating.")
        dropped[f"rating below {filters.min_rating:g}"] = fetch_one(con, "DELETE FROM interactions "
                                                               "WHERE rating IS NULL OR rating < "
                                                               f"{filters.min_rating!r}")[0]
    if filters.dedupe:
        before = fetch_one(con, "SELECT count(*) FROM interactions")[0]
        con.execute("CREATE OR REPLACE TABLE interactions AS SELECT * FROM interactions QUALIFY "
                    "row_number() OVER (PARTITION BY user_id, item_id ORDER BY ts, row_no) = 1 "
                    "ORDER BY row_no")
        after = fetch_one(con, "SELECT count(*) FROM interactions")[0]
        dropped["repeated (user, item)"] = before - after
    items = f"items with < {filters.min_item_interactions} interactions"
    users = f"users with < {filters.min_user_interactions} interactions"
    while True:
        n_items = _delete(con, "item_id", filters.min_item_interactions)
        n_users = _delete(con, "user_id", filters.min_user_interactions)
        dropped[items] = dropped.get(items, 0) + n_items
        dropped[users] = dropped.get(users, 0) + n_users
        if not filters.k_core or n_items + n_users == 0:
            return {k: v for k, v in dropped.items() if v}


def filter_and_report(ctx: DataContext, filters: Filters, n_read: int) -> None:
    """Apply the filters, then report what was kept and dropped (an error when nothing is left)."""
    dropped = apply_filters(ctx.con, filters)
    n, users, items = fetch_one(ctx.con, "SELECT count(*), count(DISTINCT user_id), count(DISTINCT "
                           "item_id) FROM interactions")
    why = "; dropped " + ", ".join(f"{v} ({k})" for k, v in dropped.items()) if dropped else ""
    ctx.report("ingest", f"kept {n} of {n_read} interactions: {users} users, {items} items{why}")
    if not n:
        raise DataError("No interactions are left after reading and filtering: check the input "
                        "file, and loosen the filters params.")


def ingest(ctx: DataContext, read: Callable[[], int], filters: Filters,
           items: ItemsSource | None, policy: str) -> None:
    """What every file ingest does: ``read()`` creates ``interactions`` (returning the rows
    read), then the filters apply, then the optional items table is read; temporary tables
    are dropped whatever happens."""
    try:
        filter_and_report(ctx, filters, read())
        if items is not None:
            read_items(ctx, items, policy)
    finally:
        cleanup(ctx.con)
