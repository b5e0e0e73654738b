"""Tests of the built-in ingest stages: files, sequences and synthetic."""

from __future__ import annotations

import gzip
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pydantic import BaseModel, ValidationError

from recsys_kit.builtin import ingest
from recsys_kit.builtin.ingest import FilesConfig, SequencesConfig, SyntheticConfig
from recsys_kit.errors import DataError
from recsys_kit.ingest import synthetic
from recsys_kit.ingest.files import FilesIngest
from recsys_kit.ingest.sequences import SequencesIngest
from recsys_kit.ingest.synthetic import SyntheticIngest
from recsys_kit.runner.context import DataContext
from recsys_kit.stages import Family

SCHEMA = [("user_id", "VARCHAR"), ("item_id", "VARCHAR"), ("ts", "DOUBLE"), ("rating", "DOUBLE"),
          ("weight", "DOUBLE"), ("row_no", "BIGINT")]


def make_ctx() -> DataContext:
    """A data context on a fresh in-memory DuckDB."""
    return DataContext(con=duckdb.connect())


def rows(ctx: DataContext, sql: str) -> list[tuple[Any, ...]]:
    """All rows of a query."""
    return ctx.con.execute(sql).fetchall()


def run_stage(stage: Any) -> DataContext:
    """Run ``stage`` on a fresh context; check that it leaves no open result behind."""
    ctx = make_ctx()
    stage.run(ctx)
    assert ctx.con.sql("SELECT 1").fetchall() == [(1,)]  # fails on an unfinished result
    return ctx


def run_files(**params: Any) -> DataContext:
    """Run the files stage with ``params``; return its context."""
    return run_stage(FilesIngest(FilesConfig(**params)))


def run_sequences(**params: Any) -> DataContext:
    """Run the sequences stage with ``params``; return its context."""
    return run_stage(SequencesIngest(SequencesConfig(**params)))


def interactions(ctx: DataContext) -> list[tuple[Any, ...]]:
    """The interactions table in row order."""
    return rows(ctx, "SELECT * FROM interactions ORDER BY row_no")


def schema(ctx: DataContext, table: str = "interactions") -> list[tuple[str, str]]:
    """(column, type) of a table."""
    return rows(ctx, f"SELECT column_name, column_type FROM (DESCRIBE {table})")


def write(path: Path, text: str, encoding: str = "utf-8") -> str:
    """Write ``text`` (gzip-compressed for .gz paths); return the path as a string."""
    data = text.encode(encoding)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return str(path)


ML = "1::10::5::100\n1::11::4::101\n2::10::3::102\n"
ML_COLS = {"delimiter": "::", "header": False, "columns": ["user_id", "item_id", "rating", "ts"]}


# -- registration and configs ---------------------------------------------------------------


def test_register_stages_names_three_ingest_stages() -> None:
    specs = ingest.register_stages()
    assert {(s.family, s.name) for s in specs} == {
        (Family.INGEST, "files"), (Family.INGEST, "sequences"), (Family.INGEST, "synthetic")}
    assert all(s.description for s in specs)


def _models(model: type[BaseModel], seen: set[type]) -> set[type[BaseModel]]:
    seen.add(model)
    for field in model.model_fields.values():
        for arg in [field.annotation, *getattr(field.annotation, "__args__", ())]:
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in seen:
                _models(arg, seen)
    return seen


@pytest.mark.parametrize("config", [FilesConfig, SequencesConfig, SyntheticConfig])
def test_every_field_is_described_and_unknown_keys_are_refused(config: type[BaseModel]) -> None:
    for model in _models(config, set()):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
    with pytest.raises(ValidationError, match="extra"):
        config.model_validate({"path": "x", "interactions": {"path": "x"}, "nope": 1})


@pytest.mark.parametrize("spelling", ["latin1", "ISO-8859-1", "latin-1", "iso8859_1"])
def test_latin1_spellings_become_duckdb_latin_1(spelling: str) -> None:
    config = FilesConfig(interactions={"path": "x.csv", "encoding": spelling})
    assert config.interactions.encoding == "latin-1"


def test_unknown_encoding_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="unknown encoding"):
        SequencesConfig(path="x", encoding="ebcdic")


