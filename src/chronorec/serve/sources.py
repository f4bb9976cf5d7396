"""Event sources: anything that delivers events to the engine, behind one small protocol.

The service hands every source the same *sink*, a callable that stores a batch of events and
updates the users' state (``Engine.add_events``); the engine never knows where an event came from.
Events posted over HTTP come through :class:`HttpEventSource`, which ``POST /v1/events`` calls.

To add a source (a log-bus consumer, say), write a class with:

- ``name``: a short label, used in ``/metrics``;
- ``start(sink)``: begin delivering, e.g. start a consumer thread that polls, builds
  :class:`~chronorec.serve.stores.Event` objects and calls ``sink(events)``; return promptly.
  The sink blocks until the events are durable, so commit the consumer's offsets after it returns.
  Give each event an ``event_id`` that names its message (e.g. ``topic/partition/offset``): the
  store keeps one event per id, so messages delivered again after a crash, or consumed by two
  replicas, are stored once (the sink returns only the events it stored);
- ``stop()``: stop delivering and wait for work in flight; called once, at shutdown;
- ``status()``: a dict of numbers (events delivered, lag, ...) exported as
  ``chronorec_event_source{source=NAME,field=KEY}``; a ``running`` of 0 or a ``falling_behind``
  of 1 makes ``/healthz`` report the source as ``down`` or ``behind``.

Then pass it to ``create_app(run_dir, sources=[MySource(...)])``: the app starts it when the server
starts and stops it when the server stops. No router changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from chronorec.serve.stores import Event

# Stores the events and updates the users they belong to; returns the stored events (with their
# ``seq``) and how many of them name an item the model does not know.
EventSink = Callable[[list[Event]], tuple[list[Event], int]]


class EventSource(Protocol):
    """Something that delivers events to the service through a sink."""

    name: str

    def start(self, sink: EventSink) -> None:
        """Begin delivering events to ``sink``; return without waiting for any."""

    def stop(self) -> None:
        """Stop delivering; return once no delivery is in flight."""

    def status(self) -> dict[str, float]:
        """Numbers worth watching (events delivered, lag, ...), by name."""


class HttpEventSource:
    """Events posted to ``POST /v1/events``: the request's thread delivers them itself."""

    name = "http"

    def __init__(self) -> None:
        self._sink: EventSink | None = None
        self._delivered = 0
        self._lock = threading.Lock()

    def start(self, sink: EventSink) -> None:
        """Accept posts from now on."""
        self._sink = sink

    def stop(self) -> None:
        """Refuse posts from now on."""
        self._sink = None

    def deliver(self, events: list[Event]) -> tuple[list[Event], int]:
        """Hand posted events to the sink; returns what the sink returns."""
        sink = self._sink
        if sink is None:
            raise RuntimeError("the HTTP event source is not started")
        stored, unknown = sink(events)
        with self._lock:
            self._delivered += len(stored)
        return stored, unknown

    def status(self) -> dict[str, float]:
        """Events delivered since the start."""
        return {"running": float(self._sink is not None), "events_delivered": self._delivered}
