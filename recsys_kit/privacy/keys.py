"""Pseudonym keys: read from an environment variable or a key file, never written anywhere.

A pseudonym is ``HMAC-SHA256(key, raw user id)`` as lowercase hex, cut to the recipe's
``privacy.pseudonym_length``. A key is known by its *identifier*, the HMAC of a fixed label
under it: safe to store, and enough to tell whether two keys are the same.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from recsys_kit.errors import PrivacyError

if TYPE_CHECKING:
    from recsys_kit.recipe.models import PrivacySection

#: The message whose HMAC identifies a key (changing it changes every key id).
KEY_ID_LABEL = b"recsys-kit pseudonym key id v1"
#: Hex characters of a key id.
KEY_ID_LENGTH = 16
#: Shortest key accepted, in bytes.
MIN_KEY_BYTES = 16
DEFAULT_LENGTH = 16
MAKE_KEY = "python -c 'import secrets; print(secrets.token_hex(32))'"


class PseudonymKey:
    """A secret pseudonym key. ``repr`` and ``str`` show its identifier and source only, so a
    key never lands in a log, an error message or a traceback; it cannot be pickled."""

    __slots__ = ("_secret", "id", "source")

    def __init__(self, secret: bytes, source: str) -> None:
        if len(secret) < MIN_KEY_BYTES:
            raise PrivacyError(
                f"The pseudonym key from {source} is {len(secret)} bytes long; at least "
                f"{MIN_KEY_BYTES} are needed for pseudonyms nobody can recompute. Make one with "
                f"{MAKE_KEY}.")
        self._secret = secret
        self.id = hmac.new(secret, KEY_ID_LABEL, hashlib.sha256).hexdigest()[:KEY_ID_LENGTH]
        self.source = source

    def pseudonym(self, raw_id: str, length: int = DEFAULT_LENGTH) -> str:
        """The pseudonym of ``raw_id``: its HMAC-SHA256 under this key, ``length`` hex chars."""
        return hmac.new(self._secret, raw_id.encode("utf-8"), hashlib.sha256).hexdigest()[:length]

    def __repr__(self) -> str:
        return f"PseudonymKey(id={self.id}, source={self.source})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a PseudonymKey is never pickled (it would write the key to disk)")


def pseudonym_for(raw_id: str, key: PseudonymKey, length: int = DEFAULT_LENGTH) -> str:
    """The pseudonym a run with this key and ``privacy.pseudonym_length`` gives ``raw_id``."""
    return key.pseudonym(str(raw_id), length)


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def _read_key_file(path: Path, out_dir: Path) -> bytes:
    where = f"privacy.key_file ({path})"
    if _inside(path, out_dir):
        raise PrivacyError(
            f"{where} lies inside output.dir ({out_dir}), next to the pseudonymised results it "
            "protects: anyone who gets the folder could undo the pseudonyms. Move the key file "
            "outside the output folder and set privacy.key_file to its new path.")
    if not path.is_file():
        raise PrivacyError(f"{where} does not exist (a relative path is read from the current "
                           f"directory, {os.getcwd()}). Create it ({MAKE_KEY} > FILE; chmod 600 "
                           "FILE) or fix the path.")
    mode = path.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PrivacyError(f"{where} can be read by other users (mode {stat.filemode(mode)}). "
                           f"Run `chmod 600 {path}` and try again.")
    return path.read_bytes().strip()


def load_key(settings: PrivacySection, out_dir: str | Path) -> PseudonymKey:
    """The pseudonym key as a run with these settings reads it: ``privacy.key_file`` when set
    (refused inside ``out_dir`` or readable by others), else the ``privacy.key_env`` variable."""
    if settings.key_file is not None:
        path = Path(settings.key_file).expanduser()
        return PseudonymKey(_read_key_file(path, Path(out_dir)), f"key file {path}")
    value = os.environ.get(settings.key_env, "").strip()
    if not value:
        raise PrivacyError(
            f"privacy.pseudonymize_users is on but the environment variable {settings.key_env} "
            f"(privacy.key_env) is not set. Set it to the key this output folder was made with; "
            f"for a new folder make one with {MAKE_KEY} and keep it outside the output folder "
            "(or set privacy.key_file to a file holding it).")
    return PseudonymKey(value.encode("utf-8"), f"environment variable {settings.key_env}")


def key_for_recipe(recipe: Mapping[str, Any], results: Path | None = None
                   ) -> PseudonymKey | None:
    """The key of a run, from its effective recipe (``runs.recipe``), or None when the run
    stores raw user ids. With ``results``, a key other than the one that file records is a
    PrivacyError (not a pseudonym that silently matches nobody). For serving."""
    from recsys_kit.privacy.key_record import recorded_key, verify_key
    from recsys_kit.recipe.models import OutputSection, PrivacySection

    settings = PrivacySection.model_validate(recipe.get("privacy") or {})
    if not settings.pseudonymize_users:
        return None
    out_dir = OutputSection.model_validate(recipe.get("output") or {}).dir
    key = load_key(settings, out_dir)
    record = recorded_key(results) if results is not None else None
    if record is not None:
        verify_key(results, record, key, settings.pseudonym_length)
    return key


def stored_user_id(raw_id: str, recipe: Mapping[str, Any], key: PseudonymKey | None = None,
                   results: Path | None = None) -> str:
    """The user id a run stored for ``raw_id``: its pseudonym when the run's recipe
    pseudonymises users (with ``key``, or the key loaded as the run did and checked against
    ``results``), else ``raw_id``."""
    privacy = recipe.get("privacy") or {}
    if not privacy.get("pseudonymize_users"):
        return str(raw_id)
    key = key or key_for_recipe(recipe, results)
    assert key is not None
    return pseudonym_for(raw_id, key, int(privacy.get("pseudonym_length", DEFAULT_LENGTH)))
