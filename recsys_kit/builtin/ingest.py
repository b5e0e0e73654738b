"""Built-in ingest stages: ``files`` (CSV/TSV/Parquet/JSON lines), ``sequences``, ``synthetic``.

Each stage creates ``interactions`` (and optionally ``items``) in the DuckDB connection of a
:class:`~recsys_kit.runner.context.DataContext`. DuckDB does the heavy lifting; Python only looks
for the line of a bad row after DuckDB has found it.
"""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from recsys_kit.errors import DataError, did_you_mean
from recsys_kit.hookspecs import hookimpl
from recsys_kit.stages import Family, StageConfig, StageSpec

if TYPE_CHECKING:
    import duckdb
    import numpy as np

    from recsys_kit.runner.context import DataContext

SHOWN = 100  # bad rows per file kept in ctx.notes["ingest_skipped"]
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "latin-1": "latin-1", "latin1": "latin-1",
             "iso-8859-1": "latin-1", "iso8859-1": "latin-1", "utf-16": "utf-16", "utf16": "utf-16"}
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL",
           "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "BOOLEAN")
CANONICAL = ("user_id", "item_id", "ts", "rating", "weight")


def _encoding(value: str) -> str:
    """DuckDB's spelling of an encoding (latin1 and iso-8859-1 become latin-1)."""
    key = value.strip().lower().replace("_", "-")
    if key not in ENCODINGS:
        raise ValueError(f"unknown encoding '{value}'; use utf-8, latin-1 or utf-16")
    return ENCODINGS[key]


Encoding = Annotated[str, AfterValidator(_encoding)]
Policy = Literal["error", "skip"]
POLICY = "A malformed row stops the run (error), or is skipped, counted and reported (skip)."


# -- configs --------------------------------------------------------------------------------


class TableSource(StageConfig):
    """One input file and how to read it."""

    path: str = Field(description="File to read, relative to the current directory; .gz is gzip.")
    format: Literal["auto", "csv", "parquet", "json"] = Field(
        "auto", description="auto: .parquet/.pq -> parquet, .json/.jsonl/.ndjson -> JSON lines, "
        "anything else -> csv (delimited text).")
    delimiter: str | None = Field(
        None, description="csv field separator, any string such as '::', '|' or a tab; default: "
        "tab for .tsv files, comma otherwise.")
    header: bool = Field(True, description="Whether the first line of a csv file has the names.")
    encoding: Encoding = Field(
        "utf-8", description="utf-8, latin-1 or utf-16; latin1 and iso-8859-1 mean latin-1.")
    quote: str = Field('"', description="Quote character of csv files; '' for none.")
    columns: list[str] | None = Field(
        None, description="csv column names in file order; default: the header line, or field1, "
        "field2, ... when there is no header.")


class InteractionsSource(TableSource):
    """The interactions file: one row per (user, item) event."""

    mapping: dict[Literal["user_id", "item_id", "ts", "rating", "weight"], str] = Field(
        default_factory=dict, description="Canonical name -> file column, e.g. {user_id: userId, "
        "item_id: movieId, ts: timestamp}; canonical names the file has are taken as they are. "
        "ts may be a number or a date-time; without ts, the row order is the time.")


class ItemsSource(TableSource):
    """An item side table: one row per item with text columns (title, genres, ...)."""

    mapping: dict[str, str] = Field(
        default_factory=dict, description="item_id -> the file's id column; any other key is a "
        "side column taken from the given file column, e.g. {item_id: field1, title: field2}.")
    text_columns: list[str] | None = Field(
        None, description="File columns kept as side columns under their own names; default: every "
        "other column when mapping names no side column.")


class Filters(StageConfig):
    """Rows dropped after reading, in this order: rating, repeats, rare items, rare users."""

    min_rating: float | None = Field(None, description="Drop interactions rated below this.")
    min_user_interactions: int = Field(0, ge=0, description="Drop users with fewer interactions.")
    min_item_interactions: int = Field(0, ge=0, description="Drop items with fewer interactions.")
    k_core: bool = Field(False, description="Repeat the item and user minimums until none applies.")
    dedupe: bool = Field(False, description="Keep only the first (user, item) pair in time order.")


