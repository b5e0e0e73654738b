"""DP-SGD for the trainer: Poisson-sampled users, per-user clipping and Gaussian noise by
Opacus's ``DPOptimizer``, and Opacus's PRV accountant for the ε spent.

One training row is one user's whole (truncated) sequence, so the guarantee is user-level:
adding or removing one user changes the trained weights' distribution by at most (ε, δ).
Early stopping and best-epoch selection would choose weights by the users' validation items,
outside the guarantee: a private run trains every epoch and keeps the last weights.
The accountant's history is saved with the training state after every epoch: a resumed run
goes on counting from it, and a state saved without it is refused rather than counted as new.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from rich.console import Console
from rich.progress import Progress

from recsys_kit.errors import PrivacyError
from recsys_kit.nn.model import SequenceRecommender
from recsys_kit.nn.precision import autocast
from recsys_kit.privacy.dp.per_sample import PerUserGradients

if TYPE_CHECKING:
    from opacus.optimizers import DPOptimizer

    from recsys_kit.recipe.models import TrainPrivacy, TrainSection

ACCOUNTANT = "prv"
#: The key of the accountant's state in the saved training state's metadata.
ACCOUNTS = "dp_accounts"
INSTALL = "pip install 'recsys-kit[privacy]'"
#: Opacus's RDP analysis (used by the PRV accountant to bound its domain) suggests wider
#: orders; the PRV bound it returns is valid either way.
WIDER_ORDERS = "Optimal order is the largest alpha"
T = TypeVar("T")


def _quietly(compute: Callable[[], T]) -> T:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=WIDER_ORDERS)
        return compute()


def _opacus() -> Any:
    try:
        import opacus
    except ImportError as exc:
        raise PrivacyError(f"train.privacy trains through Opacus, which is not installed: "
                           f"{INSTALL}, or remove train.privacy.") from exc
    return opacus


def check_model(model: Any) -> None:
    """Refuse models whose training DP-SGD here cannot protect, naming the setting."""
    from recsys_kit.nn.fusion.pairwise import PairwiseRecommender

    if not isinstance(model, SequenceRecommender):
        raise PrivacyError(
            f"train.privacy: the user encoder ({type(model).__name__}) is not trained by "
            "gradient descent, so DP-SGD cannot protect what it learns from the data. Remove "
            "train.privacy, or use a trained encoder such as sasrec.")
    if isinstance(model, PairwiseRecommender):
        raise PrivacyError("train.privacy does not support pairwise fusion (target_attention "
                           "with mlp) yet. Use fusion last_position with scorer dot.")
    loss = getattr(getattr(model.scorer, "config", None), "loss", None)
    if loss != "cross_entropy" or model.uses_ratings:
        raise PrivacyError(
            f"train.privacy needs the full-softmax loss (model.scorer dot with loss "
            f"cross_entropy); this scorer's loss is {loss!r}. Sampled losses draw negatives "
            "shared across users. Set model.scorer.params.loss=cross_entropy.")


def check_data(settings: TrainPrivacy, train: TrainSection, n_users: int) -> None:
    """Refuse δ and batch sizes Poisson-sampled DP-SGD cannot honour for ``n_users`` users."""
    if settings.delta >= 1 / n_users:
        raise PrivacyError(
            f"train.privacy.delta is {settings.delta:g}, not below 1/users = 1/{n_users:,} = "
            f"{1 / n_users:.3g}: a δ that large allows one user's data to leak outright. Use "
            f"at most 1/(10·users), e.g. delta: {1 / (10 * n_users):.2g}.")
    if train.batch_size >= n_users:
        raise PrivacyError(
            f"train.batch_size ({train.batch_size}) must be below the number of users who "
            f"train ({n_users:,}): each step picks every user with probability "
            "batch_size/users (Poisson sampling). Lower train.batch_size.")


class PrivateTraining:
    """The trainer's collaborator for DP-SGD: wraps its optimizer and runs its epochs."""

    def __init__(self, settings: TrainPrivacy, train: TrainSection, model: SequenceRecommender,
                 n_users: int, max_len: int, console: Console) -> None:
        check_model(model)
        check_data(settings, train, n_users)
        opacus = _opacus()
        from opacus.accountants.utils import get_noise_multiplier

        self.settings, self.train, self.n_users = settings, train, n_users
        self.sample_rate = train.batch_size / n_users
        self.steps = max(1, round(1 / self.sample_rate))
        try:
            self.noise_multiplier = _quietly(lambda: get_noise_multiplier(
                target_epsilon=settings.target_epsilon, target_delta=settings.delta,
                sample_rate=self.sample_rate, steps=self.steps * train.epochs,
                accountant=ACCOUNTANT))
        except ValueError as exc:
            raise PrivacyError(
                f"train.privacy.target_epsilon {settings.target_epsilon:g} cannot be reached in "
                f"{train.epochs} epochs of {self.steps} steps (δ {settings.delta:g}, "
                f"{n_users:,} users) at any noise level. Raise target_epsilon, or train fewer "
                "epochs or with a smaller batch_size.") from exc
        self.accountant = opacus.accountants.create_accountant(mechanism=ACCOUNTANT)
        self.gradients = PerUserGradients(model, max_len)
        self.epsilon = 0.0
        console.print(
            f"differential privacy: ε {settings.target_epsilon:g} at δ {settings.delta:.3g} "
            f"after {train.epochs} epochs; {n_users:,} users, each picked with probability "
            f"{self.sample_rate:.4f} per step, gradients clipped to {settings.max_grad_norm:g}, "
            f"noise multiplier {self.noise_multiplier:.3f}; the last epoch's weights are kept",
            highlight=False)

    def wrap(self, optimizer: torch.optim.Optimizer) -> DPOptimizer:
        """The trainer's optimizer behind clipping and noise, with the accountant's hook."""
        from opacus.optimizers import DPOptimizer

        private = DPOptimizer(optimizer, noise_multiplier=self.noise_multiplier,
                              max_grad_norm=self.settings.max_grad_norm,
                              expected_batch_size=self.train.batch_size)
        private.attach_step_hook(self.accountant.get_optimizer_hook_fn(self.sample_rate))
        return private

    def epoch(self, optimizer: DPOptimizer, rows: dict[str, torch.Tensor], device: torch.device,
              progress: Progress, task: Any) -> float:
        """One epoch of Poisson-sampled steps; returns the mean per-user loss."""
        self.gradients.model.train()
        progress.reset(task, total=self.steps)
        params = self.gradients.params
        total, seen = torch.zeros((), device=device), 0
        for step in range(self.steps):
            picked = torch.nonzero(torch.rand(self.n_users, device=device) < self.sample_rate)
            picked = picked.squeeze(1)
            optimizer.zero_grad(set_to_none=True)
            if len(picked):
                with autocast(device, self.train.precision):
                    losses, grads = self.gradients(rows["history"][picked],
                                                   rows["targets"][picked])
                total += losses.detach().float().sum()
                seen += len(picked)
            else:
                grads = self.gradients.empty()
            for name, param in params.items():
                param.grad_sample = grads[name].to(param.dtype)
            optimizer.step()
            progress.update(task, completed=step + 1, info=f"{seen:,} users")
        self.epsilon = _quietly(lambda: self.accountant.get_epsilon(self.settings.delta))
        return float(total) / max(seen, 1)

    def state(self) -> dict[str, str]:
        """What resuming needs: the accountant's history and the noise it was computed for."""
        return {ACCOUNTS: json.dumps({
            "history": self.accountant.history, "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate, "epsilon": self.epsilon})}

    def restore(self, saved: dict[str, str]) -> None:
        """Continue the accounts from a saved training state; refuse one that has none or was
        noised differently, since counting it from zero would understate the ε spent."""
        if ACCOUNTS not in saved:
            raise PrivacyError(
                "Cannot resume this run with train.privacy: its saved training state holds no "
                "privacy accounts (it was trained without DP, or by an older version), so the "
                "ε already spent is unknown. Start a new run (without --resume).")
        accounts = json.loads(saved[ACCOUNTS])
        if not (math.isclose(accounts["noise_multiplier"], self.noise_multiplier)
                and math.isclose(accounts["sample_rate"], self.sample_rate)):
            raise PrivacyError(
                f"Cannot resume this run with train.privacy: its saved state was trained with "
                f"noise multiplier {accounts['noise_multiplier']:.4f} and sampling rate "
                f"{accounts['sample_rate']:.4f}, this recipe gives {self.noise_multiplier:.4f} "
                f"and {self.sample_rate:.4f} (the epochs, batch size, users or ε changed). "
                "Resume with the recipe it started with, or start a new run.")
        self.accountant.history = [tuple(entry) for entry in accounts["history"]]
        self.epsilon = accounts["epsilon"]

    def epoch_metrics(self) -> dict[str, float]:
        """Logged with the epoch's training figures: the ε spent so far."""
        return {"epsilon": self.epsilon}


def private_training(train: TrainSection, model: Any, rows: dict[str, Any], max_len: int,
                     console: Console) -> PrivateTraining | None:
    """The collaborator for ``train.privacy``, or None when the recipe trains without DP."""
    if train.privacy is None:
        return None
    return PrivateTraining(train.privacy, train, model, len(rows["history"]), max_len, console)
