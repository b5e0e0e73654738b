"""The training loop: AdamW, validation each epoch, early stopping, best weights kept, and
the whole training state saved after every epoch so that a stopped run can resume."""

from __future__ import annotations

import inspect
import math
import os
import shutil
import time
from collections.abc import Callable
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
)

from recsys_kit.errors import NonFiniteError, PrivacyError, RecsysKitError
from recsys_kit.interrupts import shielded
from recsys_kit.nn.model import SequenceRecommender
from recsys_kit.nn.precision import autocast, to_device
from recsys_kit.nn.training import checkpoints
from recsys_kit.nn.training.checkpoints import Progress as TrainProgress
from recsys_kit.nn.training.host_memory import kept_freed_memory
from recsys_kit.recipe.models import TrainSection
from recsys_kit.runner.distributed import Ranks
from recsys_kit.runner.eta import clock, epoch_remaining, run_time

if TYPE_CHECKING:
    from recsys_kit.privacy.dp.training import PrivateTraining

LOWER_IS_BETTER = {"rmse", "mae", "loss"}
#: Batches between progress-bar updates (each reads the loss back from the device).
PROGRESS_EVERY = 10


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


class LossOf(torch.nn.Module):
    """A model's training loss as a module's ``forward``: what DistributedDataParallel wraps
    (it synchronises the gradients of what runs through ``forward``)."""

    def __init__(self, model: SequenceRecommender) -> None:
        super().__init__()
        self.model = model

    def forward(self, **rows: torch.Tensor | int) -> torch.Tensor:
        """``model.loss`` of one batch of rows (and ``kept``, when the model takes it)."""
        return self.model.loss(**rows)


def targets_per_row(model: SequenceRecommender, rows: dict[str, np.ndarray]
                    ) -> np.ndarray | None:
    """How many non-padding targets each row holds, counted once on the host, when the
    model's loss takes that count per batch (``kept``); else None."""
    targets = rows.get("targets")
    if targets is None or targets.ndim != 2:
        return None
    if "kept" not in inspect.signature(model.loss).parameters:
        return None
    return (targets != 0).sum(1)


def compile_encoder(model: SequenceRecommender, settings: TrainSection,
                    device: torch.device) -> bool:
    """Compile the user encoder in place (its weights keep their names) when ``train.compile``
    asks for it: ``true``, or ``auto`` on CUDA (on a CPU compiling rarely pays for its
    start-up). The encoder is most of a step's work on fixed-shape batches; the loss stays
    eager: it keeps only the positions with a target, a shape that changes every batch and
    would make the compiler start over."""
    wanted = settings.compile is True or (settings.compile == "auto" and device.type == "cuda")
    if wanted and device.type == "cpu" and not cpu_compiler():
        raise RecsysKitError(
            "train.compile: true compiles the encoder with TorchInductor, which on a CPU needs a "
            f"C++ compiler, and none was found ({', '.join(compiler_candidates())}). Install "
            "one (for example `apt install g++`, or Xcode's command line tools on macOS), "
            "point CXX at it, or set train.compile: false.")
    if wanted:  # dynamic: a short last batch or a ranking batch does not recompile
        # The compiler keeps its own copy of the determinism setting: give it the run's.
        torch.use_deterministic_algorithms(torch.are_deterministic_algorithms_enabled(),
                                           warn_only=True)
        model.user.compile(dynamic=True)
    return wanted


def compiler_candidates() -> list[str]:
    """The C++ compilers TorchInductor would try on a CPU: ``$CXX`` if set, else the usual."""
    cxx = os.environ.get("CXX")
    return [cxx] if cxx else ["g++", "c++", "clang++"]


def cpu_compiler() -> str | None:
    """The first of :func:`compiler_candidates` that exists, or None."""
    return next((path for c in compiler_candidates() if (path := shutil.which(c))), None)


