"""Vectors for items a run was not trained on, from their text.

A run whose item encoders include ``text_embedding`` can place a new item in its item table:
the item's text is rendered from its side columns with the run's ``hf_text`` template,
tokenized and embedded with the run's language model, and put through the trained adaptor.
The other built-in item encoders give what they can: ``categorical`` the mean of the learned
vectors of the item's known categories, ``id_embedding`` nothing (a zero vector: no id was
learned). Runs without a text encoder cannot place new items; they are reported as unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import torch

from recsys_kit.builtin.tokenize import HfTextConfig
from recsys_kit.nn.encoders.categorical import CategoricalEmbedding
from recsys_kit.nn.encoders.embeddings import IdEmbedding
from recsys_kit.nn.encoders.text_embedding import TextEmbedding, encode_texts
from recsys_kit.nn.model import SequenceRecommender
from recsys_kit.nn.precision import autocast
from recsys_kit.recipe.loader import LoadedRecipe
from recsys_kit.serving.errors import RequestError
from recsys_kit.text.pretrained import resolve_model
from recsys_kit.text.tokenizer import render_texts, template_fields

_PLACEABLE = (TextEmbedding, IdEmbedding, CategoricalEmbedding)


class NewItemEncoder:
    """Item-table rows for new items described by their side columns (``title``, ...)."""

    def __init__(self, model: torch.nn.Module, loaded: LoadedRecipe, columns: Sequence[str],
                 device: torch.device) -> None:
        self.model, self.device = model, device
        self.precision = loaded.recipe.train.precision
        self.texts = {s.config.name: s.config for s in loaded.stage_list("data.tokenize")
                      if isinstance(s.config, HfTextConfig)}
        # The item encoders' settings, in the model's order.
        self.settings = [s.config for s in loaded.stage_list("model.encoders.item")]
        self.columns = sorted(columns)
        self.reason = self._unsupported_reason()
        self._language_models: dict[str, Any] = {}

    def _unsupported_reason(self) -> str | None:
        if not isinstance(self.model, SequenceRecommender) or not any(
                isinstance(e, TextEmbedding) for e in self.model.items):
            return ("this run has no text_embedding item encoder, so it can only use items it "
                    "was trained on")
        other = [type(e).__name__ for e in self.model.items if not isinstance(e, _PLACEABLE)]
        if other:
            return (f"its item encoder {other[0]} cannot encode an item it was not trained on")
        return None

    @cached_property
    def text_columns(self) -> list[str]:
        """Side columns the run's text templates read (what a new item must describe)."""
        fields = {f for e in self.model.items if isinstance(e, TextEmbedding)
                  for f in template_fields(self.texts[e.config.field].template)}
        return sorted(fields)

    def check(self, items: Sequence[Mapping[str, str]]) -> None:
        """Refuse new items this run cannot place, or that carry no text or unknown columns."""
        if self.reason is not None:
            ids = ", ".join(str(i.get("item_id")) for i in items[:5])
            raise RequestError(f"New items ({ids}) cannot be scored: {self.reason}.")
        allowed = set(self.columns) | {"item_id"}
        for item in items:
            extra = sorted(set(item) - allowed)
            if extra:
                raise RequestError(
                    f"New item '{item.get('item_id')}' has unknown column(s) {', '.join(extra)}; "
                    f"this run's items have: {', '.join(self.columns)}.")
            if not any(str(item.get(c) or "").strip() for c in self.text_columns):
                raise RequestError(
                    f"New item '{item.get('item_id')}' has no text: give at least one of "
                    f"{', '.join(self.text_columns)}, from which the run embeds it.")

    @torch.no_grad()
    def rows(self, items: Sequence[Mapping[str, str]]) -> torch.Tensor:
        """(len(items), dim) rows for the run's item table, combined like the trained ones."""
        self.check(items)
        side = {c: np.asarray([str(i.get(c) or "") for i in items]) for c in self.columns}
        with autocast(self.device, self.precision):
            parts = [self._encoder_rows(encoder, settings, side, len(items))
                     for encoder, settings in zip(self.model.items, self.settings, strict=True)]
            combined = self.model.combine(parts) if self.model.combine is not None else (
                torch.stack(parts).sum(0))
        return combined.float()

    def _encoder_rows(self, encoder: torch.nn.Module, settings: Any,
                      side: dict[str, np.ndarray], n: int) -> torch.Tensor:
        if isinstance(encoder, TextEmbedding):
            return encoder.adaptor(self._pooled_text(encoder, side, n)).float()
        if isinstance(encoder, CategoricalEmbedding):
            return category_rows(encoder, side.get(settings.column, np.full(n, "")),
                                  settings.separator)
        assert isinstance(encoder, IdEmbedding)  # no id was learned for a new item
        return torch.zeros(n, encoder.embedding.embedding_dim, device=self.device)

    def _pooled_text(self, encoder: TextEmbedding, side: dict[str, np.ndarray],
                     n: int) -> torch.Tensor:
        """The language model's pooled states of the new items' rendered texts."""
        settings = self.texts[encoder.config.field]
        source = resolve_model(settings.model, "data.tokenize[].params.model")
        texts = render_texts(settings.template, side, n)
        tokenizer = self._load(f"tok:{source.identity}", source.tokenizer)
        tokenizer.padding_side = "right"
        encoded = tokenizer(texts, max_length=settings.max_length if settings.truncation else
                            None, truncation=settings.truncation, padding="longest",
                            return_tensors="pt")
        ids, mask = (encoded[k].to(self.device) for k in ("input_ids", "attention_mask"))
        if encoder.config.mode == "finetune":  # its own fine-tuned layers
            language_model = encoder.language_model
        else:
            language_model = self._load(f"lm:{source.identity}",
                                        lambda: source.model().to(self.device))
        with autocast(self.device, "auto"):
            return encode_texts(language_model, ids, mask, encoder.config.pooling,
                                encoder.config.batch_size)

    def _load(self, key: str, make: Any) -> Any:
        """A tokenizer or language model, loaded once per served run."""
        if key not in self._language_models:
            self._language_models[key] = make()
        return self._language_models[key]


def category_rows(encoder: CategoricalEmbedding, values: np.ndarray,
                   separator: str | None) -> torch.Tensor:
    """Mean learned vector of each new item's known categories (zero when it has none)."""
    index = {v: i + 1 for i, v in enumerate(encoder.values)}
    per_item = [[index[v.strip()] for v in (str(s).split(separator) if separator else [str(s)])
                 if v.strip() in index] for s in values]
    device = encoder.embedding.weight.device
    flat = torch.tensor([t for row in per_item for t in row], dtype=torch.long, device=device)
    offsets = torch.tensor(np.cumsum([0, *map(len, per_item[:-1])]), dtype=torch.long,
                           device=device)
    return encoder.embedding(flat, offsets)
