"""Built-in encoders: SASRec and popularity over user behaviour; ID embeddings for items.

Only the config models live here; the PyTorch modules are imported when a run builds them.
"""

from __future__ import annotations

from pydantic import Field

from recsys_kit.hookspecs import hookimpl
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


class IdEmbeddingConfig(StageConfig):
    """A learned vector per item id."""

    init_std: float | None = Field(
        None, gt=0, description="Normal init std; null uses Xavier-normal."
    )


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in encoders."""
    return [
        StageSpec(Family.USER_ENCODER, "sasrec", TransformerConfig,
                  "recsys_kit.nn.sasrec:build_sasrec",
                  "SASRec: causal transformer, every position trained at once."),
        StageSpec(Family.USER_ENCODER, "popularity", NoParams,
                  "recsys_kit.nn.popularity:build_popularity",
                  "Most popular items in training; a baseline with no training."),
        StageSpec(Family.ITEM_ENCODER, "id_embedding", IdEmbeddingConfig,
                  "recsys_kit.nn.embeddings:IdEmbedding",
                  "A learned embedding per item id."),
    ]
