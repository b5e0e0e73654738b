"""Warm start (``train.init_from``): training begins from another run's best weights.

The two runs' item vocabularies may differ (new data brings new items, and items may leave):
every tensor indexed by item token is remapped by item id. Items both runs know keep their
trained rows; a new item's learned row starts as the mean of the trained item rows, while
rows derived from the data (item text vectors, popularity counts) are this run's own. Every
other weight is copied as it is, so the model settings must match the source run's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from recsys_kit.data import SequenceData
from recsys_kit.errors import RecsysKitError
from recsys_kit.nn.training import checkpoints
from recsys_kit.serving.bundle import read_bundle
from recsys_kit.serving.locate import RunFiles, locate_run
from recsys_kit.store.results import RESULTS_FILE

#: Rows an item table may hold besides the items: none, padding (row 0), padding and the mask
#: token (last row).
_SPECIAL_ROWS = (0, 1, 2)


@dataclass
class WarmStart:
    """What a warm start took over from the source run."""

    run_id: str
    kept_items: int
    new_items: int
    gone_items: int
    tensors: int
    fresh: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the console."""
        fresh = f"; {len(self.fresh)} new tensors start fresh" if self.fresh else ""
        gone = f", {self.gone_items:,} of its items are not in this data" if self.gone_items else ""
        return (f"warm start from run {self.run_id}: {self.tensors} weight tensors, "
                f"{self.kept_items:,} item rows kept, {self.new_items:,} new items start from "
                f"the mean item{gone}{fresh}")


def source_run(init_from: str, out_dir: Path) -> RunFiles:
    """The completed run ``init_from`` names: a run's artifacts folder, or a run id (or
    ``latest``) in the results file of ``out_dir``."""
    results = out_dir / RESULTS_FILE
    if not Path(init_from).is_dir() and not results.is_file():
        raise RecsysKitError(
            f"train.init_from is '{init_from}', which is neither a run's artifacts folder nor "
            f"a run id that can be looked up: there is no results file at {results}. Give the "
            "folder of the run to start from (<output.dir>/artifacts/<run_id>), or set "
            "output.dir to the folder whose results.duckdb holds the run.")
    return locate_run(init_from, results, purpose="warm-start another run")


def warm_start(model: torch.nn.Module, data: SequenceData, source: RunFiles) -> WarmStart:
    """Load ``source``'s best weights into ``model`` (built for ``data``), item rows remapped
    by item id; a clear error when the weights do not fit the model."""
    path = source.folder / checkpoints.BEST
    if not path.exists():
        raise RecsysKitError(f"train.init_from: run {source.run_id} has no best weights "
                             f"({path}); it trained no epoch, or its artifacts were removed.")
    try:
        weights = load_file(str(path), device="cpu")
    except SafetensorError as exc:
        raise RecsysKitError(f"train.init_from: {path} cannot be read ({exc}); the file is "
                             "damaged. Start from another run, or without init_from.") from exc
    old_items = read_bundle(source.folder).item_ids
    position = {item: i for i, item in enumerate(old_items.tolist())}
    # For each of this run's items, its row among the source run's items (-1: a new item).
    old_row = np.array([position.get(item, -1) for item in data.item_ids.tolist()],
                       dtype=np.int64)
    same_vocabulary = len(old_items) == data.n_items and bool(
        (old_row == np.arange(data.n_items)).all())
    learned = {name for name, _ in model.named_parameters()}
    state = model.state_dict()
    report = WarmStart(source.run_id, int((old_row >= 0).sum()), int((old_row < 0).sum()),
                       len(old_items) - int((old_row >= 0).sum()), 0)
    loaded: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        old = weights.get(name)
        if old is None:
            report.fresh.append(name)
            continue
        special = _item_rows(value, old, data.n_items, len(old_items))
        if special is not None and not same_vocabulary:
            if name not in learned:  # derived from the data: this run's own values
                continue
            loaded[name] = _remapped(value, old.to(value.dtype), old_row, special)
        elif old.shape == value.shape:
            loaded[name] = old.to(value.dtype)
        else:
            raise RecsysKitError(
                f"train.init_from: the weights of run {source.run_id} do not fit this model: "
                f"'{name}' has shape {tuple(old.shape)} there and {tuple(value.shape)} here. "
                "A warm start needs the model settings of the run it starts from (dim, "
                "max_len, layers, heads, item encoders); change them back, or train without "
                "train.init_from.")
    with torch.no_grad():
        for name, value in loaded.items():
            state[name].copy_(value)
    report.tensors = len(loaded)
    return report


def _item_rows(value: torch.Tensor, old: torch.Tensor, n_new: int, n_old: int) -> int | None:
    """How many special rows precede and follow the items if both tensors are item tables of
    their vocabularies (same width), else None."""
    if value.dim() == 0 or old.dim() != value.dim() or old.shape[1:] != value.shape[1:]:
        return None
    for special in _SPECIAL_ROWS:
        if value.shape[0] == n_new + special and old.shape[0] == n_old + special:
            return special
    return None


def _remapped(value: torch.Tensor, old: torch.Tensor, old_row: np.ndarray, special: int
              ) -> torch.Tensor:
    """``value``'s rows filled from ``old`` by item: kept items take their old row, new ones
    the mean old item row; padding and mask rows are the old ones."""
    start = 1 if special else 0
    n_old = old.shape[0] - special
    old_items = old[start:start + n_old]
    out = value.detach().clone().cpu()
    rows = torch.from_numpy(old_row)
    known = rows >= 0
    items = out[start:start + len(old_row)]
    items[known] = old_items[rows[known]]
    items[~known] = old_items.mean(dim=0) if n_old else items[~known]
    if special >= 1:
        out[0] = old[0]
    if special == 2:
        out[-1] = old[-1]
    return out
