"""At least once, nothing twice: ``chronorec serve`` consuming a topic is killed with SIGKILL half
way through 10,000 messages, then restarted on the same store."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.kafka.conftest import Broker, ServeProcess, event_json

pytestmark = pytest.mark.slow

TOTAL, BAD = 10_000, 20
USERS = [f"k{n}" for n in range(50)]  # users the run has never seen: only Kafka gives them history


def _messages() -> list[bytes]:
    """10,000 messages: events on the run's items (i0..i39) with 20 bad ones spread among them."""
    bad_kinds = [b"not json", b'{"user_id": "k1"}', b'{"user_id": "", "item_id": "i1"}', b"[1]"]
    bad_at = {n * (TOTAL // BAD) + 7: bad_kinds[n % len(bad_kinds)] for n in range(BAD)}
    out = []
    for n in range(TOTAL):
        if n in bad_at:
            out.append(bad_at[n])
        else:
            user = USERS[n % len(USERS)]
            # Each user walks the ring of items; their last item decides their recommendations.
            out.append(event_json(user, f"i{(n // len(USERS)) % 40}", 1_700_000_000 + n))
    return out


def _stored(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("select count(*) from events").fetchone()[0])
    except sqlite3.OperationalError:  # the store is still creating its tables
        return 0


def _wait_for(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_half_way_then_restart(broker: Broker, kafka_run: Path, tmp_path: Path) -> None:
    topic = broker.create_topic("events-crash")
    dead = broker.create_topic("events-crash-dead", partitions=1)
    broker.produce(topic, _messages())
    db, log = tmp_path / "events.sqlite", tmp_path / "serve.log"
    args = ["--kafka-bootstrap", broker.bootstrap, "--kafka-topic", topic]
    args += ["--kafka-group", "crash", "--kafka-dead-letter", dead]

    first = ServeProcess(kafka_run, db, log, args)
    try:
        first.wait_until_up()
        _wait_for(lambda: db.exists() and _stored(db) >= TOTAL // 2, 180, "half the events")
        first.kill()
    finally:
        first.kill()
    killed_at = _stored(db)
    print(f"killed with {killed_at} events stored")
    assert 0 < killed_at < TOTAL - BAD, "the consumer was not killed half way"

    second = ServeProcess(kafka_run, db, log, args)
    try:
        second.wait_until_up()
        _wait_for(lambda: _stored(db) >= TOTAL - BAD, 180, "every event")
        time.sleep(3)  # room for a duplicate, were one to come
        assert _stored(db) == TOTAL - BAD
        dead_letters = broker.read_all(dead, BAD)
        # A bad message after the last commit is dead-lettered again on the replay (at least
        # once): its key names it, and there are exactly 20 of them.
        assert len({m.key() for m in dead_letters}) == BAD
        assert all(m.headers()[0][0] == "chronorec-error" for m in dead_letters)
        status = second.source_status()
        assert status["running"] == 1
        assert status["bad_messages"] <= BAD
        _check_recommendations(second)
    finally:
        second.stop()
    assert "Traceback" not in log.read_text()


def _check_recommendations(server: ServeProcess) -> None:
    """Each user's history is what Kafka delivered, in order, and their recommendations are those
    of an anonymous session of the same items."""
    for user in USERS[:5]:
        expected = _good_items(user)
        events = server.get(f"/v1/users/{user}/events?limit=10000").json()["events"]
        assert [e["item_id"] for e in reversed(events)] == expected
        answer = server.get(f"/v1/users/{user}/recommendations?exclude_seen=false").json()
        assert answer["fallback"] is False
        items = [{"item_id": e["item_id"], "timestamp": e["timestamp"]} for e in reversed(events)]
        session = httpx.post(
            server.url + "/v1/recommendations", json={"items": items}, timeout=10.0
        ).json()
        assert [r["item_id"] for r in answer["recommendations"]] == [
            r["item_id"] for r in session["recommendations"]
        ]


def _good_items(user: str) -> list[str]:
    """The items of ``user``'s good messages, oldest first."""
    items = []
    for value in _messages():
        try:
            event = json.loads(value)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("user_id") == user and event.get("item_id"):
            items.append(event["item_id"])
    return items