def test_inputs_list_the_files_read() -> None:
    files = FilesIngest(FilesConfig(interactions={"path": "a.csv"}, items={"path": "b.csv"}))
    assert files.inputs() == [Path("a.csv"), Path("b.csv")]
    assert SequencesIngest(SequencesConfig(path="s.txt")).inputs() == [Path("s.txt")]
    assert SyntheticIngest(SyntheticConfig()).inputs() == []


# -- files: formats -------------------------------------------------------------------------


def test_double_colon_delimiter_without_header(tmp_path: Path) -> None:
    ctx = run_files(interactions={"path": write(tmp_path / "r.dat", ML), **ML_COLS})
    assert schema(ctx) == SCHEMA
    assert interactions(ctx) == [("1", "10", 100.0, 5.0, None, 0), ("1", "11", 101.0, 4.0, None, 1),
                                 ("2", "10", 102.0, 3.0, None, 2)]


def test_gzip_file_is_read(tmp_path: Path) -> None:
    ctx = run_files(interactions={"path": write(tmp_path / "r.dat.gz", ML), **ML_COLS})
    assert len(interactions(ctx)) == 3


def test_latin1_items_with_gzip(tmp_path: Path) -> None:
    text = "10::Misérables, Les (1995)::Drama\n11::Café::Comedy\n"
    movies = write(tmp_path / "movies.dat.gz", text, "latin-1")
    ctx = run_files(interactions={"path": write(tmp_path / "r.dat", ML), **ML_COLS},
                    items={"path": movies, "delimiter": "::", "header": False,
                           "encoding": "latin1", "columns": ["item_id", "title", "genres"]})
    assert schema(ctx, "items") == [("item_id", "VARCHAR"), ("title", "VARCHAR"),
                                    ("genres", "VARCHAR")]
    assert rows(ctx, "SELECT * FROM items") == [("10", "Misérables, Les (1995)", "Drama"),
                                                ("11", "Café", "Comedy")]


def test_header_mapping_and_row_order_as_time(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "userId,movieId,score\nu1,a,1.5\nu2,b,2\n")
    mapping = {"user_id": "userId", "item_id": "movieId", "weight": "score"}
    ctx = run_files(interactions={"path": path, "mapping": mapping})
    assert interactions(ctx) == [("u1", "a", 0.0, None, 1.5, 0), ("u2", "b", 1.0, None, 2.0, 1)]


def test_tsv_without_header_uses_field_names(tmp_path: Path) -> None:
    path = write(tmp_path / "u.tsv", "1\t7\t3\t50\n2\t8\t4\t40\n")
    ctx = run_files(interactions={"path": path, "header": False, "mapping": {
        "user_id": "field1", "item_id": "field2", "rating": "field3", "ts": "field4"}})
    assert interactions(ctx) == [("1", "7", 50.0, 3.0, None, 0), ("2", "8", 40.0, 4.0, None, 1)]


