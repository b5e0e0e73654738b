"""Shared fixtures: the real datasets in ../shared/data, skipped with a reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

#: Fuzz tests (tests/test_fuzz_*.py) run bounded in the suite (a 10 s deadline per example
#: catches hangs without failing on a busy machine); `HYPOTHESIS_PROFILE=fuzz`
#: explores far more. No example database: nothing is written next to the tests.
settings.register_profile("suite", max_examples=60, deadline=10_000, database=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("fuzz", max_examples=2000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

DEFAULT_SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SHARED_DATA = Path(os.environ.get("RECSYS_KIT_SHARED_DATA", DEFAULT_SHARED)).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets; the test is skipped when the project has no ../shared."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (a fresh clone has no ../shared)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT (random weights) and its word-piece tokenizer, saved to a folder: loads
    offline by path like any downloaded Hugging Face model."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from recsys_kit.ingest.synthetic import ADJECTIVES, NOUNS, TOPIC_WORDS

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = {w.lower() for w in [*ADJECTIVES, *NOUNS]}
    for name, topic_words in TOPIC_WORDS.items():
        words |= {name.lower(), *(w.lower() for w in topic_words)}
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "|", ".", ",", *sorted(words),
             *map(str, range(10))]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder
