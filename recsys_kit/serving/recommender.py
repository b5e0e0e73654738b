"""A loaded run: recommend for a known user, a fresh history, or both; explain; new items."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from recsys_kit.data import SequenceData
from recsys_kit.nn.batches import padded
from recsys_kit.nn.model import DirectRecommender
from recsys_kit.nn.precision import autocast
from recsys_kit.ranking import NO_ITEM, recommendations_mask_seen
from recsys_kit.recipe.loader import LoadedRecipe
from recsys_kit.serving import explain as explaining
from recsys_kit.serving.errors import RequestError, UnknownUser
from recsys_kit.serving.locate import RunFiles
from recsys_kit.serving.new_items import NewItemEncoder
from recsys_kit.serving.scoring import blocked_for, extended_table, score_histories, top_k
from recsys_kit.serving.users import canonical_user_id

#: Side columns shown as an item's title, first found wins (as in the results' items table).
TITLE_COLUMNS = ("title", "text", "name")


#: How each way in says to skip unknown history items.
LEAVE_OUT = ("leave them out with ignore_unknown (`--ignore-unknown` on the command line, "
             "`\"ignore_unknown\": true` over HTTP)")


@dataclass
class Reason:
    """A history item behind a recommendation, and its weight."""

    history_item_id: str
    weight: float


@dataclass
class Recommendation:
    """One recommended item: its rank (1 is best), id, score and title; and, when asked for
    and the run can give it, the history items behind it."""

    rank: int
    item_id: str
    score: float
    title: str | None = None
    explanation: list[Reason] | None = None


@dataclass
class Recommendations:
    """The top-K answer for one request.

    ``user_id`` is the known user (None for a history alone); ``history_length`` counts the
    items the model read (the user's recorded ones, then the fresh ones); ``unknown_items``
    lists history items left out (``ignore_unknown``); ``explain_method`` is how explanations
    were found (None when none were asked for or the run cannot give them, see ``note``).
    Fewer than K items come back when the user has seen nearly everything, or when the recipe
    sets ``output.threshold`` and fewer items pass it.
    """

    run_id: str
    user_id: str | None
    history_length: int
    items: list[Recommendation]
    explain_method: str | None = None
    unknown_items: list[str] = field(default_factory=list)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As plain JSON-ready values (the HTTP API's response body)."""
        return asdict(self)


@dataclass
class _Request:
    """One history to rank: its tokens (and ratings), plus what the answer reports."""

    tokens: np.ndarray
    ratings: np.ndarray | None
    user_id: str | None
    unknown: list[str]


class LoadedRun:
    """A run's model, vocabulary and histories in memory, ready to recommend.

    Made by :func:`recsys_kit.serving.loading.load_run` (``recsys_kit.load_run``). Ranking
    follows the run's own: the whole catalogue, seen items excluded (unless the run's
    evaluator said otherwise), scores on the run's scale (``output.threshold`` applies).
    Safe to call from several threads at once.
    """

    def __init__(self, files: RunFiles, loaded: LoadedRecipe, data: SequenceData,
                 model: torch.nn.Module, max_len: int, device: torch.device,
                 load_seconds: float = 0.0) -> None:
        self.files, self.loaded, self.data = files, loaded, data
        self.model, self.max_len, self.device = model, max_len, device
        self.load_seconds = load_seconds
        recipe = loaded.recipe
        self.precision = recipe.train.precision
        self.threshold = recipe.output.threshold
        self.mask_seen = recommendations_mask_seen(s.build() for s in loaded.stage_list("evaluate"))
        self._users = {u: i for i, u in enumerate(data.user_ids.tolist())}
        self._items = {item: t + 1 for t, item in enumerate(data.item_ids.tolist())}
        self._titles = next((data.item_side[c] for c in TITLE_COLUMNS if c in data.item_side),
                            None)
        self.table: torch.Tensor | None = None
        if not isinstance(model, DirectRecommender):
            with torch.no_grad(), autocast(device, self.precision):
                self.table = model.item_table()
        self.new_items = NewItemEncoder(model, loaded, list(data.item_side), device)
        self.explain_method = explaining.explanation_method(model)

    # -- what the run knows ---------------------------------------------------------------

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.files.run_id

    @property
    def name(self) -> str:
        """The run's recipe name."""
        return self.files.name

    @property
    def user_ids(self) -> np.ndarray:
        """Every user the run knows (ids as stored)."""
        return self.data.user_ids

    @property
    def item_ids(self) -> np.ndarray:
        """The catalogue: every item the run can recommend."""
        return self.data.item_ids

    @property
    def accepts_new_items(self) -> bool:
        """Whether items unseen in training can be described and scored (a text encoder)."""
        return self.new_items.reason is None

    def user_position(self, user_id: str) -> int:
        """The row of ``user_id`` in the run's data; :class:`UnknownUser` when there is none."""
        row = self._users.get(canonical_user_id(str(user_id), self.loaded.effective))
        if row is None:  # no example id: an answer to anyone must not name a real user
            raise UnknownUser(
                f"Run {self.run_id} does not know user '{user_id}' (it knows "
                f"{self.data.n_users:,} users; ids are strings exactly as in the training data, "
                "raw ids also where the results are pseudonymised). Send the user's recent "
                "items as a history instead.")
        return row

    def history_of(self, user_id: str) -> list[str]:
        """The items the run recorded for ``user_id``, oldest first (every split)."""
        tokens = self.data.items[self.data.user_slice(self.user_position(user_id))]
        return self.data.item_ids[tokens - 1].tolist()

    # -- recommending ---------------------------------------------------------------------

    def recommend(
        self, user: str | None = None, history: Sequence[str] | None = None, k: int = 10,
        explain: bool = False, new_items: Sequence[Mapping[str, str]] | None = None,
        ignore_unknown: bool = False,
    ) -> Recommendations:
        """Top-``k`` items for a known ``user``, a fresh ``history`` (item ids, oldest first),
        or the user's recorded history followed by the fresh one.

        ``new_items`` describes items the run was not trained on (``item_id`` plus side
        columns such as ``title``): with a text encoder they are embedded from their text and
        may appear in ``history`` and among the recommendations. History items the run does
        not know are an error, or left out (and listed) with ``ignore_unknown``.
        """
        added = list(new_items or [])
        extra_ids = self._new_item_ids(added)
        self._check_k(k, len(extra_ids))
        if added:
            self.new_items.check(added)
        request = self._request(user, history, extra_ids, ignore_unknown)
        rows = self.new_items.rows(added) if added else None
        return self._rank([request], k, explain, rows, extra_ids, added)[0]

    def recommend_many(self, users: Sequence[str], k: int = 10, explain: bool = False,
                       batch_size: int | None = None) -> list[Recommendations]:
        """Top-``k`` items for each of several known users, scored in batches."""
        self._check_k(k, 0)
        size = batch_size or self.loaded.recipe.train.eval_batch_size
        requests = [self._request(u, None, {}, False) for u in users]
        out: list[Recommendations] = []
        for start in range(0, len(requests), size):
            out += self._rank(requests[start:start + size], k, explain, None, {}, [])
        return out

    def _new_item_ids(self, items: list[Mapping[str, str]]) -> dict[str, int]:
        """Tokens for the new items: after the catalogue, in the order given."""
        ids: dict[str, int] = {}
        for item in items:
            item_id = str(item.get("item_id") or "").strip()
            if not item_id:
                raise RequestError("Every new item needs an item_id.")
            if item_id in self._items or item_id in ids:
                where = "the run's catalogue" if item_id in self._items else "new_items twice"
                raise RequestError(f"New item '{item_id}' is already in {where}; list each "
                                   "item the run was not trained on once.")
            ids[item_id] = self.data.n_items + 1 + len(ids)
        return ids

    def _request(self, user: str | None, history: Sequence[str] | None,
                 extra: dict[str, int], ignore_unknown: bool) -> _Request:
        if user is None and not history:
            raise RequestError("The history is empty: give user_id (a user the run knows), "
                               "history (item ids, oldest first), or both.")
        tokens, ratings = np.zeros(0, dtype=np.int64), None
        if self.data.ratings is not None:
            ratings = np.zeros(0, dtype=np.float32)
        if user is not None:
            where = self.data.user_slice(self.user_position(user))
            tokens = self.data.items[where]
            if ratings is not None:
                ratings = self.data.ratings[where]
        fresh = [self._items.get(i, extra.get(i)) for i in map(str, history or [])]
        unknown = [str(i) for i, t in zip(history or [], fresh, strict=True) if t is None]
        if unknown and not ignore_unknown:
            raise RequestError(self._unknown_message(unknown))
        fresh_tokens = np.asarray([t for t in fresh if t is not None], dtype=np.int64)
        tokens = np.concatenate([tokens, fresh_tokens])
        if not len(tokens):
            raise RequestError(f"No item of the history is known to run {self.run_id}, so "
                               "there is nothing to recommend from.")
        if ratings is not None:  # fresh items come without ratings
            ratings = np.concatenate([ratings, np.full(len(fresh_tokens), np.nan, np.float32)])
        return _Request(tokens, ratings, user, unknown)

    def _unknown_message(self, unknown: list[str]) -> str:
        shown = ", ".join(f"'{i}'" for i in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        head = (f"{len(unknown)} history item(s) are not in run {self.run_id}'s catalogue: "
                f"{shown}.")
        if self.accepts_new_items:
            return (f"{head} Describe items the run was not trained on in new_items (item_id "
                    f"plus {', '.join(self.new_items.text_columns)}) to have them embedded from "
                    f"their text, or {LEAVE_OUT}.")
        return (f"{head} {self.new_items.reason[0].upper()}{self.new_items.reason[1:]}; "
                f"{LEAVE_OUT}.")

    def _check_k(self, k: int, n_new: int) -> None:
        n = self.data.n_items + n_new
        if not isinstance(k, int) or not 1 <= k <= n:
            raise RequestError(f"k must be a whole number from 1 to {n:,} (the items this run "
                               f"can recommend); got {k!r}.")

    @torch.no_grad()
    def _rank(self, requests: list[_Request], k: int, explain: bool,
              rows: torch.Tensor | None, extra: dict[str, int],
              added: list[Mapping[str, str]]) -> list[Recommendations]:
        seqs = [r.tokens for r in requests]
        n_tokens = self.data.n_items + 2 + len(extra)
        history = padded(seqs, self.max_len, self.device)
        ratings = None
        if getattr(self.model, "uses_ratings", False):
            ratings = padded([r.ratings for r in requests], self.max_len, self.device,
                             np.float32)
        blocked = blocked_for(seqs, n_tokens, self.mask_seen, self.device)
        with autocast(self.device, self.precision):
            scores = score_histories(self.model, history, table=self.table,
                                     n_items=self.data.n_items, new_rows=rows,
                                     ratings=ratings, blocked=blocked)
        tokens, raw = top_k(scores, blocked, k)
        interest = self.model.interest(torch.from_numpy(raw)).numpy()
        interest = np.where(np.isneginf(raw), -np.inf, interest)
        if self.threshold is not None:
            interest = np.where(interest > self.threshold, interest, -np.inf)
        reasons = None
        if explain and self.explain_method is not None:
            table = self.table if rows is None else extended_table(self.table, rows)
            with autocast(self.device, self.precision):
                reasons = explaining.explain(self.model, history,
                                             np.where(np.isneginf(interest), NO_ITEM, tokens),
                                             table, ratings, precision=self.precision)
        ids = self._id_lookup(extra)
        titles = self._title_lookup(added)
        out = []
        for b, request in enumerate(requests):
            items = []
            for r in range(tokens.shape[1]):
                if np.isneginf(interest[b, r]):
                    continue
                why = None if reasons is None else [Reason(ids(t), w) for t, w in reasons[b][r]]
                items.append(Recommendation(r + 1, ids(tokens[b, r]), float(interest[b, r]),
                                            titles(tokens[b, r]), why))
            out.append(Recommendations(
                self.run_id, request.user_id, len(request.tokens), items,
                self.explain_method if explain else None, request.unknown,
                explaining.no_explanation_note(self._model_name())
                if explain and self.explain_method is None else None))
        return out

    def _model_name(self) -> str:
        model = self.loaded.recipe.model
        if isinstance(self.model, DirectRecommender):
            return model.encoders.user.plugin
        return f"{model.encoders.user.plugin} with {model.fusion.plugin} fusion"

    def _id_lookup(self, extra: dict[str, int]) -> Any:
        new_ids = list(extra)
        n = self.data.n_items

        def item_id(token: int) -> str:
            token = int(token)
            return str(self.data.item_ids[token - 1]) if token <= n else new_ids[token - n - 1]
        return item_id

    def _title_lookup(self, added: list[Mapping[str, str]]) -> Any:
        n = self.data.n_items

        def title(token: int) -> str | None:
            token = int(token)
            if token > n:
                item = added[token - n - 1]
                return next((str(item[c]) for c in TITLE_COLUMNS if item.get(c)), None)
            if self._titles is None:
                return None
            return str(self._titles[token - 1]) or None
        return title
