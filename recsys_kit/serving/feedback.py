"""Feedback events: what one looks like, reading them from CSV or JSON lines, storing them.

An event says that ``user_id`` did ``kind`` (click, purchase, skip, rating) with ``item_id``
at ``ts`` (default: when it was received), optionally with a ``value`` (the rating). Each is
stored once under its ``event_id``: given by the sender (so a retry stores nothing new), or
made here: a random one for an HTTP event, one derived from the file and line for a file row
(so importing the same file again stores nothing new).
"""

from __future__ import annotations

import csv
import hashlib
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recsys_kit.errors import DataError
from recsys_kit.serving.errors import describe_validation
from recsys_kit.serving.feedback_source import Kind
from recsys_kit.serving.users import canonical_user_id
from recsys_kit.store import ResultStore

KINDS: tuple[str, ...] = get_args(Kind)
#: Bad lines of a feedback file listed in one error, at most.
SHOWN_ERRORS = 5


class FeedbackEvent(BaseModel):
    """One feedback event (the body of ``POST /feedback``, a line of a feedback file)."""

    # Ids are kept exactly, spaces included, as the data stages read them.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    user_id: str = Field(min_length=1, description="The user, as the run knows them.")
    item_id: str = Field(min_length=1, description="The item the feedback is about.")
    kind: Kind = Field(description="click, purchase, skip or rating.")
    value: float | None = Field(
        None, description="The rating (needed for kind rating), or any number to attach.")
    ts: datetime | None = Field(
        None, description="When it happened: ISO 8601 (UTC unless it says otherwise) or Unix "
        "seconds; default: when it is received.")
    event_id: str | None = Field(
        None, min_length=1, max_length=200,
        description="Unique id of the event; send the same id again (a retry) and nothing new "
        "is stored. Default: one is made.")

    @field_validator("ts")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    @model_validator(mode="after")
    def _rating_has_value(self) -> FeedbackEvent:
        if self.kind == "rating" and self.value is None:
            raise ValueError("a rating needs its value")
        return self


@dataclass(frozen=True)
class Receipt:
    """What storing events gave: their ids, and whether they were committed to the results
    file (else kept durably in its journal, merged by the next write)."""

    event_ids: list[str]
    committed: bool

    @property
    def durable(self) -> str:
        """``committed`` or ``journaled``."""
        return "committed" if self.committed else "journaled"


def now_utc() -> datetime:
    """The current UTC time without tzinfo (as the results file stores times)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def record_feedback(store: ResultStore, run_id: str, events: Sequence[FeedbackEvent],
                    recipe: Mapping[str, Any], source: str,
                    ids: Sequence[str] | None = None) -> Receipt:
    """Store ``events`` on ``run_id`` in one write; durable (committed or journaled) when it
    returns. ``ids`` are event ids for events that carry none (default: random ones)."""
    received = now_utc()
    event_ids = [e.event_id or (ids[i] if ids else uuid.uuid4().hex)
                 for i, e in enumerate(events)]
    columns = {
        "event_id": np.asarray(event_ids, dtype=object),
        "user_id": np.asarray([canonical_user_id(e.user_id, recipe) for e in events],
                              dtype=object),
        "item_id": np.asarray([e.item_id for e in events], dtype=object),
        "kind": np.asarray([e.kind for e in events], dtype=object),
        "value": np.asarray([np.nan if e.value is None else e.value for e in events],
                            dtype=np.float64),
        "ts": np.asarray([e.ts or received for e in events], dtype="datetime64[us]"),
    }
    committed = store.add_feedback(run_id, columns, source=source)
    return Receipt(event_ids, committed)


def read_feedback_file(path: Path) -> tuple[list[FeedbackEvent], list[str]]:
    """The events of a CSV (header line with the field names) or JSON-lines file, and an id
    for each derived from the file and line; any bad line is a :class:`DataError` naming it
    (nothing is stored then)."""
    if not path.is_file():
        raise DataError(f"No feedback file at {path}. Give a CSV file (header: user_id, "
                        "item_id, kind, and optionally ts, value, event_id) or JSON lines.")
    rows = list(_json_lines(path) if _is_json(path) else _csv_rows(path))
    events, ids, errors = [], [], []
    where = str(path.resolve())
    for line, raw, fields in rows:
        if isinstance(fields, str):
            errors.append(f"line {line}: {fields}")
            continue
        try:
            events.append(FeedbackEvent.model_validate(fields))
        except ValidationError as exc:
            errors.append(f"line {line}: {describe_validation(exc.errors())}")
            continue
        ids.append(hashlib.sha256(f"{where}\0{line}\0{raw}".encode()).hexdigest()[:32])
    if errors:
        shown = "; ".join(errors[:SHOWN_ERRORS])
        more = f" (and {len(errors) - SHOWN_ERRORS} more)" if len(errors) > SHOWN_ERRORS else ""
        raise DataError(f"{path} has {len(errors)} bad line(s), so nothing was stored: {shown}"
                        f"{more}. Each event needs user_id, item_id and kind ({', '.join(KINDS)})"
                        "; rating needs value; ts is ISO 8601 or Unix seconds.")
    if not events:
        raise DataError(f"{path} holds no feedback events.")
    return events, ids


def _is_json(path: Path) -> bool:
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return True
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        return False
    with path.open(encoding="utf-8") as handle:
        return next((line.lstrip()[:1] for line in handle if line.strip()), "") == "{"


Row = tuple[int, str, "dict[str, Any] | str"]


def _json_lines(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, line, f"not valid JSON ({exc.msg} at column {exc.colno})"
                continue
            yield number, line, value if isinstance(value, dict) else "not a JSON object"


def _csv_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
        header = next(reader, None)
        if not header:
            return
        names = [h.strip() for h in header]
        for fields in reader:
            number = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(names):
                yield number, ",".join(fields), (f"{len(fields)} fields where the header has "
                                                 f"{len(names)}")
                continue
            yield number, ",".join(fields), {n: f for n, f in zip(names, fields, strict=True)
                                             if f.strip() != ""}