class FilesConfig(StageConfig):
    """Params of the ``files`` ingest stage."""

    interactions: InteractionsSource = Field(description="The interactions file.")
    items: ItemsSource | None = Field(None, description="Optional item side table.")
    filters: Filters = Field(default_factory=Filters, description="Rows dropped after reading.")
    on_bad_rows: Policy = Field("error", description=POLICY)


class SequencesConfig(StageConfig):
    """Params of the ``sequences`` ingest stage."""

    path: str = Field(description="Sequence file, relative to the current directory; .gz is gzip.")
    format: Literal["user_items", "pairs"] = Field(
        "user_items", description="user_items: one 'user item item ...' line per user, oldest "
        "first; pairs: one 'user item' line per interaction, in time order.")
    delimiter: str = Field(" ", description="Token separator; ' ' means any run of whitespace.")
    encoding: Encoding = Field("utf-8", description="utf-8, latin-1 or utf-16.")
    items: ItemsSource | None = Field(None, description="Optional item side table.")
    filters: Filters = Field(default_factory=Filters, description="Rows dropped after reading.")
    on_bad_rows: Policy = Field("error", description=POLICY)


class SyntheticConfig(StageConfig):
    """Params of the ``synthetic`` ingest stage (topic-structured sequences)."""

    seed: int = Field(42, description="Seed of the generator (independent of the run's seed).")
    n_users: int = Field(2000, ge=1, description="Number of users.")
    n_items: int = Field(500, ge=2, description="Number of items.")
    n_topics: int = Field(10, ge=1, description="Number of topics (the items' genres).")
    min_len: int = Field(20, ge=2, description="Shortest sequence.")
    max_len: int = Field(60, ge=2, description="Longest sequence.")
    zipf: float = Field(1.0, ge=0, description="Popularity skew within a topic (Zipf exponent).")
    drift: float = Field(0.2, ge=0, le=1, description="Chance to move to another topic per step.")
    follow: float = Field(0.5, ge=0, le=1, description="Chance to take the series' next item.")
    taste: float = Field(0.3, gt=0, description="Dirichlet concentration of tastes (low: focused).")

    @model_validator(mode="after")
    def _sizes(self) -> SyntheticConfig:
        if self.min_len > self.max_len:
            raise ValueError(f"min_len ({self.min_len}) is greater than max_len ({self.max_len})")
        if self.n_topics > self.n_items:
            raise ValueError(f"n_topics ({self.n_topics}) is greater than n_items ({self.n_items})")
        return self


# -- files and SQL helpers ------------------------------------------------------------------


def _q(text: str) -> str:
    """SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _id(name: str) -> str:
    """SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The first row of a query (fetching all, so that no result is left open)."""
    return con.execute(sql).fetchall()[0]


def _existing(path: str, setting: str) -> Path:
    """The path, or a DataError naming it, the current directory and the --set to fix it."""
    file = Path(path).expanduser()
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "does not exist"
        raise DataError(
            f"Input file '{path}' {what} (a relative path is read from the current directory, "
            f"{os.getcwd()}). Fix the path in the recipe, or give another one with "
            f"--set data.ingest.params.{setting}=PATH.")
    return file


def _lines(file: Path, encoding: str) -> Iterator[tuple[int, str]]:
    """(1-based number, text) of every line of a (possibly gzip) text file."""
    opener: Any = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rt", encoding=encoding, errors="replace", newline="") as handle:
        for number, text in enumerate(handle, 1):
            yield number, text.rstrip("\r\n")


def _read_lines(con: duckdb.DuckDBPyConnection, file: Path, encoding: str, table: str,
                select: str = "line") -> None:
    """Create ``table`` from ``select`` over each ``line`` of a file (rowid = line number - 1)."""
    import duckdb

    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT {select} FROM read_csv({_q(str(file))}, "
            "columns={'line': 'VARCHAR'}, delim='\x01', quote='', escape='', header=false, "
            f"auto_detect=false, encoding={_q(encoding)})")
    except duckdb.Error as exc:
        raise _failure(file, "text lines", exc) from None


def _failure(file: Path, what: str, exc: Exception) -> DataError:
    """A DataError for a file DuckDB could not read at all."""
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return DataError(f"Could not read {file} as {what}: {detail}. Check the format, delimiter and "
                     "encoding params of this file (older MovieLens files are latin-1).")


def _cleanup(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the stage's scratch tables."""
    for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE "
                               "'\\_ingest\\_%' ESCAPE '\\'").fetchall():
        con.execute(f"DROP TABLE {_id(name)}")


