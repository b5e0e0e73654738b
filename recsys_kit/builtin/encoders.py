"""Built-in encoders.

User behaviour: SASRec, BERT4Rec; baselines popularity, global and per-item mean rating.
Items: ID embeddings, pretrained-text embeddings (frozen or fine-tuned, with a linear or
mixture-of-experts adaptor) and categorical features.

Only the config models live here; the PyTorch modules are imported when a run builds them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from recsys_kit.builtin.fields import Finite, Text
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

    @field_validator("dim")
    @classmethod
    def _heads_divide_dim(cls, dim: int, info: ValidationInfo) -> int:
        heads = info.data.get("heads")
        if heads and dim % heads:
            below = dim - dim % heads
            near = " or ".join(str(m) for m in (below, below + heads) if m >= 2)
            raise ValueError(f"dim {dim} must be a multiple of heads ({heads}): each head "
                             f"gets dim / heads values. Use dim {near}, or a number of heads "
                             "that divides dim")
        return dim


class Bert4RecConfig(TransformerConfig):
    """BERT4Rec: a bidirectional transformer trained to recover masked items."""

    mask_prob: float = Field(
        0.2, gt=0, lt=1, description="Share of training positions replaced by the mask token."
    )


class IdEmbeddingConfig(StageConfig):
    """A learned vector per item id."""

    init_std: Finite | None = Field(
        None, gt=0, description="Normal init std; null uses Xavier-normal."
    )


class TextEmbeddingConfig(StageConfig):
    """Item vectors from a pretrained language model over the items' text (``hf_text``)."""

    field: Text = Field("text", description="Which hf_text output to encode (its `name`).")
    pooling: Literal["mean", "cls"] = Field(
        "mean", description="`mean` of the token states (padding excluded) or the `cls` state."
    )
    mode: Literal["frozen", "finetune"] = Field(
        "frozen",
        description="`frozen`: embed every item once (cached on disk) and train the adaptor "
        "only; `finetune`: also train the model's last `finetune_layers` layers (every item is "
        "re-encoded at every step: for small catalogues or a GPU).",
    )
    finetune_layers: int = Field(1, ge=1, description="Layers trained in finetune mode.")
    finetune_lr: Finite = Field(
        2e-5, gt=0, description="Learning rate of the fine-tuned layers (finetune mode)."
    )
    adaptor: Literal["linear", "moe"] = Field(
        "moe",
        description="Into the model's dim: `linear`, or `moe` (UniSRec: whitened experts "
        "mixed by a learned gate).",
    )
    experts: int = Field(8, ge=1, description="Experts of the moe adaptor.")
    dropout: float = Field(0.2, ge=0, lt=1, description="Dropout on the text embedding.")
    batch_size: int = Field(256, ge=1, description="Items per batch when embedding text.")
    cache: bool = Field(
        True, description="Keep frozen embeddings on disk (keyed by model and text) for reuse."
    )


class CategoricalConfig(StageConfig):
    """A learned vector per category value, averaged over an item's values (e.g. genres)."""

    column: Text = Field(description="Side column of the items table, e.g. genres.")
    separator: str | None = Field(
        "|", description="Separator between an item's values; null for one value per item."
    )


@hookimpl
def register_stages() -> list[StageSpec]:
    """The built-in encoders."""
    return [
        StageSpec(Family.USER_ENCODER, "sasrec", TransformerConfig,
                  "recsys_kit.nn.encoders.sasrec:build_sasrec",
                  "SASRec: causal transformer, every position trained at once."),
        StageSpec(Family.USER_ENCODER, "bert4rec", Bert4RecConfig,
                  "recsys_kit.nn.encoders.sasrec:build_bert4rec",
                  "BERT4Rec: bidirectional transformer, masked-item training."),
        StageSpec(Family.USER_ENCODER, "popularity", NoParams,
                  "recsys_kit.nn.encoders.popularity:build_popularity",
                  "Most popular items in training; a baseline with no training."),
        StageSpec(Family.USER_ENCODER, "global_mean", NoParams,
                  "recsys_kit.nn.encoders.mean_rating:build_global_mean",
                  "Predicts the mean training rating; a rating-prediction baseline."),
        StageSpec(Family.USER_ENCODER, "item_mean", NoParams,
                  "recsys_kit.nn.encoders.mean_rating:build_item_mean",
                  "Predicts each item's mean training rating; a rating-prediction baseline."),
        StageSpec(Family.ITEM_ENCODER, "id_embedding", IdEmbeddingConfig,
                  "recsys_kit.nn.encoders.embeddings:IdEmbedding",
                  "A learned embedding per item id."),
        StageSpec(Family.ITEM_ENCODER, "text_embedding", TextEmbeddingConfig,
                  "recsys_kit.nn.encoders.text_embedding:build_text_embedding",
                  "Pretrained language model over item text; frozen+cached or fine-tuned."),
        StageSpec(Family.ITEM_ENCODER, "categorical", CategoricalConfig,
                  "recsys_kit.nn.encoders.categorical:CategoricalEmbedding",
                  "Mean of learned vectors of an item's categories (genres, brand, ...)."),
    ]
