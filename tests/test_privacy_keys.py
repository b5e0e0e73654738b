"""Pseudonym keys: how they are read, what is refused, and which key a results file holds."""

from __future__ import annotations

import hashlib
import hmac
import pickle
from pathlib import Path

import pytest

from recsys_kit.errors import PrivacyError
from recsys_kit.privacy import key_for_recipe, load_key, pseudonym_for, stored_user_id
from recsys_kit.privacy.key_record import claim_results_file, recorded_key
from recsys_kit.privacy.keys import PseudonymKey
from recsys_kit.recipe.models import PrivacySection
from recsys_kit.store import ResultStore

SECRET = "correct-horse-battery-staple-0123456789"


def key(secret: str = SECRET) -> PseudonymKey:
    return PseudonymKey(secret.encode(), "test")


def test_pseudonym_is_the_truncated_hmac_sha256_of_the_raw_id() -> None:
    expected = hmac.new(SECRET.encode(), b"alice@example.org", hashlib.sha256).hexdigest()
    assert pseudonym_for("alice@example.org", key(), 16) == expected[:16]
    assert pseudonym_for("alice@example.org", key(), 40) == expected[:40]
    assert pseudonym_for("bob@example.org", key()) != pseudonym_for("alice@example.org", key())
    assert pseudonym_for("alice@example.org", key("another-secret-key-0123456789")) != \
        pseudonym_for("alice@example.org", key())


def test_a_key_shows_its_id_never_its_secret_and_cannot_be_pickled() -> None:
    k = key()
    assert SECRET not in repr(k) and SECRET not in str(k) and k.id in repr(k)
    assert k.id != key("another-secret-key-0123456789").id and len(k.id) == 16
    with pytest.raises(TypeError):
        pickle.dumps(k)


def test_short_keys_are_refused() -> None:
    with pytest.raises(PrivacyError, match=r"at least 16"):
        PseudonymKey(b"short", "test")


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MY_KEY", SECRET + "\n")
    loaded = load_key(PrivacySection(pseudonymize_users=True, key_env="MY_KEY"), tmp_path)
    assert loaded.id == key().id
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(PrivacyError, match=r"MY_KEY.*not set"):
        load_key(PrivacySection(pseudonymize_users=True, key_env="MY_KEY"), tmp_path)


def test_key_file_outside_the_output_folder(tmp_path: Path) -> None:
    file = tmp_path / "secret.key"
    file.write_text(SECRET + "\n")
    file.chmod(0o600)
    settings = PrivacySection(pseudonymize_users=True, key_file=str(file))
    assert load_key(settings, tmp_path / "runs").id == key().id


def test_key_file_inside_the_output_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    (out / "keys").mkdir(parents=True)
    file = out / "keys" / "secret.key"
    file.write_text(SECRET)
    file.chmod(0o600)
    with pytest.raises(PrivacyError, match=r"inside output.dir"):
        load_key(PrivacySection(pseudonymize_users=True, key_file=str(file)), out)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "secret.key"
    file.write_text(SECRET)
    file.chmod(0o644)
    with pytest.raises(PrivacyError, match=r"chmod 600"):
        load_key(PrivacySection(pseudonymize_users=True, key_file=str(file)), tmp_path / "o")


def test_missing_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(PrivacyError, match=r"secrets.token_hex"):
        load_key(PrivacySection(pseudonymize_users=True, key_file=str(tmp_path / "none")),
                 tmp_path / "o")


def test_serving_gets_the_stored_id_of_a_raw_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_KIT_PSEUDONYM_KEY", SECRET)
    recipe = {"privacy": {"pseudonymize_users": True, "pseudonym_length": 20},
              "output": {"dir": "runs"}}
    assert key_for_recipe(recipe) is not None
    assert stored_user_id("alice", recipe) == pseudonym_for("alice", key(), 20)
    assert stored_user_id("alice", {"privacy": {"pseudonymize_users": False}}) == "alice"
    assert key_for_recipe({"output": {"dir": "runs"}}) is None


def test_serving_with_a_wrong_key_is_told_so(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    results = tmp_path / "results.duckdb"
    claim_results_file(results, key(), 16)
    recipe = {"privacy": {"pseudonymize_users": True}, "output": {"dir": str(tmp_path)}}
    monkeypatch.setenv("RECSYS_KIT_PSEUDONYM_KEY", SECRET)
    assert stored_user_id("alice", recipe, results=results) == pseudonym_for("alice", key())
    monkeypatch.setenv("RECSYS_KIT_PSEUDONYM_KEY", "another-secret-key-0123456789")
    with pytest.raises(PrivacyError, match="not the key"):
        stored_user_id("alice", recipe, results=results)


def test_the_first_pseudonymised_run_records_the_key_id_and_others_must_match(
        tmp_path: Path) -> None:
    results = tmp_path / "results.duckdb"
    claim_results_file(results, key(), 16)
    record = recorded_key(results)
    assert record is not None and record.key_id == key().id and record.pseudonym_length == 16
    claim_results_file(results, key(), 16)  # the same key again: fine
    with pytest.raises(PrivacyError, match=r"not the key"):
        claim_results_file(results, key("another-secret-key-0123456789"), 16)
    with pytest.raises(PrivacyError, match=r"pseudonym_length=16"):
        claim_results_file(results, key(), 24)
    with pytest.raises(PrivacyError, match=r"would store raw user ids"):
        claim_results_file(results, None, 16)
    assert SECRET.encode() not in results.read_bytes()


def test_pseudonyms_are_refused_in_a_file_of_raw_ids(tmp_path: Path) -> None:
    import numpy as np

    store = ResultStore(tmp_path / "results.duckdb")
    store.migrate()
    store.write_dataset("k", np.array(["alice"]), np.array([0]), np.array(["i1"]),
                        np.array(["train"]), {"item_id": np.array(["i1"]),
                                              "title": np.array(["t"])})
    with pytest.raises(PrivacyError, match=r"already holds raw user ids"):
        claim_results_file(store.path, key(), 16)
    claim_results_file(store.path, None, 16)  # raw ids next to raw ids: fine
