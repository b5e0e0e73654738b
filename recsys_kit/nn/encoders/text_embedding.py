"""Item encoder over item text: a pretrained ``transformers`` model, frozen or fine-tuned."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from recsys_kit.builtin.encoders import TextEmbeddingConfig
from recsys_kit.errors import RecsysKitError
from recsys_kit.nn.encoders.adaptors import build_adaptor
from recsys_kit.nn.model import ItemEncoder, ModelShape
from recsys_kit.nn.precision import autocast
from recsys_kit.text.pretrained import PretrainedModel, resolve_model


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, T, H) token states -> (B, H): masked mean, or the first (CLS) state."""
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def encode_texts(
    model: Any, ids: torch.Tensor, mask: torch.Tensor, pooling: str, batch_size: int
) -> torch.Tensor:
    """Pooled states of every row of ``ids``, in batches of similar length (less padding)."""
    # Lengths read back once per call (not once per batch): each batch is cut to its longest.
    lengths, order = torch.sort(mask.sum(1).cpu(), descending=True)
    order = order.to(ids.device)
    out = []
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(int(lengths[start]), 1)
        batch_ids, batch_mask = ids[rows, :width], mask[rows, :width]
        hidden = model(input_ids=batch_ids, attention_mask=batch_mask).last_hidden_state
        out.append(pool(hidden, batch_mask, pooling).float())
    pooled = torch.cat(out)
    return pooled[torch.argsort(order)]


def frozen_embeddings(
    source: PretrainedModel, ids: np.ndarray, mask: np.ndarray, config: TextEmbeddingConfig,
    shape: ModelShape,
) -> torch.Tensor:
    """Embeddings of every item text, from the disk cache when the same model and texts were
    embedded before (in any run or recipe writing to the same output directory)."""
    key = hashlib.sha256()
    # bf16 autocast applies where the device supports it: embeddings differ by device type.
    for part in (source.identity, config.pooling, str(ids.shape), shape.device.type):
        key.update(part.encode())
    key.update(np.ascontiguousarray(ids).tobytes())
    key.update(np.ascontiguousarray(mask).tobytes())
    path = None
    if config.cache and shape.cache_dir is not None:
        path = shape.cache_dir / f"text-embeddings-{key.hexdigest()[:20]}.safetensors"
        if path.exists():
            shape.report(f"text_embedding: {len(ids):,} item embeddings from cache ({path.name})")
            return load_file(str(path))["embeddings"]
    shape.report(f"text_embedding: embedding {len(ids):,} item texts with {source.ref} on "
                 f"{shape.device}{' (once: kept in the cache)' if path else ''} ...")
    started = time.perf_counter()
    model = source.model().to(shape.device)
    with torch.no_grad(), autocast(shape.device, "auto"):
        vectors = encode_texts(model, torch.from_numpy(ids.astype(np.int64)).to(shape.device),
                               torch.from_numpy(mask.astype(np.int64)).to(shape.device),
                               config.pooling, config.batch_size).cpu()
    shape.report(f"text_embedding: embedded {len(ids):,} item texts with {source.ref} in "
                 f"{time.perf_counter() - started:.1f} s on {shape.device}")
    if path is not None:
        _save_atomically(vectors, path)
    return vectors


def _save_atomically(vectors: torch.Tensor, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    save_file({"embeddings": vectors.contiguous()}, str(tmp))
    tmp.replace(path)


class TextEmbedding(ItemEncoder):
    """Item text -> pretrained model -> pooled vector -> adaptor -> ``dim``.

    ``frozen`` keeps the pooled vectors as a fixed buffer and trains only the adaptor;
    ``finetune`` re-encodes every item text at each step with the last layers trainable at
    their own learning rate (``learning_rate`` on the model, read by the trainer).
    """

    def __init__(self, config: TextEmbeddingConfig, shape: ModelShape) -> None:
        super().__init__()
        self.config = config
        ids, mask = _tokenized(config.field, shape)
        source = resolve_model(shape.meta[f"{config.field}.model"],
                               "data.tokenize[].params.model")
        if config.mode == "frozen":
            vectors = frozen_embeddings(source, ids, mask, config, shape)
            self.register_buffer("vectors", vectors, persistent=False)
            width = vectors.shape[1]
        else:
            self.language_model = _trainable_top(source, config)
            self.register_buffer("ids", torch.from_numpy(ids.astype(np.int64)), persistent=False)
            self.register_buffer("mask", torch.from_numpy(mask.astype(np.int64)),
                                 persistent=False)
            width = self.language_model.config.hidden_size
        self.drop = nn.Dropout(config.dropout)
        self.adaptor = build_adaptor(config.adaptor, width, shape.dim, config.experts)
        self.mask_vector = nn.Parameter(torch.zeros(shape.dim).normal_(std=0.02))

    def table(self) -> torch.Tensor:
        """Padding (zero), every item's adapted text vector, the mask token's vector."""
        if self.config.mode == "frozen":
            pooled = self.vectors
        else:
            pooled = encode_texts(self.language_model, self.ids, self.mask, self.config.pooling,
                                  self.config.batch_size)
        items = self.adaptor(self.drop(pooled))
        zero = items.new_zeros(1, items.shape[1])
        return torch.cat([zero, items, self.mask_vector[None].to(items.dtype)])


def _tokenized(name: str, shape: ModelShape) -> tuple[np.ndarray, np.ndarray]:
    ids = shape.item_features.get(f"{name}.input_ids")
    mask = shape.item_features.get(f"{name}.attention_mask")
    if ids is None or mask is None or f"{name}.model" not in shape.meta:
        made = sorted({k.split(".")[0] for k in shape.item_features}) or ["none"]
        raise RecsysKitError(
            f"text_embedding reads the text field '{name}', which no tokenizer made (text "
            f"fields made: {', '.join(made)}). Add {{plugin: hf_text, params: {{template: ..., "
            f"name: {name}}}}} to data.tokenize, or set the encoder's `field`."
        )
    return ids, mask


def _trainable_top(source: PretrainedModel, config: TextEmbeddingConfig) -> nn.Module:
    """The model with every parameter frozen except its last ``finetune_layers`` layers."""
    model = source.model()
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise RecsysKitError(
            f"text_embedding mode finetune needs a BERT-style model (encoder.layer); "
            f"'{source.ref}' is a {type(model).__name__}. Use mode: frozen."
        )
    if config.finetune_layers > len(layers):
        raise RecsysKitError(
            f"text_embedding: finetune_layers is {config.finetune_layers} but '{source.ref}' "
            f"has {len(layers)} layers. Lower finetune_layers."
        )
    model.requires_grad_(False)
    for layer in layers[-config.finetune_layers:]:
        layer.requires_grad_(True)
    model.learning_rate = config.finetune_lr
    return model.train()


def build_text_embedding(config: TextEmbeddingConfig, shape: ModelShape) -> TextEmbedding:
    """Text embedding item encoder."""
    return TextEmbedding(config, shape)
