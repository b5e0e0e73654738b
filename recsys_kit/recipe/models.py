"""The recipe's own structure (first validation pass); stage params are checked in the second."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recsys_kit.stages import Family


class Strict(BaseModel):
    """Base of every recipe section: unknown keys are errors; numbers must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class StageRef(Strict):
    """A stage in a recipe: the plugin that provides it and its params."""

    plugin: str = Field(description="Name of the stage, as listed by `recsys-kit plugins`.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="The stage's own settings (see `recsys-kit schema`)."
    )


def _family(family: Family, *, one_or_many: bool = False) -> dict[str, Any]:
    """JSON-schema marks read by ``recipe.schema``: the stage family of a reference (or list
    of them), and whether a list field also accepts a single reference."""
    marks: dict[str, Any] = {"x-family": family.value}
    if one_or_many:
        marks["x-one-or-many"] = True
    return marks


class DataSection(Strict):
    """Where interactions come from, how they are split, and how items become tokens."""

    ingest: StageRef = Field(json_schema_extra=_family(Family.INGEST), description="Reader.")
    split: StageRef = Field(
        default_factory=lambda: StageRef(plugin="leave_one_out"),
        json_schema_extra=_family(Family.SPLIT),
        description="How interactions are divided into train, validation and test.",
    )
    tokenize: list[StageRef] = Field(
        default_factory=lambda: [StageRef(plugin="item_ids")],
        json_schema_extra=_family(Family.TOKENIZE),
        description="Tokenizers, applied in order; `item_ids` builds the item vocabulary.",
    )


class EncodersSection(Strict):
    """The user (behaviour sequence) encoder and the item encoders."""

    user: StageRef = Field(
        json_schema_extra=_family(Family.USER_ENCODER), description="Encodes a user's history."
    )
    item: list[StageRef] = Field(
        default_factory=lambda: [StageRef(plugin="id_embedding")],
        json_schema_extra=_family(Family.ITEM_ENCODER, one_or_many=True),
        description="Item encoders (one, or a list), combined as `combine` says.",
    )
    combine: Literal["sum", "concat", "gate"] = Field(
        "sum",
        description="How several item encoders' vectors become one: `sum`; `concat`, then a "
        "linear projection back to dim; `gate`: per-item softmax weights over the encoders.",
    )

    @field_validator("item", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class ModelSection(Strict):
    """The model: encoders, then fusion, then scorer."""

    encoders: EncodersSection
    fusion: StageRef = Field(
        default_factory=lambda: StageRef(plugin="last_position"),
        json_schema_extra=_family(Family.FUSION),
        description="Turns encoded history into one vector per prediction.",
    )
    scorer: StageRef = Field(
        default_factory=lambda: StageRef(plugin="dot"),
        json_schema_extra=_family(Family.SCORER),
        description="Scores items against the fused vector, and holds the loss.",
    )
    retrieval: StageRef | None = Field(
        None,
        json_schema_extra=_family(Family.SCORER),
        description="Two-stage ranking: a fast scorer (e.g. dot) over the latest state picks "
        "`rerank_top_n` candidates per user, which the fusion and scorer (target_attention "
        "+ mlp) re-rank. Both are trained together. Without it target attention scores the "
        "whole catalogue.",
    )
    rerank_top_n: int = Field(100, ge=1, description="Candidates the retrieval stage passes on.")


class TrainSection(Strict):
    """The training loop: AdamW, validation every epoch, early stopping, best weights kept."""

    epochs: int = Field(100, ge=1, description="Most epochs to train.")
    batch_size: int = Field(128, ge=1, description="Sequences per batch.")
    lr: float = Field(1e-3, gt=0, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    patience: int = Field(10, ge=1, description="Epochs without improvement before stopping.")
    monitor: str = Field("ndcg@10", description="Validation metric for early stopping, `name@k`.")
    max_minutes: float | None = Field(
        None, gt=0, description="Stop training after this many minutes (best weights are kept)."
    )
    eval_batch_size: int = Field(512, ge=1, description="Users per batch when ranking.")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="`auto`: bf16 autocast where the device computes bf16 natively (CUDA, "
        "CPUs with AVX512-BF16/AMX), fp32 elsewhere.",
    )
    grad_clip: float | None = Field(1.0, gt=0, description="Clip gradient norm; null disables.")
    deterministic: bool = Field(
        True,
        description="Use only deterministic kernels: the same seed, machine and settings give "
        "identical results. `false` allows PyTorch's faster nondeterministic kernels (CUDA "
        "atomics), whose results vary slightly from run to run.",
    )


class OutputSection(Strict):
    """Where results go."""

    dir: str = Field("runs", description="Output directory; holds results.duckdb and artifacts.")
    top_k: int = Field(20, ge=1, description="Recommendations stored per user (at most).")
    threshold: float | None = Field(
        None,
        description="Store only recommendations whose interest is above this (probability for "
        "an mlp/bce scorer, predicted rating for mlp/mse, raw score otherwise): "
        "R_u = {i | I_u(i) > threshold}, still at most top_k per user.",
    )


class Recipe(Strict):
    """A whole recipe: data, model, training, evaluation and output."""

    version: Literal[1] = Field(description="Recipe format version; only 1 exists.")
    name: str = Field(min_length=1, description="Run name, shown in results and the TUI.")
    seed: int = Field(42, ge=0, le=2**32 - 1,
                      description="Seed for every random number generator (0 to 2**32 - 1).")
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda|cuda:\d+|mps)$",
        description="auto | cpu | cuda | cuda:N | mps",
    )
    data: DataSection
    model: ModelSection
    train: TrainSection = Field(default_factory=TrainSection)
    evaluate: list[StageRef] = Field(
        default_factory=lambda: [StageRef(plugin="ranking")],
        min_length=1,
        json_schema_extra=_family(Family.EVALUATOR),
        description="Evaluators run on the validation data each epoch and on the test data.",
    )
    baselines: list[StageRef] = Field(
        default_factory=list,
        json_schema_extra=_family(Family.USER_ENCODER),
        description="User encoders run on the same data as separate runs, for comparison.",
    )
    output: OutputSection = Field(default_factory=OutputSection)
