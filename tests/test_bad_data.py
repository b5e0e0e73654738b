"""Bad input rows the readers must name (file and line), or skip and count one each under
`on_bad_rows: skip`: non-finite times, ratings and weights (CSV text, JSON, Parquet),
control characters inside ids, a short row, damaged gzip files. One file per case in
tests/data/bad_data; Parquet and gzip cases are generated here."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rich.console import Console

from recsys_kit.builtin.ingest import FilesConfig, SequencesConfig
from recsys_kit.errors import DataError
from recsys_kit.ingest.files import FilesIngest
from recsys_kit.ingest.sequences import SequencesIngest
from recsys_kit.runner.context import DataContext

DATA = Path(__file__).parent / "data" / "bad_data"

#: file -> (line of the first bad row, what the error says, rows kept under skip)
FILES_CASES = {
    "nan_ts.csv": (3, "ts is not a finite number", 2),
    "minus_inf_ts.csv": (4, "ts is not a finite number", 2),
    "infinity_date_ts.csv": (3, "ts is not a finite number", 2),
    "nan_rating.csv": (3, "rating is not a finite number", 2),
    "inf_weight.csv": (4, "weight is not a finite number", 2),
    "nul_in_item_id.csv": (3, "item_id holds a control character", 2),
    "escape_in_user_id.csv": (3, "user_id holds a control character", 2),
    "short_row.csv": (3, "wrong number of fields (expected 4, found 1", 2),
    "non_finite.jsonl": (2, "ts is not a finite number", 1),
}
SEQUENCE_CASES = {
    "nul_in_sequence.txt": ({}, 2, "an id holds a control character", 5),
    "escape_in_pair.txt": ({"format": "pairs"}, 3, "an id holds a control character", 3),
}


def _ctx() -> DataContext:
    return DataContext(con=duckdb.connect(), console=Console(quiet=True))


def run_files(path: Path, source: dict[str, Any] | None = None, **params: Any) -> DataContext:
    """Run the files stage on ``path`` (read as ``source`` says); return its context."""
    ctx = _ctx()
    interactions = {"path": str(path), **(source or {})}
    FilesIngest(FilesConfig(interactions=interactions, **params)).run(ctx)
    return ctx


def run_sequences(path: Path, **params: Any) -> DataContext:
    """Run the sequences stage on ``path``; return its context."""
    ctx = _ctx()
    SequencesIngest(SequencesConfig(path=str(path), **params)).run(ctx)
    return ctx


def kept(ctx: DataContext) -> int:
    """Interactions the stage kept."""
    return ctx.con.execute("SELECT count(*) FROM interactions").fetchone()[0]


def skipped_once(ctx: DataContext) -> bool:
    """Whether the stage reported exactly one skipped row."""
    return any("skipped 1 bad row " in note for note in ctx.notes["ingest"])


@pytest.mark.parametrize("name", FILES_CASES)
def test_files_reader_names_the_bad_row(name: str) -> None:
    line, text, _ = FILES_CASES[name]
    with pytest.raises(DataError, match=re.escape(f"{name} line {line}: {text}")):
        run_files(DATA / name)


@pytest.mark.parametrize("name", FILES_CASES)
def test_files_reader_skips_and_counts_each_bad_row_once(name: str) -> None:
    ctx = run_files(DATA / name, on_bad_rows="skip")
    assert kept(ctx) == FILES_CASES[name][2]
    if name != "non_finite.jsonl":  # three bad lines there
        assert skipped_once(ctx), ctx.notes["ingest"]
    values = ctx.con.execute("SELECT list(ts), list(rating), list(weight) FROM interactions")
    assert all(v is None or (v == v and abs(v) != float("inf"))
               for column in values.fetchone() for v in column)


@pytest.mark.parametrize("name", SEQUENCE_CASES)
def test_sequences_reader_names_or_skips_the_bad_line(name: str) -> None:
    params, line, text, rows = SEQUENCE_CASES[name]
    with pytest.raises(DataError, match=f"{name} line {line}: {text}"):
        run_sequences(DATA / name, **params)
    ctx = run_sequences(DATA / name, on_bad_rows="skip", **params)
    assert kept(ctx) == rows and skipped_once(ctx)


def test_control_character_in_an_items_id(tmp_path: Path) -> None:
    good = tmp_path / "inter.csv"
    good.write_text("user_id,item_id\n1,a\n1,b\n1,c\n")
    items = {"path": str(DATA / "nul_in_items.csv")}
    with pytest.raises(DataError, match=r"nul_in_items\.csv line 3: item_id holds a control"):
        run_files(good, items=items)


def test_parquet_nan_and_infinite_doubles(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM (VALUES ('1', 'a', 1.0, 5.0), ('1', 'b', 2.0, "
                    "'nan'::DOUBLE), ('1', 'c', 'inf'::DOUBLE, 4.0), ('1', 'd', 4.0, 3.0)) "
                    f"t(user_id, item_id, ts, rating)) TO '{path}'")
    with pytest.raises(DataError, match=r"events.parquet row 2: rating is not a finite number.* "
                       "1 more rows are bad"):
        run_files(path)
    assert kept(run_files(path, on_bad_rows="skip")) == 2


@pytest.mark.parametrize(("mapping", "text"), [
    ({"item_id": "tags"}, "'tags', mapped to item_id, holds VARCHAR[] values"),
    ({"user_id": "meta"}, "'meta', mapped to user_id, holds STRUCT"),
    ({"rating": "seen"}, "'seen', mapped to rating, holds TIMESTAMP values"),
])
def test_parquet_columns_of_the_wrong_kind_are_refused(tmp_path: Path, mapping: dict[str, str],
                                                        text: str) -> None:
    path = tmp_path / "events.parquet"
    with duckdb.connect() as con:
        con.execute("COPY (SELECT '1' AS user_id, 'a' AS item_id, ['x', 'y'] AS tags, "
                    "{'k': 1} AS meta, TIMESTAMP '2024-01-01' AS seen, 4.0 AS rating "
                    f"FROM range(3)) TO '{path}'")
    with pytest.raises(DataError, match=re.escape(text) + ".*interactions.mapping"):
        run_files(path, {"mapping": mapping})


@pytest.fixture(scope="module")
def gzip_bytes() -> bytes:
    """A gzip file big enough that half of it, or one flipped byte, is damage."""
    rows = "".join(f"{i % 97} {i % 1009}\n" for i in range(30_000))
    return gzip.compress(rows.encode())


@pytest.mark.parametrize("damage", ["truncated", "flipped", "not_gzip"])
def test_damaged_gzip_is_named_by_both_readers(tmp_path: Path, gzip_bytes: bytes,
                                               damage: str) -> None:
    data = bytearray(gzip_bytes)
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped":
        data[len(data) // 2] ^= 0xFF
    else:
        data = bytearray(b"user item\n1 2\n")
    path = tmp_path / "pairs.txt.gz"
    path.write_bytes(bytes(data))
    for run in (lambda: run_sequences(path, format="pairs"),
                lambda: run_files(path, {"delimiter": " ", "header": False})):
        with pytest.raises(DataError, match=r"pairs\.txt\.gz is not a complete, undamaged gzip"):
            run()
