"""SASRec and BERT4Rec: transformers over item vectors (causal or bidirectional), on SDPA."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from recsys_kit.builtin.encoders import Bert4RecConfig, TransformerConfig
from recsys_kit.nn.dropout import Dropout
from recsys_kit.nn.model import ModelShape, UserEncoder
from recsys_kit.nn.precision import attention_dtype, length_groups

#: Fewest histories in a batch for it to be encoded in length groups.
MIN_GROUPED_ROWS = 32


class SelfAttentionBlock(nn.Module):
    """Pre-norm self-attention and feed-forward, on ``scaled_dot_product_attention``."""

    def __init__(
        self, dim: int, heads: int, dropout: float, ffn_mult: int, attn_dropout: float = 0.0
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.attn_dropout = heads, attn_dropout
        self.norm_attn = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, dim * ffn_mult), nn.GELU(), Dropout(dropout),
            nn.Linear(dim * ffn_mult, dim),
        )
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, D); ``attn_mask`` (B, 1, L, L) bool, True where attending is allowed."""
        b, length, d = x.shape
        q, k, v = (
            self.qkv(self.norm_attn(x)).view(b, length, 3, self.heads, d // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        dtype = attention_dtype(x.device, q.dtype)
        with torch.autocast(x.device.type, enabled=False):
            attended = F.scaled_dot_product_attention(
                q.to(dtype), k.to(dtype), v.to(dtype), attn_mask=attn_mask,
                dropout_p=self.attn_dropout if self.training else 0.0,
            )
        x = x + self.drop(self.proj(attended.transpose(1, 2).reshape(b, length, d)))
        return x + self.drop(self.ffn(self.norm_ffn(x)))


class TransformerEncoder(UserEncoder):
    """Positional embeddings and a stack of self-attention blocks; causal or bidirectional."""

    def __init__(self, config: TransformerConfig, causal: bool) -> None:
        super().__init__()
        self.causal = causal
        self.objective = "next_item" if causal else "masked"
        self.scale = math.sqrt(config.dim)
        self.positions = nn.Embedding(config.max_len, config.dim)
        # Positions must not drown the (scaled) item vectors: the default N(0, 1) init does.
        nn.init.xavier_normal_(self.positions.weight)
        self.drop = Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            SelfAttentionBlock(config.dim, config.heads, config.dropout, config.ffn_mult,
                               config.attn_dropout)
            for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(config.dim)

    def attention_mask(self, valid: torch.Tensor) -> torch.Tensor:
        """Keys must be real items (and earlier, if causal); each position sees itself."""
        length = valid.shape[1]
        allowed = valid[:, None, None, :].expand(-1, 1, length, length)
        if self.causal:
            allowed = allowed & torch.ones(
                length, length, dtype=torch.bool, device=valid.device
            ).tril()
        eye = torch.eye(length, dtype=torch.bool, device=valid.device)
        return allowed | eye

    def forward(self, items: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """States for every position of a left-padded history.

        Histories never attend across rows, so the batch may be encoded in groups of similar
        length (``recsys_kit.nn.precision.length_groups``), each trimmed to its longest
        history: the result is the same, without the work on the padding the trim drops.
        Only the causal encoder (SASRec) does so: trimmed groups draw dropout's random numbers
        in another order, and BERT4Rec on small data depends on that draw enough to flip a
        seeded result (tests/test_bert4rec_cold_ratings.py beats popularity with seed 42 only,
        also on main), so BERT4Rec keeps its exact random path.
        """
        groups = length_groups(items.device) if self.causal else 1
        # A few rows gain nothing from grouping; per-user gradients (DP-SGD's vmap) see one
        # row at a time and cannot follow the data-dependent split.
        if groups == 1 or items.shape[0] < MIN_GROUPED_ROWS:
            return self._encode(items, valid)
        length, dim = valid.shape[1], items.shape[-1]
        spans = torch.where(valid.any(1), length - valid.int().argmax(1), 0)  # from 1st item on
        # Sorted by span once, each group a contiguous block: one gather forward and backward.
        # index_select and split because [] and tensor_split build a full-size gradient per
        # call in the backward pass.
        order = spans.argsort()
        sizes = [len(rows) for rows in order.tensor_split(groups)]
        # Padding positions get what they would get untrimmed: the final norm of zeros.
        pad = self.norm(items.new_zeros(1, 1, dim))
        pieces = []
        for group, group_valid, group_spans in zip(
            items.index_select(0, order).split(sizes), valid[order].split(sizes),
            spans[order].split(sizes), strict=True,
        ):
            longest = int(group_spans[-1]) if len(group_spans) else 0
            parts = [pad.expand(len(group), length - longest, dim)]
            if longest:  # bf16 autocast: norms give float32
                parts.append(self._encode(group[:, -longest:], group_valid[:, -longest:])
                             .to(pad.dtype))
            pieces.append(torch.cat(parts, 1))
        return torch.cat(pieces).index_select(0, order.argsort())

    def _encode(self, items: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        length = items.shape[1]
        pos = self.positions.weight[-length:]
        x = self.drop(items * self.scale + pos) * valid.unsqueeze(-1)
        mask = self.attention_mask(valid)
        for block in self.blocks:
            x = block(x, mask) * valid.unsqueeze(-1)
        return self.norm(x)


def build_sasrec(config: TransformerConfig, shape: ModelShape) -> TransformerEncoder:
    """SASRec (Kang & McAuley, 2018): causal self-attention, next-item objective."""
    return TransformerEncoder(config, causal=True)


def build_bert4rec(config: Bert4RecConfig, shape: ModelShape) -> TransformerEncoder:
    """BERT4Rec (Sun et al., 2019): bidirectional self-attention, masked-item objective."""
    encoder = TransformerEncoder(config, causal=False)
    encoder.mask_prob = config.mask_prob
    return encoder