# -- bad rows -------------------------------------------------------------------------------


@dataclass
class Bad:
    """Bad rows of one file: how many of each kind, and the first few (line, kind, text)."""

    file: Path
    unit: str
    kinds: dict[str, int]
    first: list[tuple[int, str, str]]


def _handle_bad(ctx: DataContext, policy: str, bad: Bad) -> None:
    """Raise a DataError for the first bad row (policy error), or note and report them (skip)."""
    total = sum(bad.kinds.values())
    if not total:
        return
    line, kind, text = bad.first[0]
    if policy == "error":
        shown = f" (the {bad.unit} reads {text[:120]!r})" if text else ""
        more = f" {total - 1} more {bad.unit}s are bad too." if total > 1 else ""
        hint = " If the file is latin-1, set encoding: latin-1." if "encoding" in kind else ""
        raise DataError(f"{bad.file} {bad.unit} {line}: {kind}{shown}.{more}{hint} Fix the file, "
                        "or set on_bad_rows: skip to skip such rows (they are counted, reported).")
    noted = [(str(bad.file), n, k) for n, k, _ in bad.first]
    ctx.notes.setdefault("ingest_skipped", []).extend(noted)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(bad.kinds.items()))
    where = ", ".join(str(n) for n, _, _ in bad.first[:5])
    many = "s" if total > 1 else ""
    ctx.report("ingest", f"{bad.file.name}: skipped {total} bad row{many} ({kinds}); first at "
               f"{bad.unit}{many} {where}")


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
    cols = ", ".join(f"{_q(n)}: 'VARCHAR'" for n in names)
    con.execute("DROP TABLE IF EXISTS _ingest_rejects; DROP TABLE IF EXISTS _ingest_scans")
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv({_q(str(file))}, "
            f"columns={{{cols}}}, delim={_q(delim)}, header={str(src.header).lower()}, "
            f"quote={_q(src.quote)}, escape={_q(src.quote)}, encoding={_q(src.encoding)}, "
            "auto_detect=false, store_rejects=true, rejects_table='_ingest_rejects', "
            "rejects_scan='_ingest_scans')")
    except duckdb.Error as exc:
        raise _failure(file, f"delimited text (delimiter {delim!r})", exc) from None
    kind = ("CASE WHEN error_type LIKE '%COLUMNS' THEN 'wrong number of fields' WHEN error_type "
            f"= 'INVALID ENCODING' THEN 'invalid {src.encoding} encoding' ELSE lower(error_type) "
            "END")
    detail = ("CASE WHEN error_type LIKE '%COLUMNS' THEN ' (expected ' || regexp_extract("
              "error_message, 'Columns: (\\d+)', 1) || ', found ' || regexp_extract(error_message, "
              f"'Found: (\\d+)', 1) || ', delimiter ' || {_q(repr(delim))} || ')' ELSE '' END")
    rejects = con.execute(f"SELECT line, {kind} || {detail}, csv_line FROM _ingest_rejects "
                          f"ORDER BY line LIMIT {SHOWN}").fetchall()
    kinds = con.execute(f"SELECT {kind}, count(*) FROM _ingest_rejects GROUP BY ALL").fetchall()
    return Raw(table, file, {n: (_id(n), "VARCHAR") for n in names}, rejects=rejects,
               reject_kinds=dict(kinds), csv=(src.encoding, src.header))


