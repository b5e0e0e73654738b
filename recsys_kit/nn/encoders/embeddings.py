"""Item encoder: one learned vector per item id."""

from __future__ import annotations

import torch
from torch import nn

from recsys_kit.builtin.encoders import IdEmbeddingConfig
from recsys_kit.nn.model import ItemEncoder, ModelShape


class IdEmbedding(ItemEncoder):
    """One learned vector per item token; row 0 (padding) stays zero."""

    def __init__(self, config: IdEmbeddingConfig, shape: ModelShape) -> None:
        super().__init__()
        self.embedding = nn.Embedding(shape.n_tokens, shape.dim, padding_idx=0)
        if config.init_std is None:
            nn.init.xavier_normal_(self.embedding.weight)
        else:
            nn.init.normal_(self.embedding.weight, std=config.init_std)
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    def table(self) -> torch.Tensor:
        """All token vectors."""
        return self.embedding.weight
