"""The HTTP JSON API of a served run (FastAPI): recommend, feedback, health, OpenAPI.

``POST /recommend`` answers for a known user, a fresh history, or both; ``POST /feedback``
stores one event or a list of them (durable before the reply); ``GET /health`` says what is
served; ``/docs`` and ``/openapi.json`` describe it all. Bad requests get a 4xx whose
``detail`` says what was wrong and what to send. The app writes nothing but feedback.
"""

from __future__ import annotations

import os
import threading

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from recsys_kit import __version__
from recsys_kit.errors import NonFiniteError, StoreError
from recsys_kit.serving.errors import NoFeedbackStore, RequestError, describe_validation
from recsys_kit.serving.feedback import FeedbackEvent, record_feedback
from recsys_kit.serving.recommender import LoadedRun, Recommendations
from recsys_kit.store import ResultStore

#: The most items one request may ask for.
MAX_K = 1000
EXAMPLE = '{"user_id": "42", "k": 10}'


class RecommendRequest(BaseModel):
    """Who to recommend for, how many items, and whether to explain them."""

    # Ids are kept exactly, spaces included, as the data stages read them.
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(None, description="A user the run knows (their recorded "
                                "history is used).")
    history: list[str] | None = Field(
        None, description="Item ids, oldest first: a new user's behaviour, or fresh behaviour "
        "of user_id (read after their recorded history).")
    k: int = Field(10, ge=1, le=MAX_K, description="How many items to return.")
    explain: bool = Field(False, description="Also return the history items behind each "
                          "recommendation, where the run can tell (target attention).")
    new_items: list[dict[str, str]] | None = Field(
        None, description="Items the run was not trained on: item_id plus side columns (e.g. "
        "title, genres), embedded from their text by runs with a text encoder.")
    ignore_unknown: bool = Field(False, description="Leave out history items the run does not "
                                 "know (listed in unknown_items) instead of refusing.")


class FeedbackReceipt(BaseModel):
    """Stored events: their ids, and how they were made durable."""

    run_id: str = Field(description="The run the feedback answers.")
    event_ids: list[str] = Field(description="Ids of the events, in the order sent.")
    durable: str = Field(description="`committed` to the results file, or `journaled` beside it "
                         "(another program held the file; merged by the next write).")


class Health(BaseModel):
    """What is served."""

    status: str
    run_id: str
    name: str
    users: int
    items: int
    explain_method: str | None
    accepts_new_items: bool
    feedback: bool


def create_app(run: LoadedRun, store: ResultStore | None, parallel: int | None = None
               ) -> FastAPI:
    """The API serving ``run``; feedback goes to ``store`` (None: feedback is refused).

    At most ``parallel`` requests are scored at once (default: one per available core); the
    others wait their turn rather than all slowing each other down.
    """
    slots = threading.BoundedSemaphore(parallel or len(os.sched_getaffinity(0)))
    app = FastAPI(title=f"recsys-kit: {run.name}", version=__version__,
                  description=f"Recommendations of run {run.run_id} (recipe '{run.name}'), and "
                  "feedback on them.")

    @app.get("/health", response_model=Health)
    def health() -> Health:
        """The served run, its size, and what it can do."""
        return Health(status="ok", run_id=run.run_id, name=run.name,
                      users=run.data.n_users, items=run.data.n_items,
                      explain_method=run.explain_method,
                      accepts_new_items=run.accepts_new_items, feedback=store is not None)

    @app.post("/recommend", response_model=Recommendations)
    def recommend(request: RecommendRequest) -> Recommendations:
        """Top-k items, best first, with scores on the run's scale; seen items excluded."""
        with slots:
            return run.recommend(user=request.user_id, history=request.history, k=request.k,
                                 explain=request.explain, new_items=request.new_items,
                                 ignore_unknown=request.ignore_unknown)

    @app.post("/feedback", response_model=FeedbackReceipt, status_code=201)
    def feedback(events: FeedbackEvent | list[FeedbackEvent]) -> FeedbackReceipt:
        """Store one event or a list of them; each is durable before the reply."""
        batch = events if isinstance(events, list) else [events]
        if not batch:
            raise RequestError("The list of feedback events is empty.")
        if store is None:
            raise NoFeedbackStore(f"This server of run {run.run_id} has no results file to "
                                  "store feedback in; start it with --results.")
        receipt = record_feedback(store, run.run_id, batch, run.loaded.effective, "http")
        return FeedbackReceipt(run_id=run.run_id, event_ids=receipt.event_ids,
                               durable=receipt.durable)

    _install_error_handlers(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Every error answers ``{"detail": "<one paragraph>"}`` with a fitting status."""

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
        if broken is not None:
            reason = (broken.get("ctx") or {}).get("error", "it cannot be parsed")
            return _error(400, f"The request body is not valid JSON ({reason}). Send a JSON "
                          f"object, e.g. {EXAMPLE}.")
        whole = "the event" if request.url.path == "/feedback" else "the request"
        return _error(422, f"Bad request: {describe_validation(errors, exc.body, whole)}. See "
                      "/docs for the fields.")

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> JSONResponse:
        return _error(exc.status_code, str(exc))

    @app.exception_handler(NoFeedbackStore)
    async def no_store(request: Request, exc: NoFeedbackStore) -> JSONResponse:
        return _error(exc.status_code, str(exc))

    @app.exception_handler(StoreError)
    async def store_failed(request: Request, exc: StoreError) -> JSONResponse:
        return _error(503, f"The feedback was not stored: {exc}")

    @app.exception_handler(NonFiniteError)
    async def non_finite(request: Request, exc: NonFiniteError) -> JSONResponse:
        return _error(500, str(exc))


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})