def _load(con: duckdb.DuckDBPyConnection, src: TableSource, setting: str, table: str) -> Raw:
    """Load a csv, JSON lines or Parquet file into ``table``."""
    import duckdb

    file = _existing(src.path, setting)
    kind = src.format
    if kind == "auto":
        suffixes = [s for s in map(str.lower, file.suffixes) if s not in (".gz", ".zst")]
        suffix = suffixes[-1] if suffixes else ""
        kind = {".parquet": "parquet", ".pq": "parquet", ".json": "json", ".jsonl": "json",
                ".ndjson": "json"}.get(suffix, "csv")
    if kind == "csv":
        return _load_csv(con, src, file, table)
    if kind == "json":
        _read_lines(con, file, src.encoding, table, "line, CASE WHEN json_valid(line) THEN line "
                    "END AS _json")
        keys = con.execute(f"SELECT json_keys(_json) FROM {table} WHERE json_type(_json) = "
                           "'OBJECT' LIMIT 1").fetchall()
        return Raw(table, file, {k: (f"json_extract_string(_json, {_q('$.' + _id(k))})", "VARCHAR")
                                 for k in (keys[0][0] if keys else [])},
                   where="WHERE trim(line) <> ''", text="line",
                   guard="WHEN _json IS NULL THEN 'not valid JSON' ")
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS FROM read_parquet({_q(str(file))})")
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


def _number(expr: str, dtype: str, is_ts: bool) -> str:
    """SQL turning a column into DOUBLE: numbers as they are, date-times as epoch seconds."""
    if dtype.startswith(NUMERIC):
        return f"CAST({expr} AS DOUBLE)"
    if dtype.startswith(("TIMESTAMP", "DATE")):
        return f"epoch({expr})"
    if is_ts:
        return f"coalesce(TRY_CAST({expr} AS DOUBLE), epoch(TRY_CAST({expr} AS TIMESTAMP)))"
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
                f"{', '.join(select)}, CASE {raw.guard}{arms}END AS _bad, {raw.text} AS _text "
                f"FROM {raw.table} {raw.where}")
    kinds = dict(raw.reject_kinds)
    for kind, n in con.execute("SELECT _bad, count(*) FROM _ingest_conv WHERE _bad IS NOT NULL "
                               "GROUP BY _bad").fetchall():
        kinds[kind] = n
    found = con.execute("SELECT _row, _bad, _text FROM _ingest_conv WHERE _bad IS NOT NULL "
                        f"ORDER BY _row LIMIT {SHOWN}").fetchall()
    lines = _csv_lines(con, raw, [r for r, _, _ in found])
    first = []
    for r, kind, text in found:
        line, shown = lines.get(r, (r + 1, text or ""))
        first.append((line, kind, shown))
    n_read = _one(con, "SELECT count(*) FROM _ingest_conv")[0] + sum(raw.reject_kinds.values())
    ctx.report("ingest", f"{raw.file.name}: {n_read} rows read")
    _handle_bad(ctx, policy, Bad(raw.file, raw.unit, kinds, sorted(first + raw.rejects)[:SHOWN]))
    return n_read


def _read_interactions(ctx: DataContext, src: InteractionsSource, policy: str) -> int:
    """Create ``interactions`` from a file; return the number of rows read."""
    raw = _load(ctx.con, src, "interactions.path", "_ingest_raw")
    mapping = {c: src.mapping.get(c, c) for c in CANONICAL if c in src.mapping or c in raw.columns}
    for need in ("user_id", "item_id"):
        if need not in mapping:
            raise DataError(f"{raw.file} has no {need} column (its columns: "
                            f"{', '.join(raw.columns)}). Set interactions.mapping.{need} to the "
                            "column that holds it, or check the columns, header and delimiter.")
    cols = {c: _column(raw, s, c) for c, s in mapping.items()}
    select, arms = [], ""
    for c in ("user_id", "item_id"):
        select.append(f"CAST({cols[c][0]} AS VARCHAR) AS {c}")
        arms += f"WHEN nullif(trim(CAST({cols[c][0]} AS VARCHAR)), '') IS NULL THEN 'empty {c}' "
    for c in ("ts", "rating", "weight"):
        if c not in cols:
            select.append(f"CAST({'rowid' if c == 'ts' else 'NULL'} AS DOUBLE) AS {c}")
            continue
        expr, dtype = cols[c]
        num = _number(expr, dtype, c == "ts")
        arms += f"WHEN {expr} IS NULL THEN 'empty ts' " if c == "ts" else ""
        arms += f"WHEN {expr} IS NOT NULL AND {num} IS NULL THEN '{c} is not a number' "
        select.append(f"{num} AS {c}")
    n_read = _convert(ctx, raw, select, arms, policy)
    ctx.con.execute("CREATE OR REPLACE TABLE interactions AS SELECT user_id, item_id, ts, rating, "
                    "weight, _row AS row_no FROM _ingest_conv WHERE _bad IS NULL ORDER BY _row")
    return n_read


