"""The tokenized data that data stages hand to the model: user sequences with split labels."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from recsys_kit.columns import TRAIN


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
            "user_ids": self.user_ids.astype(str),
            "item_ids": self.item_ids.astype(str),
            "offsets": self.offsets,
            "items": self.items,
            "split": self.split,
        }
        if self.ratings is not None:
            arrays["ratings"] = self.ratings
        for name, values in self.item_side.items():
            arrays[f"side__{name}"] = values.astype(str)
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
            side = {k[6:]: z[k] for k in z.files if k.startswith("side__")}
            features = {k[6:]: z[k] for k in z.files if k.startswith("feat__")}
            meta = {k[6:]: str(z[k]) for k in z.files if k.startswith("meta__")}
            return cls(
                user_ids=z["user_ids"],
                item_ids=z["item_ids"],
                offsets=z["offsets"],
                items=z["items"],
                split=z["split"],
                ratings=z["ratings"] if "ratings" in z.files else None,
                item_side=side,
                item_features=features,
                meta=meta,
            )
