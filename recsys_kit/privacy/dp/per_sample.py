"""Per-user gradients of a sequence recommender, exact, with ``torch.func``.

The item table feeds both the input (the history's item vectors) and the output layer (the
softmax over every item), outside any one module's ``forward``; Opacus's per-layer hooks miss
such use. Here the table is computed once per batch, each user's loss is differentiated with
respect to the user-side parameters *and the table* (``vmap`` over ``grad``), and the table's
per-user gradients are pulled back to the item encoders' parameters (``vmap`` over ``vjp``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, vjp, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from recsys_kit.nn.batches import mask_items
from recsys_kit.nn.model import SequenceRecommender

#: torch.func runs ops without a batching rule (CPU flash attention) one user at a time and
#: says so on every call; the result is the same, so the warning is not shown to users.
SLOW_PATH = "There is a performance drop because we have not yet implemented the batching rule"
#: Bytes of logits (and their gradients) one vmap chunk may hold.
CHUNK_BYTES = 1 << 30
ITEM_SIDE = ("items.", "combine.")


class UserLoss(nn.Module):
    """One user's loss for ``torch.func``: the model's full-softmax cross-entropy, averaged
    over the user's predicted positions (fixed shapes, no boolean indexing)."""

    def __init__(self, model: SequenceRecommender) -> None:
        super().__init__()
        self.model = model

    def forward(self, table: torch.Tensor, history: torch.Tensor,
                targets: torch.Tensor) -> torch.Tensor:
        """``history`` and ``targets`` (L,) tokens -> the scalar loss."""
        states, valid = self.model.encode(history[None], table)
        states = self.model.fusion.training_states(states, valid)[0]
        logits = self.model.scorer.logits(states, table)
        real = targets != 0
        losses = F.cross_entropy(logits, torch.where(real, targets, 1), reduction="none")
        return (losses * real).sum() / real.sum().clamp(min=1)


class ItemTable(nn.Module):
    """The model's combined item table as a module's output (for ``functional_call``)."""

    def __init__(self, model: SequenceRecommender) -> None:
        super().__init__()
        self.model = model

    def forward(self) -> torch.Tensor:
        """(n_tokens, D) vectors of every token."""
        return self.model.item_table()


class PerUserGradients:
    """Computes, for a batch of training rows (one per user), every user's gradient of every
    trainable parameter: ``grads[name]`` is (B, *param.shape)."""

    def __init__(self, model: SequenceRecommender, max_len: int) -> None:
        self.model = model
        self.loss, self.table = UserLoss(model), ItemTable(model)
        trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.item_names = [n for n in trainable if n.startswith(ITEM_SIDE)]
        self.user_names = [n for n in trainable if not n.startswith(ITEM_SIDE)]
        self.params = trainable
        with torch.no_grad():
            self.n_tokens = model.item_table().shape[0]
        self.chunk = max(1, CHUNK_BYTES // (16 * max_len * self.n_tokens))

    def _user_loss(self) -> Callable:
        def loss(params: dict[str, torch.Tensor], table: torch.Tensor, history: torch.Tensor,
                 targets: torch.Tensor) -> torch.Tensor:
            named = {f"model.{n}": p for n, p in params.items()}
            return functional_call(self.loss, named, (table, history, targets))
        return loss

    def __call__(self, history: torch.Tensor, targets: torch.Tensor
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per-user losses (B,) and gradients {name: (B, *shape)} of a batch of rows."""
        if self.model.masked:  # one random mask per batch, as the model's own loss draws
            history, targets = mask_items(history, self.model.user.mask_prob,
                                          self.n_tokens - 1)
        items = {n: self.params[n].detach() for n in self.item_names}

        def table_of(params: dict[str, torch.Tensor]) -> torch.Tensor:
            return functional_call(self.table, {f"model.{n}": p for n, p in params.items()}, ())

        table, pull_back = vjp(table_of, items)
        users = {n: self.params[n].detach() for n in self.user_names}
        chunk = self.chunk if self.chunk < len(history) else None
        per_user = vmap(grad_and_value(self._user_loss(), argnums=(0, 1)),
                        in_dims=(None, None, 0, 0), randomness="different", chunk_size=chunk)
        # The math attention kernel is made of ops that vmap batches; the fused kernels are
        # run one user at a time (1.5x slower per batch on a CPU).
        with warnings.catch_warnings(), sdpa_kernel([SDPBackend.MATH]):
            warnings.filterwarnings("ignore", message=SLOW_PATH)
            (user_grads, table_grads), losses = per_user(users, table, history, targets)
            grads = dict(user_grads)
            if items:
                (item_grads,) = vmap(pull_back, chunk_size=chunk)(table_grads)
                grads.update(item_grads)
        return losses, grads

    def empty(self) -> dict[str, torch.Tensor]:
        """Gradients of an empty batch (Poisson sampling may pick nobody)."""
        return {n: p.new_zeros((0, *p.shape)) for n, p in self.params.items()}