def _read_items(ctx: DataContext, src: ItemsSource, policy: str) -> None:
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
    _convert(ctx, raw, select, f"WHEN nullif(trim(CAST({idx} AS VARCHAR)), '') IS NULL "
             "THEN 'empty item_id' ", policy)
    ctx.con.execute(
        f"CREATE OR REPLACE TABLE items AS SELECT {', '.join(['item_id', *map(_id, side)])} FROM "
        "_ingest_conv WHERE _bad IS NULL QUALIFY row_number() OVER (PARTITION BY item_id "
        "ORDER BY _row) = 1 ORDER BY _row")
    n, hit = _one(ctx.con, "SELECT count(*), count(*) FILTER (WHERE item_id IN (SELECT item_id "
                  "FROM interactions)) FROM items")
    ctx.report("ingest", f"{raw.file.name}: {n} items with {', '.join(side) or 'no side columns'}; "
               f"{hit} of them have interactions")


# -- filters --------------------------------------------------------------------------------


def _delete(con: duckdb.DuckDBPyConnection, column: str, minimum: int) -> int:
    """Delete interactions of users or items that have fewer than ``minimum``; return how many."""
    if minimum <= 1:
        return 0
    return _one(con, f"DELETE FROM interactions WHERE {column} IN (SELECT {column} FROM "
                     f"interactions GROUP BY {column} HAVING count(*) < {minimum})")[0]


def apply_filters(con: duckdb.DuckDBPyConnection, filters: Filters) -> dict[str, int]:
    """Apply ``filters`` to ``interactions`` in place; return the rows dropped per reason."""
    dropped: dict[str, int] = {}
    if filters.min_rating is not None:
        if not _one(con, "SELECT count(rating) FROM interactions")[0]:
            raise DataError("filters.min_rating is set but the interactions have no ratings: map a "
                            "rating column (interactions.mapping.rating) or remove min_rating.")
        dropped[f"rating below {filters.min_rating:g}"] = _one(con, "DELETE FROM interactions "
                                                               "WHERE rating IS NULL OR rating < "
                                                               f"{filters.min_rating!r}")[0]
    if filters.dedupe:
        before = _one(con, "SELECT count(*) FROM interactions")[0]
        con.execute("CREATE OR REPLACE TABLE interactions AS SELECT * FROM interactions QUALIFY "
                    "row_number() OVER (PARTITION BY user_id, item_id ORDER BY ts, row_no) = 1 "
                    "ORDER BY row_no")
        after = _one(con, "SELECT count(*) FROM interactions")[0]
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


def _filter_and_report(ctx: DataContext, filters: Filters, n_read: int) -> None:
    """Apply the filters, then report what was kept and dropped (an error when nothing is left)."""
    dropped = apply_filters(ctx.con, filters)
    n, users, items = _one(ctx.con, "SELECT count(*), count(DISTINCT user_id), count(DISTINCT "
                           "item_id) FROM interactions")
    why = "; dropped " + ", ".join(f"{v} ({k})" for k, v in dropped.items()) if dropped else ""
    ctx.report("ingest", f"kept {n} of {n_read} interactions: {users} users, {items} items{why}")
    if not n:
        raise DataError("No interactions are left after reading and filtering: check the input "
                        "file, and loosen the filters params.")


# -- stages ---------------------------------------------------------------------------------


