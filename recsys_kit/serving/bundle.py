"""What a run saves so that it can recommend after it ends, without its training data.

Next to its checkpoint, every run writes into ``<output.dir>/artifacts/<run_id>/``:

- ``run.json``: the run id, name, recipe file and the effective recipe (the mapping the run
  was validated from), so that the folder alone is enough to rebuild the model;
- ``serving.npz``: the tokenized data the model was built from, in the data cache's format
  (:meth:`recsys_kit.data.SequenceData.save`, plain arrays, never pickled; read it with
  :meth:`~recsys_kit.data.SequenceData.load`): ``user_ids``, ``item_ids`` (token ``t`` is
  ``item_ids[t - 1]``), the CSR histories ``offsets`` / ``items`` with their ``split`` labels
  (and ``ratings``), item side columns ``side__<column>`` (titles, text), item features
  ``feat__<name>`` (tokenized text) and ``meta__<name>``. Each text array is packed as
  ``<name>__text`` (its values' UTF-8 bytes, one after another) and ``<name>__ends`` (where
  each value ends, in characters).

Both are registered in the ``artifacts`` table (names ``run_json`` and ``serving_data``).
:func:`drop_users` removes users from a bundle (erasure); a popularity or mean-rating run is
refitted from the bundle when it loads, so it then forgets them too.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys_kit.data import SequenceData, as_strings

if TYPE_CHECKING:
    from recsys_kit.runner.context import RunContext
    from recsys_kit.store import ResultStore

BUNDLE = "serving.npz"
RUN_FILE = "run.json"
#: Version of the files above; bump when their meaning changes.
FORMAT = 1


def save_bundle(ctx: RunContext, store: ResultStore, data: SequenceData) -> Path:
    """Write the run's ``run.json`` and ``serving.npz`` and record both as artifacts."""
    folder = ctx.artifacts_dir
    bundle = folder / BUNDLE
    data.save(bundle)
    description = {"format": FORMAT, "run_id": ctx.run_id, "name": ctx.loaded.recipe.name,
                   "recipe_source": ctx.loaded.source, "recipe": ctx.loaded.effective}
    run_file = folder / RUN_FILE
    _write_text(run_file, json.dumps(description, indent=1))
    store.add_artifact(ctx.run_id, "serving_data", "npz", bundle)
    store.add_artifact(ctx.run_id, "run_json", "json", run_file)
    return bundle


def read_description(folder: Path) -> dict[str, Any]:
    """The contents of a run folder's ``run.json``."""
    return json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))


def read_bundle(folder: Path) -> SequenceData:
    """The tokenized data a run folder's ``serving.npz`` holds."""
    return SequenceData.load(folder / BUNDLE)


def without_users(data: SequenceData, user_ids: Iterable[str]) -> tuple[SequenceData, int]:
    """``data`` with every interaction of the given users removed; and how many users went."""
    gone = np.isin(data.user_ids, as_strings(user_ids))
    lengths = np.diff(data.offsets)
    keep_rows = np.repeat(~gone, lengths)
    offsets = np.zeros(int((~gone).sum()) + 1, dtype=data.offsets.dtype)
    np.cumsum(lengths[~gone], out=offsets[1:])
    kept = SequenceData(
        user_ids=data.user_ids[~gone], item_ids=data.item_ids, offsets=offsets,
        items=data.items[keep_rows], split=data.split[keep_rows],
        ratings=None if data.ratings is None else data.ratings[keep_rows],
        item_side=data.item_side, item_features=data.item_features, meta=data.meta)
    return kept, int(gone.sum())


def drop_users(folder: Path, user_ids: Iterable[str]) -> int:
    """Remove the given users (ids as the run stores them) from a run folder's bundle, in place
    and atomically; return how many of them it held."""
    kept, n = without_users(read_bundle(folder), user_ids)
    if n:
        kept.save(folder / BUNDLE)
    return n


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
