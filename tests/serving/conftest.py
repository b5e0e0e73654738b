"""Trained tiny runs to serve, made once per session (a few seconds each on a CPU)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from recsys_kit.plugins import make_plugins
from recsys_kit.recipe.loader import validate_mapping
from recsys_kit.runner.pipeline import Runner
from recsys_kit.store import ResultStore
from recsys_kit.testing import tiny


@dataclass(frozen=True)
class Trained:
    """A completed run: its id and results file (and its baselines' ids)."""

    run_id: str
    results: Path
    baselines: tuple[str, ...] = ()

    @property
    def store(self) -> ResultStore:
        return ResultStore(self.results)

    @property
    def folder(self) -> Path:
        return self.results.parent / "artifacts" / self.run_id


def train(out_dir: Path, *overrides: str) -> Trained:
    """Run the tiny recipe (1 epoch) with ``overrides``; fail loudly when it does not complete.

    In fp32: under bf16 autocast (CPUs with AVX512-BF16) scores depend slightly on how many
    users are scored at once, and the tests compare serving's scores with the run's own.
    """
    plugins = make_plugins()
    loaded = validate_mapping(tiny(out_dir, "train.epochs=1", "train.precision=fp32",
                                   *overrides), plugins.registry)
    outcomes = Runner(plugins, Console(quiet=True)).run(loaded)
    for outcome in outcomes:
        assert outcome.status == "completed", outcome.error
    return Trained(outcomes[0].run_id, out_dir / "results.duckdb",
                   tuple(o.run_id for o in outcomes[1:]))


def text_tokenizer(model: Path) -> str:
    """The hf_text tokenizer over the synthetic items' titles and genres."""
    return ("data.tokenize=[{plugin: item_ids}, {plugin: hf_text, params: {template: "
            f"'{{title}} | {{genres}}', model: '{model}', max_length: 16}}}}]")


@pytest.fixture(scope="session")
def sasrec_run(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """SASRec over item ids; baselines: popularity, and the GRU4Rec plugin (trained)."""
    return train(tmp_path_factory.mktemp("sasrec") / "runs",
                 "baselines=[{plugin: popularity}, {plugin: gru4rec, params: {dim: 16, "
                 "max_len: 16}}]")


@pytest.fixture(scope="session")
def text_run(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Trained:
    """SASRec over item vectors from their text alone (a frozen tiny BERT)."""
    return train(tmp_path_factory.mktemp("text") / "runs", text_tokenizer(tiny_bert),
                 "model.encoders.item=[{plugin: text_embedding, params: {adaptor: linear}}]")


@pytest.fixture(scope="session")
def mixed_run(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Trained:
    """BERT4Rec over id, text and genre vectors mixed by a gate."""
    return train(tmp_path_factory.mktemp("mixed") / "runs", text_tokenizer(tiny_bert),
                 "model.encoders.user.plugin=bert4rec",
                 "model.encoders.item=[{plugin: id_embedding}, {plugin: text_embedding, params: "
                 "{adaptor: moe, experts: 2}}, {plugin: categorical, params: {column: genres}}]",
                 "model.encoders.combine=gate")


@pytest.fixture(scope="session")
def attention_run(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Trained:
    """Two-stage target attention (its weights explain) over item text vectors."""
    return train(tmp_path_factory.mktemp("attention") / "runs", text_tokenizer(tiny_bert),
                 "model.encoders.item=[{plugin: text_embedding, params: {adaptor: linear}}]",
                 "model.fusion={plugin: target_attention, params: {explain_top: 3}}",
                 "model.scorer={plugin: mlp, params: {loss: bce, negatives: 4, positions: 4}}",
                 "model.retrieval={plugin: dot}", "model.rerank_top_n=60")