class FilesIngest:
    """Reads interactions (and optionally items) from CSV/TSV, Parquet or JSON lines files."""

    def __init__(self, config: FilesConfig) -> None:
        self.config = config

    def inputs(self) -> list[Path]:
        """The files this stage reads."""
        sources = [self.config.interactions, self.config.items]
        return [Path(s.path).expanduser() for s in sources if s is not None]

    def run(self, ctx: DataContext) -> None:
        """Create ``interactions`` (and ``items``) in ``ctx.con``."""
        cfg = self.config
        try:
            n_read = _read_interactions(ctx, cfg.interactions, cfg.on_bad_rows)
            _filter_and_report(ctx, cfg.filters, n_read)
            if cfg.items is not None:
                _read_items(ctx, cfg.items, cfg.on_bad_rows)
        finally:
            _cleanup(ctx.con)


class SequencesIngest:
    """Reads ready-made sequences: one line per user, or one 'user item' pair per line."""

    def __init__(self, config: SequencesConfig) -> None:
        self.config = config

    def inputs(self) -> list[Path]:
        """The files this stage reads."""
        items = [Path(self.config.items.path).expanduser()] if self.config.items else []
        return [Path(self.config.path).expanduser(), *items]

    def run(self, ctx: DataContext) -> None:
        """Create ``interactions`` (ts = position in the user's sequence) and ``items``."""
        cfg = self.config
        try:
            n_read = self._read(ctx)
            _filter_and_report(ctx, cfg.filters, n_read)
            if cfg.items is not None:
                _read_items(ctx, cfg.items, cfg.on_bad_rows)
        finally:
            _cleanup(ctx.con)

    def _read(self, ctx: DataContext) -> int:
        """Create ``interactions`` from the sequence file; return the interactions read."""
        cfg, con = self.config, ctx.con
        file = _existing(cfg.path, "path")
        split = (f"string_split(line, {_q(cfg.delimiter)})" if cfg.delimiter.strip() else
                 "regexp_split_to_array(line, '\\s+')")
        _read_lines(con, file, cfg.encoding, "_ingest_toks", f"list_filter(list_transform({split}, "
                    "lambda x: trim(x)), lambda x: x <> '') AS toks")
        if cfg.format == "pairs":
            where = "FROM _ingest_toks WHERE len(toks) NOT IN (0, 2)"
            bad = con.execute(f"SELECT rowid + 1, len(toks), array_to_string(toks, ' ') {where} "
                              f"ORDER BY rowid LIMIT {SHOWN}").fetchall()
            first = [(r, f"expected 2 fields (user item), found {n}", t) for r, n, t in bad]
            kinds = {"not a 'user item' pair": _one(con, f"SELECT count(*) {where}")[0]}
            _handle_bad(ctx, cfg.on_bad_rows, Bad(file, "line", kinds, first))
            items, keep = "toks[2:2]", "len(toks) = 2"
        else:
            n, lines = _one(con, "SELECT count(*), list(rowid + 1 ORDER BY rowid)[1:5] FROM "
                            "_ingest_toks WHERE len(toks) = 1")
            if n:
                ctx.report("ingest", f"{file.name}: dropped {n} users with no items (lines "
                           f"{', '.join(map(str, lines))})")
            items, keep = "toks[2:]", "len(toks) > 1"
        # start: items on earlier lines; pos: the user's items on earlier lines (no big sorts)
        con.execute(
            "CREATE OR REPLACE TABLE interactions AS WITH l AS (SELECT rowid AS _row, toks[1] AS "
            f"user_id, {items} AS items FROM _ingest_toks WHERE {keep}), o AS (SELECT *, CAST(sum("
            "len(items)) OVER (ORDER BY _row) AS BIGINT) - len(items) AS start, CAST(sum(len("
            "items)) OVER (PARTITION BY user_id ORDER BY _row) AS BIGINT) - len(items) AS pos "
            "FROM l), "
            "x AS (SELECT user_id, unnest(items) AS item_id, unnest(range(pos, pos + len(items))) "
            "AS ts, unnest(range(start, start + len(items))) AS row_no FROM o) SELECT user_id, "
            "item_id, CAST(ts AS DOUBLE) AS ts, CAST(NULL AS DOUBLE) AS rating, CAST(NULL AS "
            "DOUBLE) AS weight, row_no FROM x ORDER BY row_no")
        n_read = _one(con, "SELECT count(*) FROM interactions")[0]
        ctx.report("ingest", f"{file.name}: {n_read} interactions read")
        return n_read


