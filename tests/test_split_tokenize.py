"""Split and tokenize stages on small hand-made interaction tables."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from rich.console import Console

from recsys_kit.builtin.split import LeaveOneOut, LeaveOneOutConfig, Temporal, TemporalConfig
from recsys_kit.builtin.tokenize import ItemIds, ItemIdsConfig
from recsys_kit.columns import TEST, TRAIN, VALID
from recsys_kit.errors import DataError
from recsys_kit.runner.context import DataContext


def context(rows: list[tuple[str, str, float]]) -> DataContext:
    """Interactions (user, item, ts) in the given row order."""
    con = duckdb.connect()
    con.execute("CREATE TABLE interactions (user_id VARCHAR, item_id VARCHAR, ts DOUBLE, "
                "rating DOUBLE, weight DOUBLE, row_no BIGINT)")
    con.executemany("INSERT INTO interactions VALUES (?, ?, ?, NULL, NULL, ?)",
                    [(u, i, t, n) for n, (u, i, t) in enumerate(rows)])
    return DataContext(con=con, console=Console(quiet=True))


def tokenized(ctx: DataContext, **params) -> object:
    return ItemIds(ItemIdsConfig(**params)).run(ctx, None)


def test_leave_one_out_takes_the_latest_items_for_test_and_validation() -> None:
    ctx = context([("u", "c", 3.0), ("u", "a", 1.0), ("u", "d", 4.0), ("u", "b", 2.0)])
    LeaveOneOut(LeaveOneOutConfig()).run(ctx)
    data = tokenized(ctx)
    order = [data.item_ids[t - 1] for t in data.items]
    assert order == ["a", "b", "c", "d"]
    assert list(data.split) == [TRAIN, TRAIN, VALID, TEST]


def test_ties_in_time_are_broken_by_original_row_order() -> None:
    ctx = context([("u", "x", 1.0), ("u", "y", 5.0), ("u", "z", 5.0), ("u", "w", 5.0)])
    LeaveOneOut(LeaveOneOutConfig()).run(ctx)
    data = tokenized(ctx)
    assert [data.item_ids[t - 1] for t in data.items] == ["x", "y", "z", "w"]
    assert data.item_ids[data.targets(TEST)[0][0] - 1] == "w"
    assert data.item_ids[data.targets(VALID)[0][0] - 1] == "z"


def test_leave_one_out_drops_users_too_short_to_split() -> None:
    ctx = context([("short", "a", 1), ("short", "b", 2), ("ok", "a", 1), ("ok", "b", 2),
                   ("ok", "c", 3)])
    LeaveOneOut(LeaveOneOutConfig()).run(ctx)
    assert list(tokenized(ctx).user_ids) == ["ok"]


def test_temporal_split_cuts_globally_and_keeps_users_with_history() -> None:
    rows = [("u1", "a", 1), ("u1", "b", 5), ("u1", "c", 9), ("u2", "a", 2), ("u2", "d", 8),
            ("u3", "e", 9)]
    ctx = context(rows)
    Temporal(TemporalConfig(valid_ts=5, test_ts=8)).run(ctx)
    data = tokenized(ctx)
    assert list(data.user_ids) == ["u1", "u2"]  # u3 has nothing before the cut
    u1 = data.split[data.user_slice(0)]
    assert list(u1) == [TRAIN, VALID, TEST]
    assert list(data.split[data.user_slice(1)]) == [TRAIN, TEST]


def test_temporal_split_without_test_data_is_a_clear_error() -> None:
    ctx = context([("u", "a", 1), ("u", "b", 2)])
    with pytest.raises(DataError, match="test_ts"):
        Temporal(TemporalConfig(valid_ts=5, test_ts=100)).run(ctx)


def test_temporal_config_rejects_cuts_out_of_order() -> None:
    with pytest.raises(ValueError, match="valid_ts"):
        TemporalConfig(valid_ts=10, test_ts=5)


def test_item_vocabulary_reserves_padding_and_mask_tokens() -> None:
    ctx = context([("u", "a", 1), ("u", "b", 2), ("u", "c", 3), ("v", "b", 1), ("v", "a", 2),
                   ("v", "d", 3)])
    LeaveOneOut(LeaveOneOutConfig()).run(ctx)
    data = tokenized(ctx)
    assert data.n_items == 4 and data.mask_token == 5
    assert data.items.min() >= 1 and data.items.max() <= data.n_items
    assert np.array_equal(data.offsets, [0, 3, 6])


def test_train_vocabulary_drops_items_never_seen_in_training() -> None:
    ctx = context([("u", "a", 1), ("u", "b", 2), ("u", "new", 3), ("v", "a", 1), ("v", "b", 2),
                   ("v", "c", 3)])
    LeaveOneOut(LeaveOneOutConfig()).run(ctx)
    data = tokenized(ctx, vocabulary="train")
    assert "new" not in set(data.item_ids) and "c" not in set(data.item_ids)
    assert len(data.targets(TEST)[0]) == 0


def test_item_side_columns_follow_token_order() -> None:
    ctx = context([("u", "a", 1), ("u", "b", 2), ("u", "c", 3)])
    ctx.con.execute("CREATE TABLE items AS SELECT * FROM (VALUES ('c', 'Cee'), ('a', 'Ay'), "
                    "('b', 'Bee'), ('zzz', 'unused')) t(item_id, title)")
    LeaveOneOut(LeaveOneOutConfig()).run(ctx)
    data = tokenized(ctx)
    assert list(data.item_side["title"]) == ["Ay", "Bee", "Cee"]


def test_an_item_table_with_no_side_column_left_gives_no_side_columns() -> None:
    """Privacy keeps only named item columns: an items file may end up with item_id alone."""
    ctx = context([("u", "a", 1), ("u", "b", 2), ("u", "c", 3)])
    ctx.con.execute("CREATE TABLE items AS SELECT * FROM (VALUES ('a'), ('b')) t(item_id)")
    LeaveOneOut(LeaveOneOutConfig()).run(ctx)
    assert tokenized(ctx).item_side == {}


def test_sequence_data_round_trips_through_npz(tmp_path) -> None:
    ctx = context([("u", "a", 1), ("u", "b", 2), ("u", "c", 3)])
    LeaveOneOut(LeaveOneOutConfig()).run(ctx)
    data = tokenized(ctx)
    path = tmp_path / "d.npz"
    data.save(path)
    back = type(data).load(path)
    assert np.array_equal(back.items, data.items) and list(back.user_ids) == ["u"]


def test_temporal_split_without_validation_data_is_a_clear_error() -> None:
    ctx = context([("u", "a", 1), ("u", "b", 2), ("u", "c", 9)])
    with pytest.raises(DataError, match="no validation"):
        Temporal(TemporalConfig(valid_ts=5, test_ts=5)).run(ctx)
