"""The recipe's own structure (first validation pass); stage params are checked in the second."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recsys_kit.serving.feedback_source import FeedbackSource
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


#: The least ``data.memory_limit`` accepted: below a few megabytes DuckDB cannot even start.
MIN_DUCKDB_MEMORY = 16 * 1000**2


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
    feedback: FeedbackSource | None = Field(
        None, description="Feedback events (from `recsys-kit serve` or `recsys-kit feedback`) "
        "appended to the interactions after ingest, so that a retrain learns from them.",
    )
    memory_limit: str | None = Field(
        None,
        description="Most memory DuckDB uses for the data stages, e.g. `8GB`, `512MB`, `1.5GiB` "
        "(at least 16MB); past it, it spills to <output.dir>/cache/duckdb-tmp. Default: "
        "DuckDB's own (80% of the RAM).",
    )

    @field_validator("memory_limit")
    @classmethod
    def _memory_size(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT])(I?)B?\s*", value.upper())
        if match is None:
            raise ValueError(f"'{value}' is not a size: write a number and a unit, such as 8GB, "
                             "512MB or 1.5GiB")
        number, unit, binary = match.groups()
        size = float(number) * (1024 if binary else 1000) ** "KMGT".index(unit) * (
            1024 if binary else 1000)
        if size < MIN_DUCKDB_MEMORY:
            raise ValueError(f"{value} is too little for DuckDB to work in: give at least 16MB")
        return f"{number}{unit}{'i' if binary else ''}B"


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


class TrainPrivacy(Strict):
    """Differentially private training (DP-SGD through Opacus): one user's training sequence
    is one privacy unit, so the guarantee is user-level."""

    target_epsilon: float = Field(
        gt=0, description="Privacy budget ε spent by the end of `train.epochs` (smaller: more "
        "private, noisier); the noise is calibrated to reach it exactly then.")
    delta: float = Field(
        gt=0, lt=1, description="δ of (ε, δ)-DP; must be below 1/users (e.g. 1/(10·users)).")
    max_grad_norm: float = Field(
        1.0, gt=0, description="Each user's gradient is clipped to this L2 norm before noise "
        "is added (replaces train.grad_clip).")


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
    privacy: TrainPrivacy | None = Field(
        None, description="Train with user-level differential privacy (DP-SGD, needs the "
        "`privacy` extra); null trains without. See docs/privacy.md.")
    deterministic: bool = Field(
        True,
        description="Use only deterministic kernels: the same seed, machine and settings give "
        "identical results. `false` allows PyTorch's faster nondeterministic kernels (CUDA "
        "atomics), whose results vary slightly from run to run.",
    )
    init_from: str | None = Field(
        None, min_length=1,
        description="Warm start: begin from the best weights of a completed run, given by its "
        "id (or `latest`) in output.dir's results file, or by its artifacts folder. Items "
        "both runs know keep their trained vectors; new items start from the mean item "
        "vector (or their text, with a text encoder). The model settings must match that "
        "run's. Baselines start fresh.",
    )
    compile: bool | Literal["auto"] = Field(
        False,
        description="Compile the user encoder (the transformer) with torch.compile: `true`, "
        "`false`, or `auto` (on CUDA only). The first epoch is slower while it compiles; on a "
        "CPU it needs a C++ compiler.",
    )


class PrivacySection(Strict):
    """What a run keeps about people: pseudonymous user ids, fewer columns, private files."""

    pseudonymize_users: bool = Field(
        False, description="Replace user ids at ingest with a keyed hash (HMAC-SHA256, hex): "
        "caches, results, artifacts and logs then hold only pseudonyms.")
    key_env: str = Field(
        "RECSYS_KIT_PSEUDONYM_KEY", pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="Name of the environment variable that holds the pseudonym key (the "
        "variable's name, never the key).")
    key_file: str | None = Field(
        None, description="File holding the pseudonym key, used instead of key_env; must lie "
        "outside output.dir and be readable by its owner only.")
    pseudonym_length: int = Field(
        16, ge=8, le=64, description="Hex characters kept of each HMAC (16 = 64 bits); a "
        "collision between two users is an error that asks for a longer one.")
    drop_columns: list[str] = Field(
        default_factory=list, description="Columns removed at ingest: item side columns, or "
        "`rating` / `weight` of the interactions.")
    owner_only_files: bool | None = Field(
        None, description="Make every file and folder the run writes readable by its owner "
        "only (0600/0700); null: on when pseudonymize_users is on.")

    @property
    def owner_only(self) -> bool:
        """Whether the run's files are made readable by their owner only."""
        if self.owner_only_files is None:
            return self.pseudonymize_users
        return self.owner_only_files


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
    explain: Literal["auto", "attention", "occlusion", "none"] = Field(
        "auto",
        description="How stored recommendations are explained (the `explanations` table): "
        "`attention` (target-attention weights; needs the target_attention fusion), "
        "`occlusion` (score drop when one history item is removed; any model), `none`. "
        "`auto`: attention where the fusion has it, else occlusion.",
    )
    explain_top: int | None = Field(
        None, ge=1,
        description="History items stored per recommendation; default: the fusion's "
        "explain_top for attention, 5 for occlusion.",
    )
    explain_users: int | None = Field(
        100, ge=1,
        description="Occlusion explains this many users, the first in user-id order (it "
        "scores one history per history item, roughly max_len times the cost of ranking); "
        "null explains every user. Attention always explains every user.",
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
    privacy: PrivacySection = Field(
        default_factory=PrivacySection,
        description="Pseudonymous user ids, columns kept, file permissions (docs/privacy.md).")
