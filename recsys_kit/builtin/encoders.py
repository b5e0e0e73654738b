"""Built-in encoders: SASRec and popularity over user behaviour; ID embeddings for items."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from recsys_kit.data import SequenceData
from recsys_kit.hookspecs import hookimpl
from recsys_kit.nn.model import DirectRecommender, ItemEncoder, ModelShape, UserEncoder
from recsys_kit.stages import Family, NoParams, StageConfig, StageSpec


class TransformerConfig(StageConfig):
    """Shape of a transformer sequence encoder."""

    layers: int = Field(2, ge=1, description="Transformer blocks.")
    heads: int = Field(1, ge=1, description="Attention heads per block; must divide dim.")
    dim: int = Field(64, ge=2, description="Width of item vectors and hidden states.")
    max_len: int = Field(200, ge=2, description="Most recent history items the model reads.")
    dropout: float = Field(0.2, ge=0, lt=1, description="Dropout on embeddings and blocks.")
    attn_dropout: float = Field(
        0.0, ge=0, lt=1, description="Dropout on attention weights (0 keeps the fused kernel)."
    )
    ffn_mult: int = Field(1, ge=1, description="Feed-forward width as a multiple of dim.")


class SelfAttentionBlock(nn.Module):
    """Pre-norm self-attention and feed-forward, on ``scaled_dot_product_attention``."""

    def __init__(
        self, dim: int, heads: int, dropout: float, ffn_mult: int, attn_dropout: float = 0.0
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.attn_dropout = heads, attn_dropout
        self.norm_attn = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim * ffn_mult), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(dim * ffn_mult, dim),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, D); ``attn_mask`` (B, 1, L, L) bool, True where attending is allowed."""
        b, length, d = x.shape
        q, k, v = (
            self.qkv(self.norm_attn(x)).view(b, length, 3, self.heads, d // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        attended = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.attn_dropout if self.training else 0.0
        )
        x = x + self.drop(self.proj(attended.transpose(1, 2).reshape(b, length, d)))
        return x + self.drop(self.ffn(self.norm_ffn(x)))


class TransformerEncoder(UserEncoder):
    """Positional embeddings and a stack of self-attention blocks; causal or bidirectional."""

    def __init__(self, config: TransformerConfig, causal: bool) -> None:
        super().__init__()
        self.causal = causal
        self.scale = math.sqrt(config.dim)
        self.positions = nn.Embedding(config.max_len, config.dim)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            SelfAttentionBlock(config.dim, config.heads, config.dropout, config.ffn_mult,
                               config.attn_dropout)
            for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(config.dim)

    def attention_mask(self, valid: torch.Tensor) -> torch.Tensor:
        """Keys must be real items (and earlier, if causal); each position sees itself."""
        length = valid.shape[1]
        allowed = valid[:, None, None, :].expand(-1, 1, length, length)
        if self.causal:
            allowed = allowed & torch.ones(
                length, length, dtype=torch.bool, device=valid.device
            ).tril()
        eye = torch.eye(length, dtype=torch.bool, device=valid.device)
        return allowed | eye

    def forward(self, items: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """States for every position of a left-padded history."""
        length = items.shape[1]
        pos = self.positions.weight[-length:]
        x = self.drop(items * self.scale + pos) * valid.unsqueeze(-1)
        mask = self.attention_mask(valid)
        for block in self.blocks:
            x = block(x, mask) * valid.unsqueeze(-1)
        return self.norm(x)


def build_sasrec(config: TransformerConfig, shape: ModelShape) -> TransformerEncoder:
    """SASRec (Kang & McAuley, 2018): causal self-attention, next-item objective."""
    return TransformerEncoder(config, causal=True)


class Popularity(DirectRecommender):
    """Scores every item by its number of training interactions (the same for every user)."""

    def __init__(self, shape: ModelShape) -> None:
        super().__init__()
        self.register_buffer("counts", torch.zeros(shape.n_tokens))

    def fit(self, data: SequenceData) -> None:
        """Count training interactions per item."""
        counts = np.zeros(self.counts.shape[0], dtype=np.float32)
        train = data.train_counts()
        counts[: len(train)] = train
        counts[0] = 0
        self.counts.copy_(torch.from_numpy(counts))

    def scores(self, history: torch.Tensor) -> torch.Tensor:
        """The popularity scores, repeated for each user in the batch."""
        return self.counts.expand(history.shape[0], -1)


def build_popularity(config: NoParams, shape: ModelShape) -> Popularity:
    """Most-popular baseline."""
    return Popularity(shape)


class IdEmbeddingConfig(StageConfig):
    """A learned vector per item id."""

    init_std: float | None = Field(
        None, gt=0, description="Normal init std; null uses Xavier-normal."
    )


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


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in encoders."""
    return [
        StageSpec(Family.USER_ENCODER, "sasrec", TransformerConfig, build_sasrec,
                  "SASRec: causal transformer, every position trained at once."),
        StageSpec(Family.USER_ENCODER, "popularity", NoParams, build_popularity,
                  "Most popular items in training; a baseline with no training."),
        StageSpec(Family.ITEM_ENCODER, "id_embedding", IdEmbeddingConfig, IdEmbedding,
                  "A learned embedding per item id."),
    ]
