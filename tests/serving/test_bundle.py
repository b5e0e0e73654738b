"""A run is a loadable artifact: its folder holds what serving needs, registered in the
results file; loading reads neither the training data nor the data-stage cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import recsys_kit
from recsys_kit.errors import RecsysKitError
from recsys_kit.serving import bundle
from recsys_kit.serving.bundle import drop_users, read_bundle, without_users
from tests.serving.conftest import Trained


def test_every_run_saves_and_registers_its_bundle(sasrec_run: Trained) -> None:
    for run_id in (sasrec_run.run_id, *sasrec_run.baselines):
        _, rows = sasrec_run.store.query(
            "SELECT name, kind, path FROM artifacts WHERE run_id = ? AND name IN "
            "('serving_data', 'run_json') ORDER BY name", [run_id])
        assert [(n, k) for n, k, _ in rows] == [("run_json", "json"), ("serving_data", "npz")]
        assert all(Path(p).exists() for _, _, p in rows)
    about = json.loads((sasrec_run.folder / bundle.RUN_FILE).read_text())
    assert about["run_id"] == sasrec_run.run_id and about["format"] == bundle.FORMAT
    assert about["recipe"]["model"]["encoders"]["user"]["plugin"] == "sasrec"
    data = read_bundle(sasrec_run.folder)
    assert data.n_users == 120 and data.n_items == 60 and "title" in data.item_side


def test_a_copied_run_folder_loads_without_data_stages_or_results(
        sasrec_run: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import recsys_kit.runner.data_stages as data_stages

    def no_data_stages(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading a run must not run data stages")

    monkeypatch.setattr(data_stages, "prepare_data", no_data_stages)
    folder = shutil.copytree(sasrec_run.folder, tmp_path / "somewhere" / "my-run")
    run = recsys_kit.load_run(folder, device="cpu")
    assert run.files.results is None and run.run_id == sasrec_run.run_id
    from_results = recsys_kit.load_run(sasrec_run.run_id, results=sasrec_run.results,
                                       device="cpu")
    assert ([r.item_id for r in run.recommend(user="5", k=5).items] ==
            [r.item_id for r in from_results.recommend(user="5", k=5).items])


def test_a_folder_without_a_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RecsysKitError, match="not a loadable run folder"):
        recsys_kit.load_run(tmp_path, device="cpu")


def test_users_can_be_erased_from_a_bundle(sasrec_run: Trained, tmp_path: Path) -> None:
    folder = shutil.copytree(sasrec_run.folder, tmp_path / "run")
    before = read_bundle(folder)
    assert drop_users(folder, ["2", "not-a-user"]) == 1
    after = read_bundle(folder)
    assert "2" not in after.user_ids and after.n_users == before.n_users - 1
    gone = before.user_slice(int(np.flatnonzero(before.user_ids == "2")[0]))
    assert len(after.items) == len(before.items) - (gone.stop - gone.start)
    three = int(np.flatnonzero(after.user_ids == "3")[0])
    assert (after.items[after.user_slice(three)] ==
            before.items[before.user_slice(three + 1)]).all()
    assert without_users(after, ["2"])[1] == 0
    run = recsys_kit.load_run(folder, device="cpu")
    with pytest.raises(RecsysKitError, match="does not know user '2'"):
        run.recommend(user="2")
