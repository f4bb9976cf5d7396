"""Several real server processes on one event store (SQLite and PostgreSQL) give the same answers:
an event or a delete accepted by one is reflected by the other within a bound."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="the `serve` extra is not installed")
pytest.importorskip("uvicorn", reason="the `serve` extra is not installed")

from tests.serve.conftest import API_KEY, Server, start_together

pytestmark = pytest.mark.slow

KEY = {"X-API-Key": API_KEY}
BOUND = 1.0  # seconds; the store's own delay is 10 ms (SQLite's poll) or one notification


def within_bound(check: Callable[[], bool]) -> float:
    """Seconds until ``check()`` holds; fails the test past the bound."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < BOUND, "the other replica did not follow in time"
        time.sleep(0.005)
    return time.monotonic() - start


def test_replicas_agree_on_events_and_deletes(run_dir: Path, store_url: str) -> None:
    a, b = Server(run_dir, store_url), Server(run_dir, store_url)
    with start_together(a, b), httpx.Client(headers=KEY, timeout=30) as http:

        def items(server: Server) -> list[str]:
            r = http.get(f"{server.url}/v1/users/u3/recommendations", params={"k": 10})
            assert r.status_code == 200
            return [x["item_id"] for x in r.json()["recommendations"]]

        def fallback(server: Server) -> bool:
            r = http.get(f"{server.url}/v1/users/u3/recommendations")
            return bool(r.json()["fallback"])

        before = items(b)  # b has u3's state cached now
        events = [
            {"user_id": "u3", "item_id": f"i{n}", "timestamp": 1_700_000_000 + n}
            for n in (17, 18, 19)
        ]
        assert http.post(f"{a.url}/v1/events", json={"events": events}).status_code == 200
        within_bound(lambda: items(b) != before)
        assert items(b) == items(a)
        listed = http.get(f"{b.url}/v1/users/u3/events").json()["events"]
        assert [e["item_id"] for e in listed] == ["i19", "i18", "i17"]
        # A delete on a: b stops using both the posted events and the training history.
        assert http.delete(f"{a.url}/v1/users/u3").json()["deleted_events"] == 3
        within_bound(lambda: fallback(b))
        assert http.get(f"{b.url}/v1/users/u3/events").json()["events"] == []
        # And back the other way, for a user a has cached.
        before = items(a)
        one = {"user_id": "u3", "item_id": "i5", "timestamp": 1_700_000_100}
        assert http.post(f"{b.url}/v1/events", json=one).status_code == 200
        within_bound(lambda: items(a) != before)
        assert items(a) == items(b)