class Trainer:
    """Trains a ``SequenceRecommender`` on rows of named arrays (``history``, ``targets``, ...).

    Each batch calls ``model.loss(**rows)``. ``validate()`` returns validation metrics;
    ``on_epoch(epoch, metrics)`` is told after each epoch (metrics include ``loss``). The best
    weights go to ``checkpoint`` (safetensors), the whole training state after each epoch to
    ``last`` (for resuming). ``progress`` says where training stands at any moment, also
    after an interruption. ``private`` (DP-SGD) clips and noises each user's gradient, runs
    the epochs and keeps the privacy accounts, saved and restored with the training state.
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
        last: Path | None = None,
        private: PrivateTraining | None = None,
        ranks: Ranks | None = None,
        seed: int = 0,
    ) -> None:
        self.model, self.settings, self.device = model, settings, device
        self.checkpoint, self.validate, self.on_epoch = checkpoint, validate, on_epoch
        self.last = last or checkpoint.with_name(checkpoints.LAST)
        self.before_epoch = before_epoch
        self.console = console
        self.optimizer = torch.optim.AdamW(
            parameter_groups(model, settings.lr), lr=settings.lr,
            weight_decay=settings.weight_decay,
        )
        self.progress = TrainProgress()
        self.private = private
        if private is not None:  # DP-SGD: its epochs, clipping and noise; last weights kept
            self.optimizer = private.wrap(self.optimizer)
        self.ranks, self.seed = ranks or Ranks(), seed
        if private is not None and self.ranks.world_size > 1:
            raise PrivacyError(
                "train.privacy (DP-SGD) trains in one process: its privacy accounting does not "
                "cover several ranks yet. Run the recipe without --nproc/torchrun, or remove "
                "train.privacy.")
        compile_encoder(model, settings, device)
        self.step_loss = self.ranks.wrap(LossOf(model), device)

    def _diverged(self, epoch: int, batch: int, value: float) -> NonFiniteError:
        s, best = self.settings, self.progress.best_epoch
        fixes = [f"lower train.lr (now {s.lr:g})"]
        if not s.grad_clip:
            fixes.append("turn train.grad_clip back on (1.0 is the default)")
        if s.precision != "fp32":
            fixes.append("set train.precision: fp32")
        kept = f" The best weights so far (epoch {best}) are kept." if best else ""
        return NonFiniteError(
            f"Training diverged: the loss became {value} in epoch {epoch} (by batch {batch}), "
            f"so the run stops as failed. To fix it, {', or '.join(fixes)}.{kept}")

    def _epoch(self, epoch: int, rows: dict[str, torch.Tensor], bar: Progress, task: int,
               per_row: np.ndarray | None = None) -> float:
        """Train one epoch; ``per_row``: the targets each row holds, when the model's loss
        takes their count per batch (:func:`targets_per_row`)."""
        if self.private is not None:
            loss = self.private.epoch(self.optimizer, rows, self.device, bar, task)
            if not math.isfinite(loss):
                raise self._diverged(epoch, self.private.steps, loss)
            return loss
        self.model.train()
        n_rows = len(next(iter(rows.values())))
        # One order per epoch from the seed, the same on every rank (each takes its share).
        shuffle = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        host_order = torch.randperm(n_rows, generator=shuffle)
        order = host_order.to(self.device)
        bs = self.settings.batch_size
        n_batches = (n_rows + bs - 1) // bs
        bar.reset(task, total=n_batches)
        total, count, started = torch.zeros((), device=self.device), 0, time.perf_counter()
        for b in range(n_batches):
            batch = order[b * bs:(b + 1) * bs]
            idx, weight = self._share(batch, rows)
            kept = {}
            if per_row is not None:  # counted on the host: no sync to select the targets
                host_rows, _ = self._rank_rows(host_order[b * bs:(b + 1) * bs])
                kept["kept"] = int(per_row[host_rows.numpy()].sum())
            with autocast(self.device, self.settings.precision):
                loss = self.step_loss(**{name: col[idx] for name, col in rows.items()}, **kept)
                if weight is not None:
                    loss = loss * weight
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.settings.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
            self.optimizer.step()
            total += loss.detach()  # summed on the device: no host sync per batch
            count += len(batch)
            if b % PROGRESS_EVERY == 0 or b == n_batches - 1:
                mean = total.item() / (b + 1)
                if not math.isfinite(mean):
                    raise self._diverged(epoch, b + 1, mean)
                spent = max(time.perf_counter() - started, 1e-9)
                bar.update(task, completed=b + 1, left=epoch_remaining(b + 1, n_batches, spent),
                           info=f"loss {mean:.4f} · {count / spent:,.0f} seq/s")
        return float(self.ranks.mean(total)) / max(n_batches, 1)

    def _share(self, batch: torch.Tensor, rows: dict[str, torch.Tensor]
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's rows of a global batch, and the weight that turns its mean loss into its
        part of the global batch's mean (DDP averages gradients over ranks): the share of the
        batch's target tokens it holds, times the number of ranks. One process: no weight."""
        if self.ranks.world_size == 1:
            return batch, None
        idx, counted = self._rank_rows(batch)
        weight = torch.zeros((), device=self.device)
        if not counted:
            return idx, weight
        targets = rows["targets"]
        local, overall = (targets[idx] != 0).sum(), (targets[batch] != 0).sum()
        return idx, weight + local * self.ranks.world_size / overall.clamp(min=1)

    def _rank_rows(self, batch: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """This rank's rows of a global batch (on the device or the host), and whether they
        count: a short last batch may leave a rank none, and then it takes the batch's first
        row, counted for nothing, which keeps DDP in step."""
        share = self.ranks.share(batch)
        return (share, True) if len(share) else (batch[:1], False)

    def _validate(self, epoch: int) -> dict[str, float]:
        try:
            return self.validate()
        except NonFiniteError as exc:
            raise NonFiniteError(f"After epoch {epoch}: {exc}") from exc

    def resume(self) -> bool:
        """Restore the state saved in ``last`` if there is one; return whether it was."""
        if not self.last.exists():
            return False
        self.progress = checkpoints.load_state(self.last, self.model, self.optimizer,
                                               self.device)
        if self.private is not None:
            self.private.restore(checkpoints.saved_extra(self.last))
        return True

    def _stop_reason(self, epoch: int) -> str | None:
        s, p = self.settings, self.progress
        if p.waited >= s.patience:
            return "patience"
        if s.max_minutes and p.seconds > s.max_minutes * 60:
            return "time budget"
        if epoch >= s.epochs:
            return "epochs"
        return None

    def fit(self, rows: dict[str, np.ndarray]) -> TrainProgress:
        """Train until epochs, patience or the time budget run out (continuing from
        ``progress`` after :meth:`resume`); reload the best weights."""
        s, p = self.settings, self.progress
        x = {name: to_device(torch.from_numpy(col), self.device) for name, col in rows.items()}
        per_row = targets_per_row(self.model, rows)
        n_rows = len(next(iter(rows.values())))
        if self.ranks.world_size > 1:
            # One seed gave every rank the same weights; from here each rank draws its own
            # dropout masks, BERT4Rec masks and sampled negatives (the shared stream repeated
            # rank 0's draws on every rank). The shuffle has a generator of its own.
            torch.manual_seed(self.seed * 1_000_003 + 7_919 * (self.ranks.rank + 1))
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.fields[left]}"),
                   TextColumn("{task.fields[info]}"))
        with Progress(*columns, console=self.console, transient=True) as bar:
            epochs = bar.add_task("epochs", total=s.epochs, completed=p.epoch, info="", left="")
            batches = bar.add_task("batches", total=1, info="", left="")
            epoch = p.epoch
            while p.stopped is None and epoch < s.epochs:
                epoch += 1
                self.before_epoch(epoch)
                t0 = time.perf_counter()
                with kept_freed_memory(self.device):
                    loss = self._epoch(epoch, x, bar, batches, per_row)
                seconds = time.perf_counter() - t0
                validation = self._validate(epoch)
                metrics = {"loss": loss, "epoch_seconds": seconds,
                           "sequences_per_s": n_rows / seconds,
                           "eval_seconds": time.perf_counter() - t0 - seconds, **validation}
                if self.private is not None:
                    metrics.update(self.private.epoch_metrics())
                value = metrics.get(s.monitor)
                improved = value is not None and (self.private is not None or better(
                    s.monitor, value, p.best_value))
                p.epoch, p.seconds = epoch, p.seconds + time.perf_counter() - t0
                if improved:
                    p.best_epoch, p.best_value, p.waited = epoch, value, 0
                else:
                    p.waited += 1
                # Rank 0 decides (the time budget is measured per process): all ranks follow.
                p.stopped = self.ranks.broadcast(self._stop_reason(epoch))
                if self.ranks.is_main:
                    with shielded():  # an epoch's work is kept even when a stop arrives now
                        if improved:
                            checkpoints.save_weights(self.model, self.checkpoint)
                        checkpoints.save_state(self.last, self.model, self.optimizer, p,
                                               self.private.state() if self.private else None)
                        self.on_epoch(epoch, metrics)
                timing = run_time(epoch=epoch, epochs=s.epochs, seconds=p.seconds,
                                  waited=p.waited, patience=s.patience, max_minutes=s.max_minutes)
                bar.update(epochs, advance=1, left=timing.short(),
                           info=f"{s.monitor} {value:.4f} (best {p.best_value:.4f} "
                                f"@ {p.best_epoch})" if value is not None else "")
                self.console.print(
                    f"epoch {epoch:>3}/{s.epochs}  loss {loss:.4f}  {s.monitor} {value:.4f}"
                    f"{'  *' if improved else ''}  ({seconds:.1f} s)"
                    f"{'' if p.stopped else f'  {timing}'}", highlight=False)
        best = f"{p.best_value:.4f}" if p.best_value is not None else "none"
        self.console.print(
            f"training stopped ({p.stopped or 'epochs'}) after {p.epoch} epochs in "
            f"{clock(p.seconds)}; best "
            f"{s.monitor} {best} at epoch {p.best_epoch}", highlight=False)
        self.load_best()
        return p

    def load_best(self) -> None:
        """Load the best checkpoint, if one was written (rank 0 reads it, and hands the
        weights to the other ranks: they need no shared filesystem)."""
        if self.ranks.is_main and self.checkpoint.exists():
            checkpoints.load_weights(self.model, self.checkpoint, self.device)
        self.ranks.broadcast_module(self.model)
