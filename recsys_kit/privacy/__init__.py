"""Privacy by recipe: pseudonymous user ids, only the columns a recipe needs, owner-only
files, erasure of a user (``recsys-kit forget``) and differentially private training.

The public helpers here import no torch: a serving process can turn a raw user id into the
id a run stored with ``stored_user_id(raw_id, run_recipe)``, or with ``load_key`` and
``pseudonym_for`` itself. DP training lives in ``recsys_kit.privacy.dp`` (needs the
``privacy`` extra).
"""

from recsys_kit.privacy.keys import (
    PseudonymKey,
    key_for_recipe,
    load_key,
    pseudonym_for,
    stored_user_id,
)

__all__ = ["PseudonymKey", "key_for_recipe", "load_key", "pseudonym_for", "stored_user_id"]
