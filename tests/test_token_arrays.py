"""Large data: the token arrays fetched piece by piece equal the whole-result fetch, and the
data stages read a Parquet file within a DuckDB memory limit."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest
from rich.console import Console

from recsys_kit.builtin.ingest import FilesConfig
from recsys_kit.builtin.split import LeaveOneOut, LeaveOneOutConfig
from recsys_kit.builtin.tokenize import ItemIds, ItemIdsConfig
from recsys_kit.data import SequenceData
from recsys_kit.errors import DataError, RecipeError
from recsys_kit.ingest.files import FilesIngest
from recsys_kit.ingest.token_arrays import fetch_tokens
from recsys_kit.plugins import make_plugins
from recsys_kit.recipe.loader import validate_mapping
from recsys_kit.runner.context import DataContext
from recsys_kit.runner.data_stages import prepare_data
from recsys_kit.testing import tiny


def _parquet(path: Path, rows: int) -> Path:
    """Interactions of 23 users with some ratings missing and tied timestamps."""
    with duckdb.connect() as con:
        con.execute(f"""
            COPY (SELECT 'u' || (i % 23) AS user_id, 'i' || (hash(i) % 41) AS item_id,
                         i // 3 AS ts,
                         CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 7) / 2.0 END AS rating
                  FROM range({rows}) t(i))
            TO '{path}' (FORMAT parquet)
        """)
    return path


def _whole_result(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    """What tokenize fetched before: the whole sorted result in one fetchnumpy()."""
    rows = con.execute("""
        SELECT o.u, v.token, s.split, s.rating FROM split_interactions s
        JOIN vocab v USING (item_id) JOIN user_order o USING (user_id)
        ORDER BY o.u, s.ts, s.row_no""").fetchnumpy()
    n_users = con.execute("SELECT count(*) FROM user_order").fetchone()[0]
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows["u"], minlength=n_users), out=offsets[1:])
    return {"offsets": offsets, "items": np.asarray(rows["token"]),
            "split": np.asarray(rows["split"]),
            "ratings": rows["rating"].filled(np.nan).astype(np.float32)}


@pytest.mark.parametrize("piece", [1, 7, 100, 10_000])
def test_pieces_equal_the_whole_result(tmp_path: Path, piece: int) -> None:
    ctx = DataContext(con=duckdb.connect(), console=Console(quiet=True))
    src = {"interactions": {"path": str(_parquet(tmp_path / "x.parquet", 600))}}
    FilesIngest(FilesConfig(**src)).run(ctx)
    LeaveOneOut(LeaveOneOutConfig()).run(ctx)
    ItemIds(ItemIdsConfig(vocabulary="train")).run(ctx, None)  # leaves vocab and user_order
    expected = _whole_result(ctx.con)
    got = fetch_tokens(ctx, rows_per_piece=piece)
    np.testing.assert_array_equal(got.offsets, expected["offsets"])
    np.testing.assert_array_equal(got.items, expected["items"])
    np.testing.assert_array_equal(got.split, expected["split"])
    np.testing.assert_array_equal(got.ratings, expected["ratings"])  # NaN where unrated
    assert got.items.dtype == np.int64 and got.split.dtype == np.int8


def test_data_stages_read_parquet_within_a_memory_limit(tmp_path: Path) -> None:
    recipe = tiny(tmp_path / "runs", "data.memory_limit=64MB")
    recipe["data"]["ingest"] = {"plugin": "files", "params": {"interactions": {
        "path": str(_parquet(tmp_path / "x.parquet", 5000))}}}
    loaded = validate_mapping(recipe, make_plugins().registry)
    prepared = prepare_data(loaded, tmp_path / "cache", Console(quiet=True),
                            lambda family, name: lambda: None)
    assert prepared.data.n_users == 23 and len(prepared.data.items) == 5000
    assert prepared.data.ratings is not None


@pytest.mark.parametrize(("given", "error"), [
    ("lots", "'lots' is not a size: write a number and a unit"),
    ("1KB", "too little for DuckDB to work in: give at least 16MB"),  # DuckDB failed to start
])
def test_memory_limit_is_validated(given: str, error: str) -> None:
    recipe = tiny(Path("runs"), f"data.memory_limit={given}")
    with pytest.raises(RecipeError, match="memory_limit") as info:
        validate_mapping(recipe, make_plugins().registry)
    assert error in str(info.value)


@pytest.mark.parametrize(("given", "kept"), [("8gb", "8GB"), ("8G", "8GB"), ("1.5 GiB", "1.5GiB")])
def test_memory_limit_takes_sizes_as_duckdb_does(given: str, kept: str) -> None:
    recipe = tiny(Path("runs"), f"data.memory_limit={given}")
    assert validate_mapping(recipe, make_plugins().registry).recipe.data.memory_limit == kept


@pytest.mark.slow
def test_data_stages_spill_past_the_memory_limit(tmp_path: Path) -> None:
    # 400,000 interactions need more than 32 MB in DuckDB: it spills to the cache folder
    # (whose parent folders do not exist yet); at 16 MB some step cannot fit at all.
    path = tmp_path / "big.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT i // 20 AS user_id, hash(i) % 5000 AS item_id, i AS ts "
                    f"FROM range(400000) t(i)) TO '{path}' (FORMAT parquet)")
    plugins = make_plugins()
    for limit in ("32MB", "16MB"):
        recipe = tiny(tmp_path / limit, f"data.memory_limit={limit}")
        recipe["data"]["ingest"] = {"plugin": "files",
                                    "params": {"interactions": {"path": str(path)}}}
        loaded = validate_mapping(recipe, plugins.registry)
        prepare = lambda: prepare_data(loaded, tmp_path / limit / "new" / "cache",  # noqa: E731,B023
                                       Console(quiet=True), lambda family, name: lambda: None)
        if limit == "32MB":
            assert len(prepare().data.items) == 400_000
        else:
            with pytest.raises(DataError, match=r"data.memory_limit"):
                prepare()


def test_a_long_id_does_not_widen_every_id(tmp_path: Path) -> None:
    # A fixed-width unicode array gave each of the ids the longest one's width (4 bytes a
    # character): one 5,000-character id made 3 million rows' ids take gigabytes.
    path = tmp_path / "long.csv"
    long_id = "é" * 5000
    lines = [f"u{u},i{(u + n) % 50},{n}" for u in range(400) for n in range(4)]
    path.write_text("user,item,ts\n" + "\n".join(lines) + f"\n{long_id},i1,0\n{long_id},i2,1\n"
                    f"{long_id},i3,2\n", encoding="utf-8")
    ctx = DataContext(con=duckdb.connect(), console=Console(quiet=True))
    FilesIngest(FilesConfig(interactions={"path": str(path), "mapping": {
        "user_id": "user", "item_id": "item", "ts": "ts"}})).run(ctx)
    LeaveOneOut(LeaveOneOutConfig()).run(ctx)
    data = ItemIds(ItemIdsConfig()).run(ctx, None)
    assert data.user_ids.dtype == object and long_id in data.user_ids.tolist()
    data.save(tmp_path / "data.npz")
    assert (tmp_path / "data.npz").stat().st_size < 200_000  # 401 ids of 5,000 wide: 8 MB
    again = SequenceData.load(tmp_path / "data.npz")
    assert again.user_ids.tolist() == data.user_ids.tolist() and again.user_ids.dtype == object


def test_data_saved_by_earlier_versions_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.npz"
    np.savez(path, user_ids=np.array(["a", "bé"]), item_ids=np.array(["x"]),
             offsets=np.array([0, 1, 2]), items=np.array([1, 1]), split=np.array([0, 0], np.int8),
             side__title=np.array(["Tea"]))
    data = SequenceData.load(path)
    assert data.user_ids.tolist() == ["a", "bé"] and data.item_side["title"].tolist() == ["Tea"]
    assert data.user_ids.dtype == object


def test_data_without_users_or_items_saves_and_loads(tmp_path: Path) -> None:
    # Erasing every user of a serving bundle writes this; reading it back failed.
    empty = SequenceData(user_ids=np.array([], dtype=object), item_ids=np.array(["x"]),
                         offsets=np.array([0]), items=np.array([], dtype=np.int64),
                         split=np.array([], dtype=np.int8), item_side={"title": np.array([""])})
    empty.save(tmp_path / "empty.npz")
    again = SequenceData.load(tmp_path / "empty.npz")
    assert again.user_ids.tolist() == [] and again.item_side["title"].tolist() == [""]

