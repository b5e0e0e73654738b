"""The ``hf_text`` tokenizer: item text from side columns, tokenized for a pretrained model."""

from __future__ import annotations

from string import Formatter

import numpy as np

from recsys_kit.builtin.tokenize import HfTextConfig
from recsys_kit.data import SequenceData, as_strings
from recsys_kit.errors import DataError
from recsys_kit.runner.context import DataContext
from recsys_kit.text.pretrained import resolve_model


def template_fields(template: str) -> list[str]:
    """The column names a ``str.format`` template refers to, in order."""
    return [name for _, name, _, _ in Formatter().parse(template) if name]


def render_texts(template: str, side: dict[str, np.ndarray], n_items: int) -> list[str]:
    """One text per item from its side columns; items without any side text give ''."""
    fields = template_fields(template)
    missing = [f for f in fields if f not in side]
    if missing:
        have = ", ".join(sorted(side)) or "none (the recipe reads no items table)"
        raise DataError(
            f"hf_text template '{template}' uses column(s) {', '.join(missing)}, but the items "
            f"table has: {have}. Change data.tokenize[...].params.template, or map the column "
            "in data.ingest.params.items.mapping."
        )
    columns = [side[f] for f in fields]
    texts = []
    for i in range(n_items):
        values = {f: col[i] for f, col in zip(fields, columns, strict=True)}
        texts.append(template.format_map(values).strip() if any(values.values()) else "")
    return texts


class HfText:
    """Renders each item's text and tokenizes it with a Hugging Face tokenizer.

    Adds ``item_features['<name>.input_ids']`` and ``['<name>.attention_mask']`` (items x
    tokens), ``item_side['<name>']`` (the texts) and ``meta['<name>.model']``.
    """

    def __init__(self, config: HfTextConfig) -> None:
        self.config = config

    def run(self, ctx: DataContext, data: SequenceData | None) -> SequenceData:
        """Tokenize the text of every item in ``data``'s vocabulary."""
        if data is None:
            raise DataError("hf_text needs the item vocabulary: list {plugin: item_ids} before "
                            "it in data.tokenize.")
        cfg = self.config
        texts = render_texts(cfg.template, data.item_side, data.n_items)
        tokenizer = resolve_model(cfg.model, "data.tokenize[].params.model").tokenizer()
        tokenizer.padding_side = "right"  # pooling and batching read real tokens from the left
        encoded = tokenizer(texts, max_length=cfg.max_length if cfg.truncation else None,
                            truncation=cfg.truncation, padding="longest", return_tensors="np")
        ids = np.asarray(encoded["input_ids"], dtype=np.int32)
        mask = np.asarray(encoded["attention_mask"], dtype=np.int8)
        limit = getattr(tokenizer, "model_max_length", None)
        if not cfg.truncation and isinstance(limit, int) and ids.shape[1] > limit:
            longest = int(np.argmax(mask.sum(1)))
            raise DataError(
                f"hf_text: with truncation false the text of item {data.item_ids[longest]} is "
                f"{ids.shape[1]} tokens, more than the {limit} that {cfg.model} reads. Set "
                "truncation: true (texts are cut at max_length) or shorten the template."
            )
        data.item_features[f"{cfg.name}.input_ids"] = ids
        data.item_features[f"{cfg.name}.attention_mask"] = mask
        data.item_side[cfg.name] = as_strings(texts)
        data.meta[f"{cfg.name}.model"] = cfg.model
        lengths = mask.sum(1)
        empty = sum(1 for t in texts if not t)
        truncated = int((lengths >= cfg.max_length).sum()) if cfg.truncation else 0
        ctx.report("tokenize", f"hf_text: {len(texts):,} item texts, {lengths.mean():.1f} tokens "
                   f"on average, {truncated:,} cut at {cfg.max_length}, {empty:,} without text")
        return data
