"""Idempotent writes: an event id, or an ``Idempotency-Key`` header, makes a retry store nothing
twice, even when the first attempt was committed and the server died before replying."""

from __future__ import annotations

from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="the `serve` extra is not installed")
pytest.importorskip("fastapi", reason="the `serve` extra is not installed")

from fastapi.testclient import TestClient

from chronorec.serve.routers.events import EXIT_AFTER_COMMIT_ENV
from tests.serve.conftest import API_KEY, Server

KEY = {"X-API-Key": API_KEY}


def listed(client: TestClient | httpx.Client, user: str, headers: dict) -> list[tuple]:
    events = client.get(f"/v1/users/{user}/events", headers=headers).json()["events"]
    return [(e["item_id"], e["event_id"]) for e in events]


def test_an_event_id_is_stored_once(client: TestClient) -> None:
    event = {"user_id": "u3", "item_id": "i1", "timestamp": 1e9, "event_id": "click-1"}
    first = client.post("/v1/events", json=event, headers=KEY).json()
    assert first == {"stored": 1, "unknown_items": 0, "duplicates": 0}
    retry = client.post(
        "/v1/events", json={"events": [event, {**event, "event_id": "click-2"}]}, headers=KEY
    ).json()
    assert retry == {"stored": 1, "unknown_items": 0, "duplicates": 1}
    assert listed(client, "u3", KEY) == [("i1", "click-2"), ("i1", "click-1")]
    assert "chronorec_events_posted_total 2.0" in client.get("/metrics").text


def test_an_idempotency_key_names_the_events_of_a_request(client: TestClient) -> None:
    body = {
        "events": [
            {"user_id": "u3", "item_id": "i1", "timestamp": 1e9},
            {"user_id": "u3", "item_id": "i2", "timestamp": 1e9 + 1, "event_id": "own"},
        ]
    }
    headers = {**KEY, "Idempotency-Key": "req-7f3a"}
    assert client.post("/v1/events", json=body, headers=headers).json()["stored"] == 2
    assert client.post("/v1/events", json=body, headers=headers).json() == {
        "stored": 0,
        "unknown_items": 0,
        "duplicates": 2,
    }
    assert listed(client, "u3", KEY) == [("i2", "own"), ("i1", "req-7f3a:0")]
    # A new key is a new request.
    body["events"] = body["events"][:1]
    other = {**KEY, "Idempotency-Key": "req-8b4c"}
    assert client.post("/v1/events", json=body, headers=other).json()["stored"] == 1


def test_a_bad_idempotency_key_is_a_422(client: TestClient) -> None:
    headers = {**KEY, "Idempotency-Key": "has space"}
    r = client.post("/v1/events", json={"user_id": "u3", "item_id": "i1"}, headers=headers)
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["error"]


@pytest.mark.slow
def test_a_retry_after_a_crash_between_commit_and_reply_stores_nothing_twice(
    run_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "events.sqlite"
    by_id = {"user_id": "u3", "item_id": "i5", "timestamp": 1e9, "event_id": "retry-1"}
    by_key = {
        "events": [
            {"user_id": "u3", "item_id": "i6", "timestamp": 1e9 + 1},
            {"user_id": "u3", "item_id": "i7", "timestamp": 1e9 + 2},
        ]
    }
    key_headers = {**KEY, "Idempotency-Key": "batch-42"}
    for body, headers in ((by_id, KEY), (by_key, key_headers)):
        crashing = Server(run_dir, db, env={EXIT_AFTER_COMMIT_ENV: "1"}).start()
        assert crashing.proc is not None
        with pytest.raises(httpx.TransportError):  # committed, never acknowledged
            httpx.post(f"{crashing.url}/v1/events", json=body, headers=headers, timeout=30)
        assert crashing.proc.wait(timeout=30) == 70
    with Server(run_dir, db) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        assert listed(http, "u3", KEY) == [
            ("i7", "batch-42:1"),
            ("i6", "batch-42:0"),
            ("i5", "retry-1"),
        ]
        for body, headers in ((by_id, KEY), (by_key, key_headers)):  # the clients' retries
            r = http.post("/v1/events", json=body, headers=headers)
            assert r.status_code == 200 and r.json()["stored"] == 0
        assert len(listed(http, "u3", KEY)) == 3
