"""Errors of a recommendation request: each names what was wrong and what to send instead."""

from __future__ import annotations

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
