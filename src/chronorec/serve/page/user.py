"""One user on the page: their history as the service sees it, and what the model makes of it.

The history is the user's training events followed by every event posted since (the order the
engine feeds the model); the events the model reads now are marked. For a ``multiscale`` run the
view adds each time scale's weight and what it alone recommends; for an ``interests`` run, each
interest's strongest items and its weights over the history.
"""

from __future__ import annotations

from typing import Any

from chronorec.api import Recommendation
from chronorec.data.batches import SeqBatch
from chronorec.explain import average_scale_weights, interest_view, scale_view
from chronorec.models.interests import Interests
from chronorec.models.multiscale import MultiScale
from chronorec.serve.bundle import Bundle
from chronorec.serve.engine import Engine
from chronorec.serve.page.memo import PerRun
from chronorec.serve.page.overview import finite
from chronorec.serve.stores import Event, EventStore

EXPLAIN_K = 5  # items shown per time scale or interest


def user_view(engine: Engine, store: EventStore, user_id: str, limit: int) -> dict[str, Any]:
    """The user's latest ``limit`` events (oldest first) and the model's view of their history."""
    bundle = engine.bundle
    forgotten = store.is_forgotten(user_id)
    u = None if forgotten else bundle.data.user_index(user_id)
    events = _training_events(bundle, u) if u is not None else []
    posted = sorted(store.for_user(user_id), key=lambda e: (e.timestamp, e.seq))
    events += [_posted_event(bundle, e) for e in posted]
    history = engine.user_history(user_id)
    _mark_window(events, int(history.mask.sum()))
    return finite(
        {
            "user_id": user_id,
            "in_training_data": u is not None,
            "forgotten": forgotten,
            "total_events": len(events),
            "events": events[-limit:],
            "max_len": bundle.max_len,
            **_explanations(bundle, history),
        }
    )


def _training_events(bundle: Bundle, u: int) -> list[dict[str, Any]]:
    data = bundle.data
    lo, hi = int(data.offsets[u]), int(data.offsets[u + 1])
    types = data.event_types[lo:hi].tolist() if data.event_types is not None else [0] * (hi - lo)
    names = data.event_type_names
    return [
        {
            "item_id": str(data.item_ids[item]),
            "title": data.title(item),
            "timestamp": timestamp,
            "event_type": names[etype - 1] if 0 < etype <= len(names) else None,
            "posted": False,
            "known_item": True,
        }
        for item, timestamp, etype in zip(
            data.items[lo:hi].tolist(), data.timestamps[lo:hi].tolist(), types
        )
    ]


def _posted_event(bundle: Bundle, event: Event) -> dict[str, Any]:
    item = bundle.data.item_index(event.item_id)
    return {
        "item_id": event.item_id,
        "title": None if item is None else bundle.data.title(item),
        "timestamp": event.timestamp,
        "event_type": event.event_type,
        "posted": True,
        "known_item": item is not None,
    }


def _mark_window(events: list[dict[str, Any]], window: int) -> None:
    """Flag the events the model reads now: the last ``window`` events on items it knows."""
    for event in reversed(events):
        event["in_window"] = window > 0 and event["known_item"]
        window -= int(event["in_window"])


def average_scales(bundle: Bundle, memo: PerRun) -> dict[str, Any] | None:
    """A multiscale run's mean gate weights over every test-case history (None for other models);
    computed on first use, then kept."""
    run = bundle.run
    if not isinstance(bundle.model, MultiScale):
        return None
    weights, cases = memo.get(run, "average_scale_weights", lambda: average_scale_weights(run))
    return {"names": list(bundle.model.scale_names), "weights": list(weights), "cases": cases}


def _explanations(bundle: Bundle, history: SeqBatch) -> dict[str, Any]:
    """The scales of a multiscale run and the interests of an interests run (None otherwise, and
    when the model reads nothing of the history)."""
    run, model = bundle.run, bundle.model
    readable = bool(bundle.ranker.reads_any(history.items)[0])
    scales = interests = None
    if readable and isinstance(model, MultiScale):
        view = scale_view(run, history, EXPLAIN_K)
        scales = {
            "names": list(view.scale_names),
            "weights": list(view.weights),
            "top_items": {name: _items(recs) for name, recs in view.top_items.items()},
        }
    if readable and isinstance(model, Interests):
        interests = _interests(bundle, history)
    return {"scales": scales, "interests": interests}


def _interests(bundle: Bundle, history: SeqBatch) -> dict[str, Any]:
    view = interest_view(bundle.run, history, EXPLAIN_K)
    data = bundle.data
    return {
        "interests": [
            {
                "name": s.name,
                "share_of_top": s.share_of_top,
                "top_items": _items(s.top_items),
                "drawn_from": _items(s.drawn_from),
            }
            for s in view.interests
        ],
        "history": [
            {"item_id": str(data.item_ids[i]), "title": data.title(i)} for i in view.history
        ],
        "weights_over_time": view.weights_over_time,
    }


def _items(recs: list[Recommendation]) -> list[dict[str, Any]]:
    return [{"item_id": r.item_id, "title": r.title, "score": r.score} for r in recs]