@pytest.fixture
def tokyo_time() -> Iterator[None]:
    """The process in Tokyo's time zone (UTC+9), as a machine there would be."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_text_times_keep_their_utc_offset_and_others_are_utc(tmp_path: Path,
                                                              tokyo_time: None) -> None:
    # TIMESTAMP dropped `+02:00`: a came after b and became the test item. The machine's time
    # zone must not matter to times written without an offset.
    path = write(tmp_path / "r.csv", "user,item,at\nu,c,2020-01-01T07:00:00Z\n"
                 "u,a,2020-01-01T10:00:00+02:00\nu,b,2020-01-01 09:00:00\n"
                 "u,d,2020-01-01 10:30 -0130\nu,e,2020-01-01T13:30:00 Europe/Berlin\n")
    ctx = run_files(interactions={"path": path, "mapping": {"user_id": "user", "item_id": "item",
                                                            "ts": "at"}})
    utc = {"c": "07:00", "a": "08:00", "b": "09:00", "d": "12:00", "e": "12:30"}
    assert {item: ts for _, item, ts, *_ in interactions(ctx)} == {
        item: datetime.fromisoformat(f"2020-01-01T{hhmm}+00:00").timestamp()
        for item, hhmm in utc.items()}


def test_parquet_with_timestamp_column(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    duckdb.connect().execute(
        "COPY (SELECT * FROM (VALUES (1, 10, TIMESTAMP '1970-01-01 00:01:40', 4.0), "
        "(2, 11, TIMESTAMP '1970-01-01 00:01:41', 5.0)) t(u, i, t, r)) "
        f"TO '{path}' (FORMAT parquet)").fetchall()
    ctx = run_files(interactions={"path": str(path), "mapping": {
        "user_id": "u", "item_id": "i", "ts": "t", "rating": "r"}})
    assert interactions(ctx) == [("1", "10", 100.0, 4.0, None, 0), ("2", "11", 101.0, 5.0, None, 1)]


def test_json_lines_with_blank_line(tmp_path: Path) -> None:
    lines = [json.dumps({"user": "a", "item": 1, "time": 5}), "",
             json.dumps({"user": "b", "item": 2, "time": "2020-01-01 00:00:00"})]
    path = write(tmp_path / "r.jsonl", "\n".join(lines) + "\n")
    ctx = run_files(interactions={"path": path, "mapping": {
        "user_id": "user", "item_id": "item", "ts": "time"}})
    assert interactions(ctx) == [("a", "1", 5.0, None, None, 0),
                                 ("b", "2", 1577836800.0, None, None, 2)]


def test_quoted_header_names_and_only_result_tables_remain(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", '"user id","item,id"\n"u,1",7\n')
    ctx = run_files(interactions={"path": path, "mapping": {"user_id": "user id",
                                                            "item_id": "item,id"}})
    assert interactions(ctx) == [("u,1", "7", 0.0, None, None, 0)]
    assert rows(ctx, "SELECT table_name FROM duckdb_tables()") == [("interactions",)]


def test_items_side_table_with_renamed_columns(tmp_path: Path) -> None:
    item_file = write(tmp_path / "u.item", "10|Toy|x|y\n11|Heat|x|y\n10|Dup|x|y\n")
    ctx = run_files(interactions={"path": write(tmp_path / "r.dat", ML), **ML_COLS},
                    items={"path": item_file, "delimiter": "|", "header": False,
                           "mapping": {"item_id": "field1", "title": "field2"}})
    assert rows(ctx, "SELECT * FROM items") == [("10", "Toy"), ("11", "Heat")]


# -- files: filters -------------------------------------------------------------------------


FILTER_DATA = "u,i,r,t\na,1,5,0\na,2,5,1\na,3,1,2\na,1,4,3\nb,1,5,4\nb,2,5,5\nc,1,5,6\n"
# p and q form a 2-core; r and s only survive a single pass of the minimums
CORE_DATA = "u,i\np,m\np,n\nq,m\nq,n\nr,m\nr,y\ns,y\ns,w\n"


def _filtered(tmp_path: Path, data: str = FILTER_DATA, **filters: Any) -> list[tuple[str, str]]:
    path = write(tmp_path / "f.csv", data)
    mapping = {"user_id": "u", "item_id": "i"}
    if "r" in data.split("\n")[0]:
        mapping.update(rating="r", ts="t")
    ctx = run_files(interactions={"path": path, "mapping": mapping}, filters=filters)
    return [(u, i) for u, i, *_ in interactions(ctx)]


def test_min_rating_drops_low_ratings(tmp_path: Path) -> None:
    kept = _filtered(tmp_path, min_rating=2)
    assert ("a", "3") not in kept and len(kept) == 6


def test_dedupe_keeps_first_pair_in_time_order(tmp_path: Path) -> None:
    ctx = run_files(interactions={"path": write(tmp_path / "d.csv", "user_id,item_id,ts\n"
                                                "a,1,9\na,2,5\na,1,3\n")},
                    filters={"dedupe": True})
    assert [(i, ts) for _, i, ts, *_ in interactions(ctx)] == [("2", 5.0), ("1", 3.0)]


def test_min_item_then_min_user_in_one_pass(tmp_path: Path) -> None:
    kept = _filtered(tmp_path, min_item_interactions=2, min_user_interactions=2)
    assert ("a", "3") not in kept and "c" not in {u for u, _ in kept} and len(kept) == 5


def test_k_core_iterates_until_stable(tmp_path: Path) -> None:
    once = _filtered(tmp_path, CORE_DATA, min_item_interactions=2, min_user_interactions=2)
    assert {u for u, _ in once} == {"p", "q", "r"}
    core = _filtered(tmp_path, CORE_DATA, min_item_interactions=2, min_user_interactions=2,
                     k_core=True)
    assert {u for u, _ in core} == {"p", "q"} and len(core) == 4


def test_filters_that_leave_nothing_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="No interactions are left"):
        _filtered(tmp_path, min_item_interactions=10)


def test_min_rating_without_ratings_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "user_id,item_id\n1,2\n")
    with pytest.raises(DataError, match="no ratings"):
        run_files(interactions={"path": path}, filters={"min_rating": 3})


# -- files: errors --------------------------------------------------------------------------


def test_wrong_field_count_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.dat", "1::10::5::100\n1::11::4\n2::12::3::102\n")
    with pytest.raises(DataError) as err:
        run_files(interactions={"path": path, **ML_COLS})
    message = str(err.value)
    assert "bad.dat line 2" in message and "wrong number of fields" in message
    assert "on_bad_rows: skip" in message and "\n" not in message


def test_non_numeric_rating_names_the_line_after_header_and_blank_lines(tmp_path: Path) -> None:
    text = "u,i,r\n1,10,5\n\n1,11,4\n2,12,five\n"
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=r"bad\.csv line 5: rating is not a number.*2,12,five"):
        run_files(interactions={"path": path, "mapping": {"user_id": "u", "item_id": "i",
                                                          "rating": "r"}})


def test_bad_json_line_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "r.jsonl", '{"user_id": 1, "item_id": 2}\n{"user_id": 1,\n')
    with pytest.raises(DataError, match=r"r\.jsonl line 2: not valid JSON"):
        run_files(interactions={"path": path})


def test_bad_parquet_row_is_named_by_row_number(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    duckdb.connect().execute(
        "COPY (SELECT * FROM (VALUES (1, 10, '4'), (2, 11, 'high')) t(user_id, item_id, rating)) "
        f"TO '{path}' (FORMAT parquet)").fetchall()
    with pytest.raises(DataError, match=r"r\.parquet row 2: rating is not a number.*high"):
        run_files(interactions={"path": str(path)})


def test_skip_bad_rows_reports_and_notes_them(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.dat", "1::10::5::100\n1::11::4\n2::12::x::102\n3::13::1::103\n")
    ctx = make_ctx()
    FilesIngest(FilesConfig(interactions={"path": path, **ML_COLS}, on_bad_rows="skip")).run(ctx)
    assert [(u, i) for u, i, *_ in interactions(ctx)] == [("1", "10"), ("3", "13")]
    skipped = ctx.notes["ingest_skipped"]
    assert [(Path(f).name, line) for f, line, _ in skipped] == [("bad.dat", 2), ("bad.dat", 3)]
    assert "rating is not a number" in skipped[1][2]
    assert any("skipped 2 bad rows" in m for m in ctx.notes["ingest"])


def test_latin1_file_read_as_utf8_suggests_latin1(tmp_path: Path) -> None:
    path = write(tmp_path / "m.dat", "1::2::Café\n", "latin-1")
    with pytest.raises(DataError, match=r"m\.dat line 1: invalid utf-8 .*set encoding: latin-1"):
        run_files(interactions={"path": path, "delimiter": "::", "header": False,
                                "columns": ["user_id", "item_id", "title"]})


def test_missing_file_names_path_cwd_and_set() -> None:
    with pytest.raises(DataError) as err:
        run_files(interactions={"path": "no/such/ratings.csv"})
    message = str(err.value)
    assert "no/such/ratings.csv" in message and "current directory" in message
    assert "--set data.ingest.params.interactions.path=" in message


def test_unknown_mapped_column_lists_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "userId,movieId\n1,2\n")
    with pytest.raises(DataError, match=r"no column 'movieid'.*Did you mean 'movieId'"):
        run_files(interactions={"path": path, "mapping": {"user_id": "userId",
                                                          "item_id": "movieid"}})


def test_columns_must_match_the_field_count(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"must be 4 unique names, one per field.*'::'"):
        run_files(interactions={"path": write(tmp_path / "r.dat", ML), "delimiter": "::",
                                "header": False, "columns": ["user_id", "item_id", "rating"]})


# -- sequences ------------------------------------------------------------------------------


def test_user_items_positions_and_user_without_items(tmp_path: Path) -> None:
    path = write(tmp_path / "s.txt", "1 5 6 7\n2\n\n3  8\t9 \n")
    ctx = run_sequences(path=path)
    assert schema(ctx) == SCHEMA
    assert interactions(ctx) == [("1", "5", 0.0, None, None, 0), ("1", "6", 1.0, None, None, 1),
                                 ("1", "7", 2.0, None, None, 2), ("3", "8", 0.0, None, None, 3),
                                 ("3", "9", 1.0, None, None, 4)]
    assert any("1 users with no items (lines 2)" in m for m in ctx.notes["ingest"])


def test_pairs_positions_per_user(tmp_path: Path) -> None:
    ctx = run_sequences(path=write(tmp_path / "p.txt", "1 5\n2 5\n1 6\n"), format="pairs")
    assert interactions(ctx) == [("1", "5", 0.0, None, None, 0), ("2", "5", 0.0, None, None, 1),
                                 ("1", "6", 1.0, None, None, 2)]


def test_pairs_bad_line_is_named_or_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "1 5\n1 6 7\n1 8\n")
    with pytest.raises(DataError, match=r"p\.txt line 2: expected 2 fields"):
        run_sequences(path=path, format="pairs")
    ctx = run_sequences(path=path, format="pairs", on_bad_rows="skip")
    assert [i for _, i, *_ in interactions(ctx)] == ["5", "8"]


def test_sequences_with_item_text_and_filters(tmp_path: Path) -> None:
    seqs = write(tmp_path / "s.txt", "u1 A B C\nu2 A B\nu3 A\n")
    text = write(tmp_path / "items.text", "item_id:token\ttext:token_seq\nA\tApple. Fruit.\n"
                 "B\tBanana.\n")
    ctx = run_sequences(path=seqs, filters={"min_item_interactions": 2},
                        items={"path": text, "delimiter": "\t",
                               "mapping": {"item_id": "item_id:token", "text": "text:token_seq"}})
    assert [(u, i, ts) for u, i, ts, *_ in interactions(ctx)] == [
        ("u1", "A", 0.0), ("u1", "B", 1.0), ("u2", "A", 0.0), ("u2", "B", 1.0), ("u3", "A", 0.0)]
    assert rows(ctx, "SELECT * FROM items") == [("A", "Apple. Fruit."), ("B", "Banana.")]


def test_sequences_missing_file() -> None:
    with pytest.raises(DataError, match=r"--set data\.ingest\.params\.path="):
        run_sequences(path="missing.txt")


# -- synthetic ------------------------------------------------------------------------------


def _synthetic(**params: Any) -> DataContext:
    return run_stage(SyntheticIngest(SyntheticConfig(**params)))


def test_synthetic_is_deterministic_per_seed() -> None:
    first, again = _synthetic(n_users=300), _synthetic(n_users=300)
    assert interactions(first) == interactions(again)
    assert rows(first, "SELECT * FROM items") == rows(again, "SELECT * FROM items")
    assert interactions(_synthetic(n_users=300, seed=7)) != interactions(first)


def test_synthetic_structure() -> None:
    ctx = _synthetic()
    assert schema(ctx) == SCHEMA
    lengths = [n for (n,) in rows(ctx, "SELECT count(*) FROM interactions GROUP BY user_id")]
    assert len(lengths) == 2000 and min(lengths) >= 20 and max(lengths) <= 60
    assert rows(ctx, "SELECT count(*), count(DISTINCT genres), count(title) FROM items") == [
        (500, 10, 500)]
    assert rows(ctx, "SELECT min(ts), max(row_no) + 1 = count(*) FROM interactions") == [
        (0.0, True)]


def test_synthetic_next_item_beats_popularity() -> None:
    ctx = _synthetic()
    seq = rows(ctx, "SELECT item_id, lead(item_id) OVER (PARTITION BY user_id ORDER BY ts) "
                    "FROM interactions")
    pairs = [(a, b) for a, b in seq if b is not None]
    top = Counter(b for _, b in pairs).most_common(1)[0][0]
    follow: dict[str, Counter[str]] = {}
    for a, b in pairs:
        follow.setdefault(a, Counter())[b] += 1
    best = {a: c.most_common(1)[0][0] for a, c in follow.items()}
    bigram = sum(best[a] == b for a, b in pairs) / len(pairs)
    popular = sum(b == top for _, b in pairs) / len(pairs)
    assert bigram > 0.3 and bigram > 10 * popular
    repeats = rows(ctx, "SELECT count(*) - count(DISTINCT (user_id, item_id)) FROM interactions")
    assert repeats[0][0] < 0.1 * len(pairs)
    # titles carry the topic: every item of a genre uses one of the topic's words
    genre, title = rows(ctx, "SELECT genres, title FROM items LIMIT 1")[0]
    assert any(w in title.lower() for w in dict(synthetic.TOPIC_WORDS)[genre])


def test_synthetic_rejects_inconsistent_sizes() -> None:
    with pytest.raises(ValidationError, match="min_len"):
        SyntheticConfig(min_len=10, max_len=5)


# -- real datasets (skipped without ../shared) ----------------------------------------------


def test_ml1m_ratings_gz_and_movies(shared_data: Path) -> None:
    ml = shared_data / "ml-1m"
    ctx = run_files(
        interactions={"path": str(ml / "ratings-users-1-2999.dat.gz"), **ML_COLS},
        items={"path": str(ml / "movies.dat"), "delimiter": "::", "header": False,
               "encoding": "latin-1", "columns": ["item_id", "title", "genres"]})
    assert rows(ctx, "SELECT count(*), count(DISTINCT user_id), min(rating), max(rating) "
                     "FROM interactions") == [(487650, 2999, 1.0, 5.0)]
    assert interactions(ctx)[0] == ("1", "1193", 978300760.0, 5.0, None, 0)
    assert rows(ctx, "SELECT count(*) FROM items") == [(3883,)]
    title = rows(ctx, "SELECT title FROM items WHERE item_id = '73'")
    assert title == [("Misérables, Les (1995)",)]


def test_ml100k_data_and_items(shared_data: Path) -> None:
    ml = shared_data / "ml-100k"
    ctx = run_files(
        interactions={"path": str(ml / "u.data"), "delimiter": "\t", "header": False,
                      "columns": ["user_id", "item_id", "rating", "ts"]},
        items={"path": str(ml / "u.item"), "delimiter": "|", "header": False,
               "encoding": "latin-1", "mapping": {"item_id": "field1", "title": "field2"}})
    assert rows(ctx, "SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id) "
                     "FROM interactions") == [(100000, 943, 1682)]
    assert rows(ctx, "SELECT count(*) FROM items") == [(1682,)]
    assert rows(ctx, "SELECT title FROM items WHERE item_id = '1'") == [("Toy Story (1995)",)]


def test_beauty_sequences(shared_data: Path) -> None:
    ctx = run_sequences(path=str(shared_data / "amazon-beauty-s3rec" / "Beauty.txt"))
    assert rows(ctx, "SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id) "
                     "FROM interactions") == [(198502, 22363, 12101)]
    assert [i for _, i, *_ in interactions(ctx)[:5]] == ["1", "2", "3", "4", "5"]


def test_ml1m_stable_sequences_3416_items(shared_data: Path) -> None:
    ctx = run_sequences(path=str(shared_data / "ml-1m" / "sequences-stable.txt"),
                        filters={"min_item_interactions": 5})
    assert rows(ctx, "SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id) "
                     "FROM interactions") == [(999611, 6040, 3416)]


def test_scientific_sequences_with_text(shared_data: Path) -> None:
    sci = shared_data / "amazon-scientific-unisrec"
    ctx = run_sequences(path=str(sci / "sequences.txt"),
                        items={"path": str(sci / "Scientific.text"), "delimiter": "\t",
                               "mapping": {"item_id": "item_id:token", "text": "text:token_seq"}})
    assert rows(ctx, "SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id) "
                     "FROM interactions") == [(59427, 8442, 4385)]
    assert rows(ctx, "SELECT count(*), count(text) FROM items WHERE item_id IN "
                     "(SELECT item_id FROM interactions)") == [(4385, 4385)]
