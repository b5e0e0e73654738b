"""The one place where a user id given by a caller becomes the id a run's data knows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def canonical_user_id(raw_id: str, recipe: Mapping[str, Any]) -> str:
    """The id under which the run with effective ``recipe`` stores user ``raw_id``.

    Every caller-given user id goes through here: ``--user``, ``user_id`` in ``POST
    /recommend`` and in feedback events. Runs that pseudonymise user ids (``recsys_kit.privacy``)
    store the keyed pseudonym (the key loaded as the run loaded it); plain runs store ids as
    given.
    """
    from recsys_kit.privacy.keys import stored_user_id

    return stored_user_id(raw_id, recipe)
