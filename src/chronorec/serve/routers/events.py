"""Posting events: the HTTP event source.

A retry must not store an event twice, even when the first attempt was stored but its answer was
lost (a crash or a dropped connection between commit and reply). So an event may carry an
``event_id``, and a request an ``Idempotency-Key`` header, which names each event of it that has
no ``event_id`` of its own: ``KEY:N`` for the N-th event (from 0). The store keeps one event per id.
"""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header

from chronorec.serve import schemas as s
from chronorec.serve.auth import require_key
from chronorec.serve.dependencies import (
    HttpSourceDep,
    MetricsDep,
    SettingsDep,
    check_batch,
    check_timestamps,
)
from chronorec.serve.routers.common import BODY, WRITE
from chronorec.serve.stores import Event

router = APIRouter()

# For the tests of retries only: the process exits right after the store commits, before the
# reply, as in a crash.
EXIT_AFTER_COMMIT_ENV = "CHRONOREC_TEST_EXIT_AFTER_COMMIT"

# The body is documented as either shape; the model's validator accepts both.
_EITHER_SHAPE: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/EventBatch"},
                        {"$ref": "#/components/schemas/EventIn"},
                    ]
                }
            }
        },
    }
}

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes a retry of this request store nothing twice: each event without an"
        " event_id gets the id KEY:N (N its place in the request, from 0).",
    ),
]


@router.post(
    "/v1/events",
    response_model=s.EventsStored,
    tags=["events"],
    dependencies=[Depends(require_key)],
    responses={**WRITE, **BODY},
    openapi_extra=_EITHER_SHAPE,
)
def post_events(
    body: s.EventBatch,
    source: HttpSourceDep,
    metrics: MetricsDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> s.EventsStored:
    """Store events (durably, before answering); the users' next recommendations reflect them,
    on every server sharing the store. An event whose id is already stored is counted as a
    duplicate and not stored again."""
    check_batch(len(body.events), "events", settings)
    check_timestamps((e.timestamp for e in body.events), ("body", "events"), settings)
    now = time.time()
    events = [
        Event(
            e.user_id,
            e.item_id,
            now if e.timestamp is None else e.timestamp,
            e.event_type,
            event_id=_event_id(e.event_id, idempotency_key, n),
        )
        for n, e in enumerate(body.events)
    ]
    stored, unknown = source.deliver(events)
    if os.environ.get(EXIT_AFTER_COMMIT_ENV) == "1":
        os._exit(70)
    metrics.posted(len(stored), unknown)
    return s.EventsStored(
        stored=len(stored), unknown_items=unknown, duplicates=len(events) - len(stored)
    )


def _event_id(given: str | None, idempotency_key: str | None, n: int) -> str | None:
    if given is not None or idempotency_key is None:
        return given
    return f"{idempotency_key}:{n}"
