"""Combining several item encoders' tables into one: sum, concat (projected) or gate."""

from __future__ import annotations

import torch
from torch import nn


class ItemCombiner(nn.Module):
    """``sum`` adds the tables; ``concat`` projects their concatenation back to ``dim``;
    ``gate`` mixes them per item with softmax weights computed from all of them."""

    def __init__(self, how: str, n_tables: int, dim: int) -> None:
        super().__init__()
        self.how = how
        if n_tables > 1 and how == "concat":
            self.project = nn.Linear(n_tables * dim, dim, bias=False)
        if n_tables > 1 and how == "gate":
            self.gate = nn.Linear(n_tables * dim, n_tables)

    def forward(self, tables: list[torch.Tensor]) -> torch.Tensor:
        """(n_tokens, dim) tables -> one (n_tokens, dim) table; padding rows stay zero."""
        if len(tables) == 1:
            return tables[0]
        if self.how == "sum":
            return torch.stack(tables).sum(0)
        joined = torch.cat(tables, dim=-1)
        if self.how == "concat":
            return self.project(joined)
        weights = torch.softmax(self.gate(joined), dim=-1)
        return (torch.stack(tables, dim=-1) * weights[:, None, :]).sum(-1)
