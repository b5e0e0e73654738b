"""train.compile: the training step under torch.compile trains to finite metrics on the CPU;
the setting is read as documented."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from recsys_kit.builtin.encoders import TransformerConfig
from recsys_kit.errors import RecsysKitError
from recsys_kit.nn.encoders.sasrec import build_sasrec
from recsys_kit.nn.training.trainer import LossOf, compile_encoder
from recsys_kit.recipe.models import TrainSection


class _Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.user = torch.nn.Linear(2, 2)

    def loss(self, history: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (history - targets).float().mean()


def test_compile_setting_chooses_by_device() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not compile_encoder(_Model(), TrainSection(), cpu)  # default: off
    assert not compile_encoder(_Model(), TrainSection(compile="auto"), cpu)
    assert compile_encoder(_Model(), TrainSection(compile="auto"), cuda)
    model = _Model()
    names = list(model.state_dict())
    assert compile_encoder(model, TrainSection(compile=True), cpu)
    assert list(model.state_dict()) == names  # checkpoints keep their keys
    with pytest.raises(ValueError, match="compile"):
        TrainSection(compile="sometimes")


@pytest.mark.slow
@pytest.mark.skipif(not any(shutil.which(c) for c in ("g++", "c++", "clang++")),
                    reason="torch.compile on the CPU needs a C++ compiler; none is installed")
def test_compiled_training_reaches_finite_metrics(tiny_recipe, run_recipe) -> None:
    outcomes, _ = run_recipe(tiny_recipe, ["train.compile=true", "train.epochs=1"])
    metrics = outcomes[0].metrics
    assert metrics and all(math.isfinite(v) for v in metrics.values())


def test_compile_on_a_cpu_without_a_compiler_says_what_to_do(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "/nonexistent/g++")
    with pytest.raises(RecsysKitError, match=r"C\+\+ compiler.*/nonexistent/g\+\+.*compile: false"):
        compile_encoder(_Model(), TrainSection(compile=True), torch.device("cpu"))


def test_a_compiled_sasrec_has_no_graph_breaks() -> None:
    encoder = build_sasrec(TransformerConfig(layers=1, heads=1, dim=16, max_len=20), None)
    encoder.train()
    valid = torch.arange(20)[None, :] >= torch.randint(0, 20, (64, 1))  # left-padded, 64 rows
    items = torch.randn(64, 20, 16) * valid[..., None]
    explained = torch._dynamo.explain(encoder)(items, valid)
    assert explained.graph_break_count == 0, explained.break_reasons


def test_loss_module_forwards_to_the_model_loss() -> None:
    step = LossOf(_Model())
    assert step(history=torch.ones(3), targets=torch.zeros(3)).item() == 1.0
