"""The recipe loader: both validation passes, `--set`, `${VAR}`, effective recipe, JSON schema."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recsys_kit.errors import RecipeError, RecipeIssue
from recsys_kit.plugins import make_plugins
from recsys_kit.recipe import LoadedRecipe, load_recipe
from recsys_kit.recipe.loader import validate_mapping
from recsys_kit.recipe.models import OutputSection, Recipe, TrainSection
from recsys_kit.recipe.schema import recipe_json_schema
from recsys_kit.recipe.yaml_lines import expand_env
from recsys_kit.stages import Family, StageRegistry
from recsys_kit.testing import TINY_RECIPE

REPO = Path(__file__).resolve().parents[1]

GOOD = """\
version: 1
name: good
device: cpu
data:
  ingest: {plugin: synthetic, params: {n_users: 50}}
model:
  encoders:
    user:
      plugin: sasrec
      params: {layers: 1, heads: 1, dim: 16}
train:
  epochs: 2
evaluate:
  - plugin: ranking
    params: {k: [10]}
"""
# Lines of GOOD (1-based): user.params 10, train 11, epochs 12, evaluate.0.params 15.

STAGE_PATHS = {
    "data.ingest", "data.split", "data.tokenize.0", "model.encoders.user",
    "model.encoders.item.0", "model.fusion", "model.scorer", "evaluate.0",
}


@pytest.fixture(scope="module")
def registry() -> StageRegistry:
    """Every installed stage; skipped when the `synthetic` reader is not installed."""
    plugins = make_plugins()
    if "synthetic" not in plugins.registry.names(Family.INGEST):
        pytest.skip("the `synthetic` ingest stage is not installed (recsys_kit.builtin.ingest)")
    return plugins.registry


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(path: Path, registry: StageRegistry, overrides: list[str] | None = None
              ) -> list[RecipeIssue]:
    with pytest.raises(RecipeError) as info:
        load_recipe(path, registry, overrides or [])
    return info.value.issues


def only_issue(path: Path, registry: StageRegistry, overrides: list[str] | None = None
               ) -> RecipeIssue:
    issues = issues_of(path, registry, overrides)
    assert len(issues) == 1, issues
    return issues[0]


# -- valid recipes -------------------------------------------------------------------------------


def test_valid_recipe_passes_and_resolves_every_stage(good: Path, registry: StageRegistry) -> None:
    loaded = load_recipe(good, registry)
    assert isinstance(loaded, LoadedRecipe)
    assert loaded.recipe.name == "good"
    assert loaded.source == str(good)
    assert set(loaded.stages) == STAGE_PATHS
    user = loaded.stage("model.encoders.user")
    assert (user.spec.family, user.spec.name) == (Family.USER_ENCODER, "sasrec")
    assert isinstance(user.config, user.spec.config)
    assert (user.config.layers, user.config.heads, user.config.dim) == (1, 1, 16)
    assert loaded.stage("data.ingest").spec.name == "synthetic"
    assert loaded.stage("data.split").spec.name == "leave_one_out"
    assert [s.spec.name for s in loaded.stage_list("evaluate")] == ["ranking"]
    assert [s.spec.name for s in loaded.stage_list("data.tokenize")] == ["item_ids"]
    assert loaded.stage("evaluate.0").config.k == [10]


def test_tiny_recipe_mapping_validates(registry: StageRegistry) -> None:
    loaded = validate_mapping(copy.deepcopy(TINY_RECIPE), registry)
    assert loaded.recipe.name == "tiny"
    assert set(loaded.stages) == STAGE_PATHS


def test_single_item_encoder_mapping_is_accepted(tmp_path: Path, registry: StageRegistry) -> None:
    text = GOOD.replace("      params: {layers: 1, heads: 1, dim: 16}\n",
                        "      params: {layers: 1, heads: 1, dim: 16}\n"
                        "    item: {plugin: id_embedding}\n")
    loaded = load_recipe(write(tmp_path, text), registry)
    assert [s.spec.name for s in loaded.stage_list("model.encoders.item")] == ["id_embedding"]


# -- unreadable files --------------------------------------------------------------------------


def test_missing_file_is_a_recipe_error(tmp_path: Path, registry: StageRegistry) -> None:
    issue = only_issue(tmp_path / "nope.yaml", registry)
    assert "file not found" in issue.message
    assert issue.file == str(tmp_path / "nope.yaml")


def test_zero_byte_file_is_not_a_recipe(tmp_path: Path, registry: StageRegistry) -> None:
    issue = only_issue(write(tmp_path, ""), registry)
    assert "a recipe is a YAML mapping" in issue.message
    assert issue.line == 1


def test_directory_is_not_readable(tmp_path: Path, registry: StageRegistry) -> None:
    issue = only_issue(tmp_path, registry)
    assert "cannot read the file" in issue.message


# -- --set overrides ---------------------------------------------------------------------------


def test_set_scalar(good: Path, registry: StageRegistry) -> None:
    loaded = load_recipe(good, registry, ["train.lr=3e-4", "seed=3"])
    assert loaded.recipe.train.lr == pytest.approx(3e-4)
    assert loaded.recipe.seed == 3
    assert loaded.effective["train"]["lr"] == pytest.approx(3e-4)


def test_set_list_index(good: Path, registry: StageRegistry) -> None:
    loaded = load_recipe(good, registry, ["evaluate.0.params.k=[5]", "train.monitor=hr@5"])
    assert loaded.stage("evaluate.0").config.k == [5]
    assert loaded.effective["evaluate"][0]["params"]["k"] == [5]


def test_set_creates_new_nested_keys(good: Path, registry: StageRegistry) -> None:
    loaded = load_recipe(good, registry, [
        "model.encoders.user.params.dropout=0.1",   # new key in an existing mapping
        "output.top_k=3",                           # new section
        "model.scorer.plugin=dot",                  # a defaulted stage, spelt out
        "model.scorer.params.loss=bce",
    ])
    assert loaded.stage("model.encoders.user").config.dropout == pytest.approx(0.1)
    assert loaded.recipe.output.top_k == 3
    assert loaded.stage("model.scorer").config.loss == "bce"


def test_set_replaces_a_whole_stage(good: Path, registry: StageRegistry) -> None:
    loaded = load_recipe(good, registry, ["model.encoders.user={plugin: popularity}"])
    assert loaded.stage("model.encoders.user").spec.name == "popularity"


def test_set_without_equals_is_a_clear_error(good: Path, registry: StageRegistry) -> None:
    issue = only_issue(good, registry, ["train.lr"])
    assert issue.file == "--set"
    assert "path.to.key=value" in issue.message
    assert "train.lr" in issue.message


def test_set_index_past_the_end(good: Path, registry: StageRegistry) -> None:
    issue = only_issue(good, registry, ["evaluate.3.params.k=[5]"])
    assert issue.file == "--set"
    assert "past the end" in issue.message


def test_set_through_a_scalar(good: Path, registry: StageRegistry) -> None:
    issue = only_issue(good, registry, ["train.epochs.x=1"])
    assert issue.file == "--set"
    assert "cannot assign" in issue.message


@pytest.mark.parametrize(
    ("override", "text"),
    [
        ("train.lr", "needs the form path.to.key=value"),
        ("train..lr=1", "needs the form path.to.key=value"),
        ("=1", "needs the form path.to.key=value"),
        ("name=[unclosed", "not valid YAML"),
        ("evaluate.3.params.k=[5]", "past the end"),
        ("train.epochs.x=1", "cannot assign"),
    ],
)
def test_set_errors_say_set_once(good: Path, registry: StageRegistry, override: str, text: str
                                 ) -> None:
    issue = only_issue(good, registry, [override])
    assert issue.file == "--set"
    assert text in issue.message
    assert not issue.message.startswith("--set")
    assert "--set: --set" not in str(issue)


@pytest.mark.parametrize(
    ("override", "path", "text"),
    [
        ("train.epochs=0", "train.epochs", "greater than or equal to 1"),
        ("train.lr=fast", "train.lr", "valid number"),
        ("model.encoders.user.params.heads=0", "model.encoders.user.params.heads",
         "greater than or equal to 1"),
        ("evaluate.0.params.k=ten", "evaluate.0.params.k", "valid list"),
        ("train.monitor=ndcg@50", "train.monitor", "not computed by any evaluator"),
        ("model.encoders.user.plugin=sasrek", "model.encoders.user.plugin", "'sasrec'"),
        ("train.foo=1", "train.foo", "unknown key 'foo'"),
        ("train.²=1", "train.²", "unknown key '²'"),  # isdigit() but not an index
    ],
)
def test_errors_from_an_override_are_attributed_to_set(
    good: Path, registry: StageRegistry, override: str, path: str, text: str
) -> None:
    issue = only_issue(good, registry, [override])
    assert (issue.path, issue.file, issue.line) == (path, "--set", None)
    assert text in issue.message
    assert str(issue).startswith(f"--set: {path}: ")


def test_file_errors_keep_their_lines_next_to_overrides(good: Path, registry: StageRegistry
                                                        ) -> None:
    text = GOOD.replace("  epochs: 2\n", "  epochs: 0\n")
    issues = issues_of(write(good.parent, text, "bad.yaml"), registry, ["train.lr=fast"])
    where = {(i.path, i.file, i.line) for i in issues}
    assert where == {("train.epochs", str(good.parent / "bad.yaml"), 12),
                     ("train.lr", "--set", None)}


def test_set_reaches_the_params_of_a_defaulted_stage(good: Path, registry: StageRegistry
                                                      ) -> None:
    # The recipe leaves the scorer (and fusion) to their defaults, dot and last_position.
    loaded = load_recipe(good, registry, ["model.scorer.params.loss=sce",
                                          "model.fusion.params={}"])
    assert loaded.effective["model"]["scorer"]["plugin"] == "dot"
    assert loaded.effective["model"]["scorer"]["params"]["loss"] == "sce"
    assert loaded.effective["model"]["fusion"]["plugin"] == "last_position"


@pytest.mark.parametrize(
    ("override", "path"),
    [("trian.epochs=2", "trian"), ("model.scorer.params.loss=nope", "model.scorer.params.loss")],
)
def test_keys_created_by_set_are_attributed_to_set(
    good: Path, registry: StageRegistry, override: str, path: str
) -> None:
    issue = only_issue(good, registry, [override])
    assert (issue.path, issue.file, issue.line) == (path, "--set", None)


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ("evaluate.0.params.k=[ten]", "evaluate.0.params.k.0"),
        ("model.encoders.user={plugin: sasrec, params: {haeds: 2}}",
         "model.encoders.user.params.haeds"),
    ],
)
def test_errors_inside_a_replaced_value_are_attributed_to_set(
    good: Path, registry: StageRegistry, override: str, path: str
) -> None:
    issue = only_issue(good, registry, [override])
    assert (issue.path, issue.file, issue.line) == (path, "--set", None)


# -- ${VAR} expansion --------------------------------------------------------------------------

ENV_RECIPE = GOOD.replace("name: good", "name: ${RK_TEST_NAME:-fallback}").replace(
    "  epochs: 2", "  epochs: ${RK_TEST_EPOCHS:-3}"
) + "output:\n  dir: ${RK_TEST_OUT:-runs}/exp\n"


@pytest.fixture
def env_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("RK_TEST_NAME", "RK_TEST_EPOCHS", "RK_TEST_OUT"):
        monkeypatch.delenv(var, raising=False)
    return write(tmp_path, ENV_RECIPE)


def test_env_defaults_apply_when_unset(env_recipe: Path, registry: StageRegistry) -> None:
    loaded = load_recipe(env_recipe, registry)
    assert loaded.recipe.name == "fallback"
    assert loaded.recipe.train.epochs == 3
    assert loaded.recipe.output.dir == "runs/exp"


def test_env_values_are_used_when_set(env_recipe: Path, registry: StageRegistry,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RK_TEST_NAME", "from-env")
    monkeypatch.setenv("RK_TEST_EPOCHS", "7")
    monkeypatch.setenv("RK_TEST_OUT", "/data/out")
    loaded = load_recipe(env_recipe, registry)
    assert loaded.recipe.name == "from-env"
    assert loaded.recipe.train.epochs == 7
    assert loaded.recipe.output.dir == "/data/out/exp"


def test_env_value_is_validated_at_its_line(env_recipe: Path, registry: StageRegistry,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RK_TEST_EPOCHS", "many")
    issue = only_issue(env_recipe, registry)
    assert (issue.path, issue.line) == ("train.epochs", 12)
    assert "'many'" in issue.message


def test_env_default_applies_when_set_but_empty(env_recipe: Path, registry: StageRegistry,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RK_TEST_NAME", "")
    assert load_recipe(env_recipe, registry).recipe.name == "fallback"


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${RK_X}", None, ""),
        ("${RK_X}", "", ""),
        ("${RK_X}", "v", "v"),
        ("${RK_X:-d}", None, "d"),
        ("${RK_X:-d}", "", "d"),
        ("${RK_X:-d}", "v", "v"),
        ("${RK_X:-}", None, ""),
        ("a/${RK_X:-b}/${RK_X}", "", "a/b/"),
    ],
)
def test_expand_env_follows_posix(monkeypatch: pytest.MonkeyPatch, value: str, env: str | None,
                                  expected: str) -> None:
    if env is None:
        monkeypatch.delenv("RK_X", raising=False)
    else:
        monkeypatch.setenv("RK_X", env)
    assert expand_env({"k": [value]}) == {"k": [expected]}


# -- every error at once -----------------------------------------------------------------------


def test_every_structure_error_is_reported_at_once(tmp_path: Path, registry: StageRegistry
                                                   ) -> None:
    text = GOOD.replace("version: 1", "version: 3").replace("device: cpu", "device: tpu")
    text = text.replace("  epochs: 2\n", "  epochs: 0\n  lr: fast\n  patiense: 2\n")
    issues = issues_of(write(tmp_path, text), registry)
    assert sorted((i.path, i.line) for i in issues) == [
        ("device", 3), ("train.epochs", 12), ("train.lr", 13), ("train.patiense", 14),
        ("version", 1),
    ]


def test_every_stage_error_is_reported_at_once(tmp_path: Path, registry: StageRegistry) -> None:
    text = GOOD.replace("{n_users: 50}", "{n_users: -1}").replace(
        "{layers: 1, heads: 1, dim: 16}", "{layers: 0, haeds: 1, dim: 16}"
    ).replace("{k: [10]}", "{k: [10], metrics: [hr, nope]}")
    text += "baselines: [{plugin: popularty}]\n"
    issues = issues_of(write(tmp_path, text), registry)
    assert sorted((i.path, i.line) for i in issues) == [
        ("baselines.0.plugin", 16),
        ("data.ingest.params.n_users", 5),
        ("evaluate.0.params.metrics.1", 15),
        ("model.encoders.user.params.haeds", 10),
        ("model.encoders.user.params.layers", 10),
    ]
    error_text = str(RecipeError(issues))
    assert error_text.startswith("The recipe has 5 errors:")


def test_structure_and_stage_errors_are_reported_together(tmp_path: Path,
                                                          registry: StageRegistry) -> None:
    text = GOOD.replace("plugin: sasrec", "plugin: sasrek") + "trian: {epochs: 2}\n"
    issues = issues_of(write(tmp_path, text), registry)
    assert {i.path for i in issues} == {"trian", "model.encoders.user.plugin"}


def test_issues_are_listed_in_file_order(tmp_path: Path, registry: StageRegistry) -> None:
    text = GOOD.replace("version: 1", "version: 3").replace("{n_users: 50}", "{n_users: 0}")
    text = text.replace("plugin: sasrec", "plugin: sasrek") + "trian: {epochs: 2}\n"
    issues = issues_of(write(tmp_path, text), registry, ["train.lr=fast"])
    assert [(i.path, i.line) for i in issues] == [
        ("version", 1), ("data.ingest.params.n_users", 5), ("model.encoders.user.plugin", 9),
        ("trian", 16), ("train.lr", None),
    ]


def test_malformed_stage_refs_are_reported_once(tmp_path: Path, registry: StageRegistry) -> None:
    text = GOOD.replace("plugin: sasrec", "plugn: sasrec") + "trian: {epochs: 2}\n"
    issues = issues_of(write(tmp_path, text), registry)
    assert sorted(i.path for i in issues) == [
        "model.encoders.user.plugin", "model.encoders.user.plugn", "trian",
    ]


def test_empty_evaluator_list_is_rejected(good: Path, registry: StageRegistry) -> None:
    issues = issues_of(good, registry, ["evaluate=[]"])
    assert {i.path for i in issues} & {"evaluate", "train.monitor"}


# -- effective recipe --------------------------------------------------------------------------


def test_effective_recipe_includes_defaults(good: Path, registry: StageRegistry) -> None:
    loaded = load_recipe(good, registry)
    eff = loaded.effective
    json.dumps(eff)  # what a run records must be JSON
    assert eff["version"] == 1 and eff["seed"] == 42 and eff["device"] == "cpu"
    assert set(eff) == set(Recipe.model_fields)
    assert set(eff["train"]) == set(TrainSection.model_fields)
    assert set(eff["output"]) == set(OutputSection.model_fields)
    assert eff["train"]["epochs"] == 2  # from the file
    for key in ("batch_size", "lr", "patience", "monitor", "eval_batch_size"):
        assert eff["train"][key] == TrainSection.model_fields[key].default, key
    assert eff["data"]["split"]["plugin"] == "leave_one_out"
    assert [t["plugin"] for t in eff["data"]["tokenize"]] == ["item_ids"]
    assert [i["plugin"] for i in eff["model"]["encoders"]["item"]] == ["id_embedding"]
    assert eff["model"]["fusion"]["plugin"] == "last_position"
    assert eff["model"]["scorer"]["plugin"] == "dot"
    assert eff["baselines"] == []
    assert eff["output"] == OutputSection().model_dump(mode="json")


def test_effective_recipe_records_overrides_not_the_file(good: Path, registry: StageRegistry
                                                         ) -> None:
    before = good.read_text(encoding="utf-8")
    loaded = load_recipe(good, registry, ["train.epochs=5", "name=other"])
    assert loaded.effective["train"]["epochs"] == 5
    assert loaded.effective["name"] == "other"
    assert good.read_text(encoding="utf-8") == before


def test_effective_recipe_includes_stage_param_defaults(good: Path, registry: StageRegistry
                                                        ) -> None:
    loaded = load_recipe(good, registry, ["model.encoders.user.params.dropout=1e-1"])
    user = loaded.stage("model.encoders.user")
    params = loaded.effective["model"]["encoders"]["user"]["params"]
    assert params == user.config.model_dump(mode="json")
    assert params["dropout"] == pytest.approx(0.1)


def _at(mapping: dict[str, Any], path: str) -> Any:
    node: Any = mapping
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    return node


def test_effective_params_are_the_validated_configs_of_every_stage(
    good: Path, registry: StageRegistry
) -> None:
    loaded = load_recipe(good, registry, ["baselines=[{plugin: popularity}]"])
    assert "baselines.0" in loaded.stages
    for path, stage in loaded.stages.items():
        assert _at(loaded.effective, path)["params"] == stage.config.model_dump(mode="json"), path
    evaluate = loaded.effective["evaluate"][0]["params"]
    assert evaluate["k"] == [10] and evaluate["metrics"]  # default metrics recorded
    json.dumps(loaded.effective)


def test_effective_recipe_validates_to_itself(good: Path, registry: StageRegistry) -> None:
    loaded = load_recipe(good, registry, ["baselines=[{plugin: popularity}]"])
    again = validate_mapping(copy.deepcopy(loaded.effective), registry)
    assert again.effective == loaded.effective


# -- JSON schema -------------------------------------------------------------------------------


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@pytest.fixture(scope="module")
def schema(registry: StageRegistry) -> dict[str, Any]:
    return recipe_json_schema(registry)


def test_schema_is_json_serialisable(schema: dict[str, Any]) -> None:
    assert json.loads(json.dumps(schema)) == schema
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert {"version", "name", "data", "model"} <= set(schema["required"])


def test_schema_refs_resolve(schema: dict[str, Any]) -> None:
    refs = {node["$ref"] for node in _walk(schema) if isinstance(node.get("$ref"), str)}
    for ref in refs:
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in schema["$defs"], f"dangling {ref}"


def test_schema_lists_every_installed_stage(schema: dict[str, Any], registry: StageRegistry
                                            ) -> None:
    titles = {node.get("title") for node in _walk(schema)}
    consts = {node["properties"]["plugin"].get("const") for node in _walk(schema)
              if isinstance(node.get("properties"), dict) and "plugin" in node["properties"]}
    for family in Family:
        for name in registry.names(family):
            assert f"{family.value}: {name}" in titles, (family, name)
            assert name in consts


def test_schema_has_sasrec_params(schema: dict[str, Any]) -> None:
    choices = [node for node in _walk(schema) if node.get("title") == "user_encoder: sasrec"]
    assert choices
    params = choices[0]["properties"]["params"]
    assert {"heads", "layers", "dim", "dropout", "max_len"} <= set(params["properties"])
    assert params["properties"]["heads"]["type"] == "integer"
    assert params.get("additionalProperties") is False


def test_schema_narrows_stage_lists_to_their_family(schema: dict[str, Any],
                                                    registry: StageRegistry) -> None:
    evaluate = schema["properties"]["evaluate"]
    assert evaluate["type"] == "array"
    titles = {choice["title"] for choice in evaluate["items"]["oneOf"]}
    assert titles == {f"evaluator: {n}" for n in registry.names(Family.EVALUATOR)}


def test_schema_accepts_single_item_encoder_mapping(schema: dict[str, Any]) -> None:
    def accepts_object(node: dict[str, Any]) -> bool:
        if "$ref" in node:
            return accepts_object(schema["$defs"][node["$ref"].removeprefix("#/$defs/")])
        if node.get("type") == "object":
            return True
        branches = [*node.get("oneOf", []), *node.get("anyOf", [])]
        return any(accepts_object(b) for b in branches)

    assert accepts_object(schema["$defs"]["EncodersSection"]["properties"]["item"])


def test_schema_requires_an_evaluator(schema: dict[str, Any]) -> None:
    assert schema["properties"]["evaluate"]["minItems"] == 1


# -- the repository's own recipes --------------------------------------------------------------

REPO_RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


@pytest.mark.parametrize(
    "path",
    REPO_RECIPES or [pytest.param(None, marks=pytest.mark.skip(reason="no recipes/*.yaml yet"))],
    ids=[p.name for p in REPO_RECIPES] or ["none"],
)
def test_repo_recipes_validate(path: Path, registry: StageRegistry) -> None:
    loaded = load_recipe(path, registry)
    assert loaded.stages


def test_a_direct_recommender_records_no_model_stage_it_ignores(tmp_path: Path) -> None:
    from recsys_kit.recipe.loader import validate_mapping
    from recsys_kit.testing import tiny

    recipe = tiny(tmp_path, "model.encoders.user={plugin: popularity}")
    loaded = validate_mapping(recipe, make_plugins().registry)
    assert not [path for path in loaded.stages if path.startswith(("model.fusion", "model.scorer",
                                                                   "model.encoders.item"))]
    assert set(loaded.effective["model"]) == {"encoders", "rerank_top_n"}
    assert set(loaded.effective["model"]["encoders"]) == {"user", "combine"}


def test_loss_options_the_chosen_loss_ignores_are_named() -> None:
    from recsys_kit.builtin.scorers import DotConfig

    config = DotConfig(loss="gbce", sampler="popularity", bucket_items=64, negatives=100)
    assert set(config.unused_params()) == {"sampler", "bucket_items"}
    assert "sampled_softmax" in config.unused_params()["sampler"]
    # A recorded recipe spells out every default: those are never reported.
    assert DotConfig(**DotConfig(loss="sce").model_dump()).unused_params() == {}
