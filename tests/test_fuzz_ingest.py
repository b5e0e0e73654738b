"""Property-based fuzzing of the ingest readers (`files` with CSV, JSON lines and Parquet;
`sequences`), with generated and mutated contents: each run either reads the file or raises a
`RecsysKitError`, never anything else; and what it reads is honest (finite numbers, ids
without control characters).

Bounded by the Hypothesis profile in conftest.py (`HYPOTHESIS_PROFILE=fuzz` explores more).
"""

from __future__ import annotations

import gzip
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import duckdb
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from recsys_kit.builtin.ingest import FilesConfig, SequencesConfig
from recsys_kit.errors import RecsysKitError
from recsys_kit.ingest.files import FilesIngest
from recsys_kit.ingest.sequences import SequencesIngest
from recsys_kit.runner.context import DataContext

SCRATCH = Path(tempfile.mkdtemp(prefix="recsys-kit-fuzz-ingest-"))
CONTROL = re.compile("[\x00-\x1f\x7f]")
OPTIONAL = ["ts", "rating", "weight", "title", "x"]

ODD = ["", " ", "nan", "NaN", "inf", "-inf", "Infinity", "infinity", "1e999", "-0", "0",
       "2020-01-01", "2020-13-45", "9999-12-31 23:59:59", "1.5", "abc", '"', '""', "'", ",",
       ";", "\t", "::", "\\", "\x00", "a\x00b", "\x1b", "\r", "\ufeff", "é", "\U0001f600"]
CELL = st.one_of(st.sampled_from(["1", "2", "3", "a", "b", "c", "10", "20"]), st.sampled_from(ODD),
                 st.integers(min_value=-10**20, max_value=10**20).map(str), st.floats().map(repr),
                 st.text(max_size=8))
POLICY = st.sampled_from(["skip", "skip", "error"])
#: Columns of a generated table: the ids always (so that reads succeed often enough for
#: the honesty checks to matter), and some of the others, in any order.
HEADER = st.lists(st.sampled_from(OPTIONAL), max_size=4, unique=True).flatmap(
    lambda extra: st.permutations(["user_id", "item_id", *extra]))


def run(stage: Any) -> None:
    """Run a reader; a RecsysKitError is a fine outcome, anything else fails the test. When
    it reads, what it read must be honest."""
    ctx = DataContext(con=duckdb.connect(), console=Console(quiet=True))
    try:
        stage.run(ctx)
    except RecsysKitError:
        return
    rows = ctx.con.execute("SELECT user_id, item_id, ts, rating, weight FROM interactions")
    for user, item, *numbers in rows.fetchall():
        assert user.strip() and item.strip() and not CONTROL.search(user + item), (user, item)
        assert all(v is None or math.isfinite(v) for v in numbers), numbers


def _write(name: str, data: bytes, compress: int) -> Path:
    """Write ``data`` to ``name`` (gzipped, or gzipped and cut short, per ``compress``)."""
    if compress:
        name += ".gz"
        data = gzip.compress(data)
        data = data[: max(1, len(data) * compress // 3)]
    path = SCRATCH / name
    path.write_bytes(data)
    return path


@given(HEADER, st.data(), st.sampled_from([",", "\t", "::", "|"]), st.booleans(), POLICY,
       st.integers(min_value=0, max_value=3))
def test_csv(header: list[str], data: st.DataObject, delimiter: str, quoted: bool,
             policy: str, compress: int) -> None:
    width = len(header)
    row = st.lists(CELL, min_size=width, max_size=width) | st.lists(CELL, max_size=width + 2)
    rows = data.draw(st.lists(row, max_size=12))

    def line(cells: list[str]) -> str:
        return delimiter.join(f'"{c}"' if quoted else c for c in cells)

    text = "\n".join([line(header), *(line(r) for r in rows)]) + "\n"
    path = _write("events.csv", text.encode("utf-8", "surrogatepass"), compress)
    source = {"path": str(path), "delimiter": delimiter}
    run(FilesIngest(FilesConfig(interactions=source, on_bad_rows=policy)))


JSON_VALUE = st.one_of(st.sampled_from(["1", "a", 1, 2.5]), st.none(), st.booleans(),
                       st.integers(), st.floats(), st.text(max_size=8), st.sampled_from(ODD),
                       st.lists(st.integers(), max_size=2))
JSON_ROW = st.fixed_dictionaries({"user_id": JSON_VALUE, "item_id": JSON_VALUE},
                                 optional={c: JSON_VALUE for c in OPTIONAL})


@given(st.lists(st.one_of(
    JSON_ROW.map(json.dumps), JSON_ROW.map(json.dumps), st.text(max_size=20),
    st.sampled_from(["{}", "[]", "null", "{", '{"user_id": "1", "item_id": "a", "ts": NaN}'])),
    max_size=12), POLICY)
def test_json_lines(lines: list[str], policy: str) -> None:
    path = _write("events.jsonl", "\n".join(lines).encode("utf-8", "surrogatepass"), 0)
    run(FilesIngest(FilesConfig(interactions={"path": str(path)}, on_bad_rows=policy)))


TYPES = {"VARCHAR": st.one_of(st.text(max_size=6), st.sampled_from(ODD)),
         "BIGINT": st.integers(min_value=-2**63, max_value=2**63 - 1),
         "DOUBLE": st.floats(), "BOOLEAN": st.booleans(),
         "DATE": st.sampled_from(["2020-01-01", "infinity", "-infinity", "1970-01-01"]),
         "TIMESTAMP": st.sampled_from(["2020-01-01 10:00:00", "infinity", "-infinity"])}


@given(st.data(), HEADER, st.integers(min_value=0, max_value=8), POLICY,
       st.sampled_from([-1, -1, *range(0, 200, 7)]))
def test_parquet(data: st.DataObject, columns: list[str], n_rows: int, policy: str,
                 damage: int) -> None:
    types = [data.draw(st.sampled_from(sorted(TYPES))) for _ in columns]
    values = {"VARCHAR": st.sampled_from(["1", "2", "a", "b"]), "BIGINT": st.integers(0, 3)}
    rows = [tuple(data.draw(values.get(t, st.nothing()) | st.none() | TYPES[t]) for t in types)
            for _ in range(n_rows)]
    path = SCRATCH / "events.parquet"
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (" + ", ".join(f'"{c}" {t}' for c, t in
                                                     zip(columns, types, strict=True)) + ")")
        if rows:
            marks = ", ".join("?" * len(columns))
            con.executemany(f"INSERT INTO t VALUES ({marks})", rows)
        con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    if damage >= 0:  # flip one byte or cut the file short (-1: leave it whole)
        raw = bytearray(path.read_bytes())
        if damage % 2:
            raw[damage % len(raw)] ^= 0x5A
        else:
            raw = raw[: damage % len(raw)]
        path.write_bytes(bytes(raw))
    run(FilesIngest(FilesConfig(interactions={"path": str(path)}, on_bad_rows=policy)))


TOKEN = st.one_of(st.sampled_from(["u1", "u2", "a", "b", "c"]), st.sampled_from(ODD),
                  st.text(max_size=4))


@given(st.lists(st.lists(TOKEN, max_size=6), max_size=12), st.sampled_from([" ", ",", "\t", "::"]),
       st.sampled_from(["user_items", "pairs"]), POLICY, st.integers(min_value=0, max_value=3))
def test_sequences(lines: list[list[str]], delimiter: str, fmt: str, policy: str,
                   compress: int) -> None:
    text = "\n".join(delimiter.join(tokens) for tokens in lines)
    path = _write("sequences.txt", text.encode("utf-8", "surrogatepass"), compress)
    run(SequencesIngest(SequencesConfig(path=str(path), format=fmt, delimiter=delimiter,
                                        on_bad_rows=policy)))


@given(st.binary(max_size=600), st.sampled_from(["events.csv", "events.jsonl", "events.parquet",
                                                 "events.csv.gz", "sequences.txt"]))
def test_any_bytes(data: bytes, name: str) -> None:
    path = SCRATCH / name
    path.write_bytes(data)
    if name.startswith("sequences"):
        run(SequencesIngest(SequencesConfig(path=str(path))))
    else:
        run(FilesIngest(FilesConfig(interactions={"path": str(path)}, on_bad_rows="skip")))
