"""The event-source seam: a source other than HTTP delivers events, and recommendations follow."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the `serve` extra is not installed")
pytest.importorskip("prometheus_client", reason="the `serve` extra is not installed")

from fastapi.testclient import TestClient

from chronorec.serve.app import create_app
from chronorec.serve.sources import EventSink
from chronorec.serve.stores import Event


class QueueSource:
    """A consumer in miniature: a thread takes batches off a queue and hands them to the sink."""

    name = "queue"

    def __init__(self) -> None:
        self.batches: queue.Queue[list[Event] | None] = queue.Queue()
        self.delivered = 0
        self.stopped = False
        self._thread: threading.Thread | None = None

    def start(self, sink: EventSink) -> None:
        self._thread = threading.Thread(target=self._consume, args=(sink,), daemon=True)
        self._thread.start()

    def _consume(self, sink: EventSink) -> None:
        while (batch := self.batches.get()) is not None:
            stored, _ = sink(batch)
            self.delivered += len(stored)

    def stop(self) -> None:
        self.batches.put(None)
        assert self._thread is not None
        self._thread.join(timeout=10)
        self.stopped = True

    def status(self) -> dict[str, float]:
        return {"events_delivered": self.delivered, "queued": self.batches.qsize()}


class BrokenSource(QueueSource):
    name = "broken"

    def start(self, sink: EventSink) -> None:
        raise RuntimeError("cannot reach the bus")


def items(client: TestClient, user: str) -> list[str]:
    r = client.get(f"/v1/users/{user}/recommendations", params={"k": 10})
    return [x["item_id"] for x in r.json()["recommendations"]]


def test_a_source_delivers_events_and_the_users_recommendations_change(
    run_dir: Path, tmp_path: Path
) -> None:
    source = QueueSource()
    app = create_app(run_dir, db=tmp_path / "events.sqlite", sources=[source])
    with TestClient(app) as client:
        before = items(client, "u3")
        source.batches.put([Event("u3", "i11", 1e9), Event("u3", "i12", 1e9 + 1)])
        deadline = time.monotonic() + 10
        while source.delivered < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert source.delivered == 2
        assert items(client, "u3") != before
        listed = client.get("/v1/users/u3/events").json()["events"]
        assert [e["item_id"] for e in listed] == ["i12", "i11"]
        text = client.get("/metrics").text
        assert 'chronorec_event_source{field="events_delivered",source="queue"} 2.0' in text
        assert 'chronorec_event_source{field="events_delivered",source="http"} 0.0' in text
        assert not source.stopped
    assert source.stopped  # the server's shutdown stops its sources


def test_a_source_that_cannot_start_stops_the_others_and_fails_the_startup(
    run_dir: Path, tmp_path: Path
) -> None:
    first = QueueSource()
    app = create_app(run_dir, db=tmp_path / "events.sqlite", sources=[first, BrokenSource()])
    with pytest.raises(RuntimeError, match="cannot reach the bus"), TestClient(app):
        pass
    assert first.stopped