# -- synthetic ------------------------------------------------------------------------------

TOPIC_WORDS = {
    "space": ["galaxy", "orbit", "comet", "nebula", "rocket", "planet"],
    "ocean": ["reef", "tide", "whale", "harbor", "coral", "current"],
    "cooking": ["recipe", "kitchen", "spice", "bread", "sauce", "oven"],
    "music": ["melody", "guitar", "rhythm", "chorus", "piano", "drum"],
    "garden": ["flower", "seed", "orchard", "blossom", "herb", "soil"],
    "history": ["empire", "castle", "dynasty", "relic", "chronicle", "war"],
    "sports": ["stadium", "league", "sprint", "goal", "champion", "match"],
    "travel": ["journey", "passport", "island", "voyage", "road", "map"],
    "technology": ["robot", "circuit", "code", "network", "laser", "chip"],
    "mystery": ["detective", "clue", "secret", "shadow", "cipher", "alibi"],
    "wildlife": ["wolf", "eagle", "forest", "safari", "tiger", "nest"],
    "art": ["canvas", "sculpture", "portrait", "gallery", "palette", "mural"],
}
ADJECTIVES = ["Silent", "Golden", "Hidden", "Brave", "Ancient", "Bright", "Wild", "Lost", "Quiet",
              "Grand", "Little", "Crimson", "Distant", "Secret", "Endless", "Frozen"]
NOUNS = ["Tales", "Guide", "Stories", "Handbook", "Chronicles", "Journal", "Atlas", "Notes"]
SERIES = 5  # items per series: runs of consecutive items of a topic that users follow in order


def _titles(topic: np.ndarray, rank: np.ndarray, n_topics: int) -> tuple[list[str], list[str]]:
    """Titles (a topic word, a series name and a part number) and genres (topic names)."""
    extra = [(f"topic{k + 1}", [f"{w}{k + 1}" for w in ("theme", "motif", "idea", "form")])
             for k in range(len(TOPIC_WORDS), n_topics)]
    topics = [*TOPIC_WORDS.items(), *extra]
    titles, genres = [], []
    for t, r in zip(topic.tolist(), rank.tolist(), strict=True):
        name, words = topics[t]
        s = r // SERIES
        titles.append(f"{ADJECTIVES[(s * 7 + t) % len(ADJECTIVES)]} {words[s % len(words)].title()}"
                      f" {NOUNS[(s + t) % len(NOUNS)]} {s + 1}, part {r % SERIES + 1}")
        genres.append(name)
    return titles, genres


