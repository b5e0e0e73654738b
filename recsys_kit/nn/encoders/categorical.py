"""Item encoder over a categorical side column (genres, brand): the mean of value vectors."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from recsys_kit.builtin.encoders import CategoricalConfig
from recsys_kit.errors import RecsysKitError
from recsys_kit.nn.model import ItemEncoder, ModelShape


class CategoricalEmbedding(ItemEncoder):
    """A learned vector per distinct value; an item's vector is the mean over its values.

    Items without a value (and the padding and mask tokens) get the zero vector.
    """

    def __init__(self, config: CategoricalConfig, shape: ModelShape) -> None:
        super().__init__()
        if config.column not in shape.item_side:
            have = ", ".join(sorted(shape.item_side)) or "none (the recipe reads no items table)"
            raise RecsysKitError(
                f"categorical encoder: column '{config.column}' is not in the items table; it "
                f"has: {have}. Set model.encoders.item[...].params.column to one of them."
            )
        per_item = [
            [v.strip() for v in (str(s).split(config.separator) if config.separator else [s])
             if v.strip()]
            for s in shape.item_side[config.column]
        ]
        self.values = sorted({v for vals in per_item for v in vals})
        index = {v: i + 1 for i, v in enumerate(self.values)}  # 0: padding
        # Rows: padding token, the items, the mask token; empty rows average nothing.
        rows = [[], *per_item, []]
        flat = np.fromiter((index[v] for vals in rows for v in vals), dtype=np.int64)
        offsets = np.cumsum([0, *map(len, rows[:-1])])
        self.register_buffer("flat", torch.from_numpy(flat), persistent=False)
        self.register_buffer("offsets", torch.from_numpy(offsets), persistent=False)
        self.embedding = nn.EmbeddingBag(len(self.values) + 1, shape.dim, mode="mean",
                                         padding_idx=0)
        nn.init.xavier_normal_(self.embedding.weight)

    def table(self) -> torch.Tensor:
        """Mean value vector per token (n_tokens, dim)."""
        return self.embedding(self.flat, self.offsets)
