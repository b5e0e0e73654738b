"""The tokenized data that data stages hand to the model: user sequences with split labels."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recsys_kit.columns import TRAIN


def as_strings(values: Iterable[object]) -> np.ndarray:
    """Text values as an object array of ``str``: each as long as itself. A fixed-width
    unicode array (``dtype=str``) gives every value the longest one's width, so a single
    5,000-character id made an array of a million ids take 20 GB."""
    texts = [str(v) for v in values]
    out = np.empty(len(texts), dtype=object)
    out[:] = texts
    return out


def pack_strings(values: np.ndarray) -> dict[str, np.ndarray]:
    """``values`` as two plain arrays for ``.npz`` (which holds no objects without pickle):
    their UTF-8 text in one run, and where each value ends in it (in characters)."""
    texts = [str(v) for v in values]
    ends = np.cumsum([len(t) for t in texts], dtype=np.int64)
    text = np.frombuffer("".join(texts).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    return {_TEXT: text, _ENDS: ends}


def unpack_strings(archive: Any, name: str) -> np.ndarray:
    """The string array ``name`` of an ``.npz`` written by :func:`pack_strings` (or, from
    earlier versions, a fixed-width unicode array), as :func:`as_strings` gives it."""
    if f"{name}{_TEXT}" not in archive.files:
        return as_strings(archive[name].tolist())
    text = archive[f"{name}{_TEXT}"].tobytes().decode("utf-8", "surrogatepass")
    ends = archive[f"{name}{_ENDS}"].tolist()
    return as_strings([text[a:b] for a, b in zip([0, *ends][:-1], ends, strict=True)])


#: Suffixes of a packed string array's two parts in an ``.npz``.
_TEXT, _ENDS = "__text", "__ends"


@dataclass
class SequenceData:
    """Every user's time-ordered item tokens, each labelled train, valid or test.

    Tokens run 1..n_items (0 is padding, n_items + 1 the mask token). ``offsets`` is CSR:
    user ``u`` owns ``items[offsets[u]:offsets[u + 1]]``. Per-item arrays (``item_side``
    strings, ``item_features`` numbers) have one row per item: row ``i`` is token ``i + 1``.
    ``meta`` holds strings tokenizers leave for encoders (the text model a feature came from).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    split: np.ndarray
    ratings: np.ndarray | None = None
    item_side: dict[str, np.ndarray] = field(default_factory=dict)
    item_features: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of real items (tokens 1..n_items)."""
        return len(self.item_ids)

    @property
    def mask_token(self) -> int:
        """The token BERT-style encoders use for masked positions."""
        return self.n_items + 1

    def user_slice(self, u: int) -> slice:
        """Positions of user ``u`` in ``items`` and ``split``."""
        return slice(int(self.offsets[u]), int(self.offsets[u + 1]))

    def sequences(self, upto: int) -> list[np.ndarray]:
        """Per user, the tokens whose split label is at most ``upto`` (TRAIN, VALID or TEST)."""
        keep = self.split <= upto
        return [self.items[s][keep[s]] for s in map(self.user_slice, range(self.n_users))]

    def targets(self, label: int) -> list[np.ndarray]:
        """Per user, the tokens labelled exactly ``label``."""
        hit = self.split == label
        return [self.items[s][hit[s]] for s in map(self.user_slice, range(self.n_users))]

    def sequence_ratings(self, upto: int) -> list[np.ndarray]:
        """Per user, the ratings aligned with ``sequences(upto)`` (NaN where unrated)."""
        if self.ratings is None:
            raise ValueError("this data has no ratings")
        keep = self.split <= upto
        return [self.ratings[s][keep[s]] for s in map(self.user_slice, range(self.n_users))]

    def target_ratings(self, label: int) -> list[np.ndarray]:
        """Per user, the ratings aligned with ``targets(label)``."""
        if self.ratings is None:
            raise ValueError("this data has no ratings")
        hit = self.split == label
        return [self.ratings[s][hit[s]] for s in map(self.user_slice, range(self.n_users))]

    def train_counts(self) -> np.ndarray:
        """Interactions per token in the training part (index 0 is padding)."""
        train = self.items[self.split == TRAIN]
        return np.bincount(train, minlength=self.n_items + 1)

    def save(self, path: Path) -> None:
        """Write to ``.npz`` (plain arrays; loading never unpickles)."""
        arrays = {
            **_packed("user_ids", self.user_ids),
            **_packed("item_ids", self.item_ids),
            "offsets": self.offsets,
            "items": self.items,
            "split": self.split,
        }
        if self.ratings is not None:
            arrays["ratings"] = self.ratings
        for name, values in self.item_side.items():
            arrays.update(_packed(f"side__{name}", values))
        for name, values in self.item_features.items():
            arrays[f"feat__{name}"] = values
        for name, value in self.meta.items():
            arrays[f"meta__{name}"] = np.array(value)
        # A name of its own per writer: two runs over the same data may save at once.
        tmp = path.with_name(f"{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> SequenceData:
        """Read what ``save`` wrote."""
        with np.load(path, allow_pickle=False) as z:
            sides = {k.removesuffix(_TEXT) for k in z.files
                     if k.startswith("side__") and not k.endswith(_ENDS)}
            side = {k[6:]: unpack_strings(z, k) for k in sorted(sides)}
            features = {k[6:]: z[k] for k in z.files if k.startswith("feat__")}
            meta = {k[6:]: str(z[k]) for k in z.files if k.startswith("meta__")}
            return cls(
                user_ids=unpack_strings(z, "user_ids"),
                item_ids=unpack_strings(z, "item_ids"),
                offsets=z["offsets"],
                items=z["items"],
                split=z["split"],
                ratings=z["ratings"] if "ratings" in z.files else None,
                item_side=side,
                item_features=features,
                meta=meta,
            )


def _packed(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    return {f"{name}{part}": array for part, array in pack_strings(values).items()}