def generate(cfg: SyntheticConfig) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Synthetic sequences with topic, popularity, Markov and series (next-item) structure.

    Items are grouped by topic; within a topic, popularity is Zipf over the item's rank, and
    ranks form series of ``SERIES`` items. Each user has a taste over topics. At each step a user
    stays in the topic or, with chance ``drift``, moves along a fixed topic-transition matrix
    mixed with their taste; they take the series' next item with chance ``follow``, else a
    popular item of the topic (retrying up to 3 times to avoid items already seen).
    """
    import numpy as np

    rng = np.random.default_rng(cfg.seed)
    n, k, m = cfg.n_users, cfg.n_topics, cfg.n_items
    topic = np.sort(np.arange(m) % k)
    start, size = np.searchsorted(topic, np.arange(k)), np.bincount(topic, minlength=k)
    rank = np.arange(m) - start[topic]
    pop = 1.0 / (rank + 1.0) ** cfg.zipf
    cum = np.cumsum(pop / np.bincount(topic, weights=pop)[topic])  # topic t spans (t, t + 1]
    nxt = np.where(rank + 1 < size[topic], np.arange(m) + 1, start[topic])
    trans = rng.dirichlet(np.full(k, 0.3), size=k) + 1e-9
    np.fill_diagonal(trans, 0.0 if k > 1 else 1.0)
    trans /= trans.sum(axis=1, keepdims=True)
    taste = rng.dirichlet(np.full(k, cfg.taste), size=n)
    lengths = rng.integers(cfg.min_len, cfg.max_len + 1, size=n)

    def pick(probs: np.ndarray) -> np.ndarray:
        return (probs.cumsum(axis=1) < rng.random((len(probs), 1))).sum(axis=1).clip(0, k - 1)

    def popular(t: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(cum, t + rng.random(len(t)), side="right")
        return np.clip(idx, start[t], start[t] + size[t] - 1)

    seq = np.empty((n, cfg.max_len), dtype=np.int64)
    cur = pick(taste)
    seq[:, 0] = popular(cur)
    for step in range(1, cfg.max_len):
        move = rng.random(n) < cfg.drift
        cur = np.where(move, pick(0.5 * trans[cur] + 0.5 * taste), cur)
        item = np.where(~move & (rng.random(n) < cfg.follow), nxt[seq[:, step - 1]], popular(cur))
        for _ in range(3):
            seen = (seq[:, :step] == item[:, None]).any(axis=1)
            item[seen] = popular(cur[seen])
        seq[:, step] = item
    label = rng.permutation(m) + 1
    keep = np.arange(cfg.max_len)[None, :] < lengths[:, None]
    rows = {"user_id": np.repeat(np.arange(1, n + 1), lengths), "item_id": label[seq[keep]],
            "ts": np.broadcast_to(np.arange(cfg.max_len, dtype=np.float64), seq.shape)[keep],
            "row_no": np.arange(int(lengths.sum()), dtype=np.int64)}
    titles, genres = _titles(topic, rank, k)
    return rows, {"item_id": [str(x) for x in label], "title": titles, "genres": genres}


class SyntheticIngest:
    """Generates topic-structured sequences (deterministic for a seed), with item titles."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config

    def inputs(self) -> list[Path]:
        """Nothing is read: the data depends only on the params."""
        return []

    def run(self, ctx: DataContext) -> None:
        """Create ``interactions`` and ``items`` (item_id, title, genres)."""
        import numpy as np

        rows, items = generate(self.config)
        con = ctx.con
        con.register("_ingest_synth", rows)
        con.execute("CREATE OR REPLACE TABLE interactions AS SELECT CAST(user_id AS VARCHAR) AS "
                    "user_id, CAST(item_id AS VARCHAR) AS item_id, ts, CAST(NULL AS DOUBLE) AS "
                    "rating, CAST(NULL AS DOUBLE) AS weight, row_no FROM _ingest_synth "
                    "ORDER BY row_no")
        con.unregister("_ingest_synth")
        con.register("_ingest_synth", {k: np.array(v, dtype=object) for k, v in items.items()})
        con.execute("CREATE OR REPLACE TABLE items AS SELECT CAST(item_id AS VARCHAR) AS item_id, "
                    "CAST(title AS VARCHAR) AS title, CAST(genres AS VARCHAR) AS genres "
                    "FROM _ingest_synth ORDER BY CAST(item_id AS BIGINT)")
        con.unregister("_ingest_synth")
        cfg = self.config
        ctx.report("ingest", f"synthetic: {len(rows['user_id'])} interactions, {cfg.n_users} users,"
                   f" {cfg.n_items} items in {cfg.n_topics} topics")


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in ingest stages."""
    return [
        StageSpec(Family.INGEST, "files", FilesConfig, FilesIngest,
                  "Interactions (and item side data) from CSV/TSV/'::', Parquet or JSON lines."),
        StageSpec(Family.INGEST, "sequences", SequencesConfig, SequencesIngest,
                  "Ready-made sequences: 'user item item ...' lines or 'user item' pairs."),
        StageSpec(Family.INGEST, "synthetic", SyntheticConfig, SyntheticIngest,
                  "Deterministic synthetic sequences with topic, Markov and next-item structure."),
    ]
