"""Errors of a recommendation request: each names what was wrong and what to send instead."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from recsys_kit.errors import RecsysKitError


class RequestError(RecsysKitError):
    """A request that cannot be answered as asked (HTTP 422)."""

    status_code = 422


class UnknownUser(RequestError):
    """A user id the run was not trained on (HTTP 404)."""

    status_code = 404


class NoFeedbackStore(RecsysKitError):
    """Feedback sent to a server started without a results file (HTTP 503)."""

    status_code = 503


def describe_validation(errors: Iterable[Any], body: Any = None, whole: str = "the event") -> str:
    """Pydantic errors as 'field: problem (got value)' (``whole`` names the object itself). A
    body that may be one event or a list of them reports both readings: only the one matching
    what was sent (``body``) is kept."""
    parts = []
    for err in errors:
        loc = [p for p in err.get("loc", ()) if p != "body"]
        if loc and isinstance(loc[0], str) and "[" in loc[0]:  # a union member's tag
            if loc[0].startswith("list[") != isinstance(body, list):
                continue
            loc = loc[1:]
        field = ".".join(str(p) for p in loc) or whole
        kind = err.get("type")
        message = "unknown field" if kind == "extra_forbidden" else str(err.get("msg"))
        message = message.removeprefix("Value error, ")
        got = "" if kind in ("missing", "extra_forbidden", "value_error") or not loc else (
            f" (got {err.get('input')!r})")
        parts.append(f"{field}: {message}{got}")
    return "; ".join(list(dict.fromkeys(parts))[:5])
