"""A pseudonymised run over people with e-mail ids: no raw id and no key in any byte it
wrote (files, console), only the columns the recipe names, owner-only files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

from recsys_kit.columns import INTERACTIONS, ITEMS
from recsys_kit.data import SequenceData
from recsys_kit.errors import DataError
from recsys_kit.privacy import pseudonym_for
from recsys_kit.privacy.dataset import DataPrivacy
from recsys_kit.privacy.keys import PseudonymKey
from recsys_kit.runner.context import DataContext
from recsys_kit.testing import tiny
from tests.privacy_data import (
    N_ITEMS,
    SECRET,
    files_holding,
    raw_ids,
    recipe_text,
    seller,
    text_values,
    write_data,
)

PRIVACY = "{pseudonymize_users: true, drop_columns: [genres, rating]}"


def cli(*args: str, umask: int = 0o022) -> subprocess.CompletedProcess:
    env = {**os.environ, "RECSYS_KIT_PSEUDONYM_KEY": SECRET, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "recsys_kit", *args], env=env, text=True,
                          capture_output=True, preexec_fn=lambda: os.umask(umask))


@pytest.fixture(scope="module")
def private_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("private")
    interactions, items = write_data(folder / "data", bad_row=True)
    out = folder / "runs"
    recipe = folder / "recipe.yaml"
    recipe.write_text(recipe_text(interactions, items, out, privacy=PRIVACY))
    proc = cli("run", str(recipe))
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "console": proc.stdout + proc.stderr}


def test_no_raw_id_or_key_in_any_file_or_console_line(private_run: dict[str, Any]) -> None:
    out, console = private_run["out"], private_run["console"]
    assert "pseudonyms" in console and "skipped 1 bad row" in console  # the run did report
    assert files_holding(out, [*raw_ids(), SECRET]) == {}
    assert not any(raw in console for raw in raw_ids()) and SECRET not in console
    values = text_values(out / "results.duckdb")
    assert not any(raw in values for raw in raw_ids()) and SECRET not in values


def test_results_hold_the_pseudonyms_of_the_key(private_run: dict[str, Any]) -> None:
    key = PseudonymKey(SECRET.encode(), "test")
    with duckdb.connect(str(private_run["out"] / "results.duckdb"), read_only=True) as con:
        users = {r[0] for r in con.execute("SELECT user_id FROM recommendations").fetchall()}
        stored = con.execute("SELECT key_id, pseudonym_length FROM pseudonym_keys").fetchall()
    assert users == {pseudonym_for(raw, key) for raw in raw_ids()}
    assert stored == [(key.id, 16)]


def test_only_named_columns_reach_the_cache_and_results(private_run: dict[str, Any]) -> None:
    out = private_run["out"]
    unnamed = [seller(i) for i in range(1, N_ITEMS + 1)] + ["Genre1zq", "Genre2zq"]
    assert files_holding(out, unnamed) == {}
    (cache,) = (out / "cache").glob("data-*.npz")
    data = SequenceData.load(cache)
    assert list(data.item_side) == ["title"] and data.ratings is None


def test_every_file_and_folder_is_owner_only_whatever_the_umask(
        private_run: dict[str, Any]) -> None:
    out = private_run["out"]
    paths = [out, *out.rglob("*")]
    assert len(paths) > 5
    loose = [f"{p} {stat.filemode(p.stat().st_mode)}" for p in paths if p.stat().st_mode & 0o077]
    assert loose == []


def test_a_bad_row_is_reported_without_quoting_its_raw_id(tmp_path: Path) -> None:
    interactions, items = write_data(tmp_path / "data", bad_row=True)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(recipe_text(interactions, items, tmp_path / "runs", privacy=PRIVACY,
                                  policy="error"))
    proc = cli("run", str(recipe))
    assert proc.returncode == 1
    assert "line 6: ts is not a number" in proc.stderr.replace("\n", " ")
    assert raw_ids()[3] not in proc.stdout + proc.stderr
    assert files_holding(tmp_path / "runs", raw_ids()) == {}


def privacy_for(tmp_path: Path, *overrides: str) -> DataPrivacy:
    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import validate_mapping

    recipe = tiny(tmp_path / "runs", *overrides)
    return DataPrivacy.of(validate_mapping(recipe, make_plugins().registry))


def test_the_cache_key_depends_on_the_keys_identity_not_the_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_KIT_PSEUDONYM_KEY", SECRET)
    first = privacy_for(tmp_path / "a", "privacy.pseudonymize_users=true").fingerprint()
    again = privacy_for(tmp_path / "b", "privacy.pseudonymize_users=true").fingerprint()
    monkeypatch.setenv("RECSYS_KIT_PSEUDONYM_KEY", "another-key-0123456789abcdef")
    other = privacy_for(tmp_path / "c", "privacy.pseudonymize_users=true").fingerprint()
    plain = privacy_for(tmp_path / "d").fingerprint()
    assert first == again and first != other and first != plain
    assert SECRET not in repr(first) and "another-key" not in repr(other)


def step_context(items: dict[str, list[str]]) -> DataContext:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE {INTERACTIONS} AS SELECT * FROM (VALUES ('u1', 'a', "
                "1.0::DOUBLE, 4.0::DOUBLE, NULL::DOUBLE, 0), ('u2', 'b', 2.0, 5.0, NULL, 1)) "
                "t(user_id, item_id, ts, rating, weight, row_no)")
    con.register("side", {k: np.array(v, dtype=object) for k, v in items.items()})
    con.execute(f"CREATE TABLE {ITEMS} AS SELECT * FROM side")
    return DataContext(con=con)


def test_the_privacy_step_keeps_named_columns_and_drops_the_rest(tmp_path: Path) -> None:
    ctx = step_context({"item_id": ["a", "b"], "title": ["A", "B"], "genres": ["x", "y"],
                        "owner": ["o@x", "p@y"]})
    DataPrivacy(16, keep_columns=["title", "genres"], drop_columns=["genres", "rating"]).apply(ctx)
    columns = [r[0] for r in ctx.con.execute(f"DESCRIBE {ITEMS}").fetchall()]
    assert columns == ["item_id", "title"]
    assert ctx.con.execute(f"SELECT count(rating) FROM {INTERACTIONS}").fetchone() == (0,)
    assert "dropped: genres, owner, rating" in ctx.notes["privacy"][0]


def test_a_misspelt_drop_column_is_an_error_not_a_silent_keep() -> None:
    ctx = step_context({"item_id": ["a"], "title": ["A"]})
    with pytest.raises(DataError, match=r"'titel'.*Did you mean 'title'"):
        DataPrivacy(16, keep_columns=["title"], drop_columns=["titel"]).apply(ctx)


def test_pseudonyms_replace_ids_and_a_collision_is_an_error() -> None:
    ctx = step_context({"item_id": ["a"]})
    key = PseudonymKey(SECRET.encode(), "test")
    DataPrivacy(16, key=key).apply(ctx)
    users = ctx.con.execute(f"SELECT user_id FROM {INTERACTIONS} ORDER BY row_no").fetchall()
    assert users == [(pseudonym_for("u1", key),), (pseudonym_for("u2", key),)]
    ctx = step_context({"item_id": ["a"]})
    ctx.con.execute(f"INSERT INTO {INTERACTIONS} SELECT 'u' || i, 'a', i, NULL, NULL, i + 2 "
                    "FROM range(3, 400) t(i)")
    with pytest.raises(DataError, match=r"same 2-character pseudonym.*pseudonym_length"):
        DataPrivacy(2, key=key).apply(ctx)  # 400 users, 256 pseudonyms: a collision
