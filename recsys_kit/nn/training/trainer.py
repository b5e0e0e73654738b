"""The training loop: AdamW, validation each epoch, early stopping, best weights kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from safetensors.torch import load_file, save_file

from recsys_kit.nn.model import SequenceRecommender
from recsys_kit.nn.precision import autocast, to_device
from recsys_kit.recipe.models import TrainSection

if TYPE_CHECKING:
    from recsys_kit.privacy.dp.training import PrivateTraining

LOWER_IS_BETTER = {"rmse", "mae", "loss"}
#: Batches between progress-bar updates (each reads the loss back from the device).
PROGRESS_EVERY = 10


@dataclass
class TrainResult:
    """How training went: the best epoch and its monitored value, and why it stopped."""

    best_epoch: int | None = None
    best_value: float | None = None
    epochs: int = 0
    stopped: str = "epochs"


def better(metric: str, new: float, old: float | None) -> bool:
    """Whether ``new`` improves on ``old`` for ``metric`` (``name@k``)."""
    if old is None:
        return True
    name = metric.split("@")[0]
    return new < old if name in LOWER_IS_BETTER else new > old


def parameter_groups(model: torch.nn.Module, lr: float) -> list[dict]:
    """Trainable parameters, grouped by learning rate: a submodule with a ``learning_rate``
    attribute (a fine-tuned language model) trains at that rate, the rest at ``lr``."""
    own: dict[int, float] = {}
    for module in model.modules():
        rate = getattr(module, "learning_rate", None)
        if isinstance(rate, float):
            own.update({id(p): rate for p in module.parameters()})
    groups: dict[float, list[torch.nn.Parameter]] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault(own.get(id(p), lr), []).append(p)
    return [{"params": params, "lr": rate} for rate, params in groups.items()]


class Trainer:
    """Trains a ``SequenceRecommender`` on rows of named arrays (``history``, ``targets``, ...).

    Each batch calls ``model.loss(**rows)``.

    ``validate()`` returns validation metrics; ``on_epoch(epoch, metrics)`` is told after each
    epoch (metrics include ``loss``); the best weights go to ``checkpoint`` (safetensors).
    """

    def __init__(
        self,
        model: SequenceRecommender,
        settings: TrainSection,
        device: torch.device,
        checkpoint: Path,
        validate: Callable[[], dict[str, float]],
        on_epoch: Callable[[int, dict[str, float]], None],
        console: Console,
        before_epoch: Callable[[int], None] = lambda epoch: None,
        private: PrivateTraining | None = None,
    ) -> None:
        self.model, self.settings, self.device = model, settings, device
        self.checkpoint, self.validate, self.on_epoch = checkpoint, validate, on_epoch
        self.before_epoch = before_epoch
        self.console = console
        self.optimizer = torch.optim.AdamW(
            parameter_groups(model, settings.lr), lr=settings.lr,
            weight_decay=settings.weight_decay,
        )
        self.private = private
        if private is not None:  # DP-SGD: its epochs, clipping and noise; last weights kept
            self.optimizer = private.wrap(self.optimizer)

    def _epoch(self, rows: dict[str, torch.Tensor], progress: Progress, task: int) -> float:
        if self.private is not None:
            return self.private.epoch(self.optimizer, rows, self.device, progress, task)
        self.model.train()
        n_rows = len(next(iter(rows.values())))
        order = torch.randperm(n_rows, device=self.device)
        bs = self.settings.batch_size
        n_batches = (n_rows + bs - 1) // bs
        progress.reset(task, total=n_batches)
        total, count, started = 0.0, 0, time.perf_counter()
        for b in range(n_batches):
            idx = order[b * bs:(b + 1) * bs]
            with autocast(self.device, self.settings.precision):
                loss = self.model.loss(**{name: col[idx] for name, col in rows.items()})
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.settings.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
            self.optimizer.step()
            total += loss.detach()  # summed on the device: no host sync per batch
            count += len(idx)
            if b % PROGRESS_EVERY == 0 or b == n_batches - 1:
                rate = count / max(time.perf_counter() - started, 1e-9)
                progress.update(task, completed=b + 1,
                                info=f"loss {total.item() / (b + 1):.4f} · {rate:,.0f} seq/s")
        return float(total) / max(n_batches, 1)

    def fit(self, rows: dict[str, np.ndarray]) -> TrainResult:
        """Train until epochs, patience or the time budget run out; reload the best weights."""
        s = self.settings
        x = {name: to_device(torch.from_numpy(col), self.device) for name, col in rows.items()}
        n_rows = len(next(iter(rows.values())))
        result, waited, started = TrainResult(), 0, time.monotonic()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
        with Progress(*columns, console=self.console, transient=True) as progress:
            epochs = progress.add_task("epochs", total=s.epochs, info="")
            batches = progress.add_task("batches", total=1, info="")
            for epoch in range(1, s.epochs + 1):
                self.before_epoch(epoch)
                t0 = time.perf_counter()
                loss = self._epoch(x, progress, batches)
                seconds = time.perf_counter() - t0
                validation = self.validate()
                metrics = {"loss": loss, "epoch_seconds": seconds,
                           "sequences_per_s": n_rows / seconds,
                           "eval_seconds": time.perf_counter() - t0 - seconds, **validation}
                if self.private is not None:
                    metrics.update(self.private.epoch_metrics())
                result.epochs = epoch
                value = metrics.get(s.monitor)
                improved = value is not None and (self.private is not None or better(
                    s.monitor, value, result.best_value))
                if improved:
                    result.best_epoch, result.best_value, waited = epoch, value, 0
                    save_file({k: v.detach().contiguous().cpu()
                               for k, v in self.model.state_dict().items()}, str(self.checkpoint))
                else:
                    waited += 1
                self.on_epoch(epoch, metrics)
                progress.update(epochs, advance=1,
                                info=f"{s.monitor} {value:.4f} (best {result.best_value:.4f} "
                                     f"@ {result.best_epoch})" if value is not None else "")
                self.console.print(
                    f"epoch {epoch:>3}  loss {loss:.4f}  {s.monitor} {value:.4f}"
                    f"{'  *' if improved else ''}  ({seconds:.1f} s)", highlight=False)
                if waited >= s.patience:
                    result.stopped = "patience"
                    break
                if s.max_minutes and time.monotonic() - started > s.max_minutes * 60:
                    result.stopped = "time budget"
                    break
        self.console.print(
            f"training stopped ({result.stopped}) after {result.epochs} epochs; best "
            f"{s.monitor} {result.best_value:.4f} at epoch {result.best_epoch}", highlight=False)
        self.load_best()
        return result

    def load_best(self) -> None:
        """Load the best checkpoint, if one was written."""
        if self.checkpoint.exists():
            state = load_file(str(self.checkpoint), device=str(self.device))
            self.model.load_state_dict(state)
