"""The Kafka source without a broker: message parsing, bad messages, commits after the store,
settings, and what health and metrics say of a source."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from chronorec.errors import ChronorecError

pytest.importorskip("fastapi", reason="the serve extra is not installed")
kafka = pytest.importorskip("confluent_kafka", reason="the kafka extra is not installed")

from chronorec.serve.command import kafka_settings  # noqa: E402
from chronorec.serve.kafka import (  # noqa: E402
    BadMessage,
    KafkaEventSource,
    KafkaSettings,
    parse_message,
    sort_messages,
)
from chronorec.serve.stores import Event  # noqa: E402


class FakeMessage:
    """What ``Consumer.consume`` returns, for one message."""

    def __init__(self, offset: int, value: bytes | None, partition: int = 0) -> None:
        self._offset, self._value, self._partition = offset, value, partition

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_700_000_000_500)  # CreateTime, in milliseconds


def test_a_message_is_the_event_of_a_post() -> None:
    value = json.dumps(
        {"user_id": "u1", "item_id": "i2", "timestamp": 5.5, "event_type": "buy", "event_id": "e"}
    ).encode()
    assert parse_message(value, "t/0/3", 9.0) == Event("u1", "i2", 5.5, "buy", event_id="e")


def test_missing_id_and_time_come_from_the_message() -> None:
    event = parse_message(b'{"user_id": "u1", "item_id": "i2"}', "t/0/3", 9.0)
    assert (event.event_id, event.timestamp, event.event_type) == ("t/0/3", 9.0, None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty message"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"{not json", "not UTF-8 JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"user_id": "u1"}', "item_id: Field required"),
        (b'{"user_id": "", "item_id": "i1"}', "user_id:"),
        (b'{"user_id": "u\\u0000", "item_id": "i1"}', "user_id:"),
        (b'{"user_id": "u1", "item_id": "i1", "user": "x"}', "unknown field 'user'"),
        (b'{"user_id": "u1", "item_id": "i1", "timestamp": -1}', "timestamp:"),
    ],
)
def test_bad_messages_say_why_in_one_line(value: bytes | None, reason: str) -> None:
    with pytest.raises(BadMessage) as err:
        parse_message(value, "t/0/3", 9.0)
    assert reason in str(err.value) and "\n" not in str(err.value)


def test_a_poll_is_sorted_into_events_bad_messages_and_offsets() -> None:
    good = b'{"user_id": "u1", "item_id": "i2"}'
    batch = sort_messages(
        [FakeMessage(4, good), FakeMessage(5, b"bad"), FakeMessage(9, good, partition=1)]
    )
    assert [e.event_id for e in batch.events] == ["events/0/4", "events/1/9"]
    assert batch.events[0].timestamp == 1_700_000_000.5
    assert [(m.offset(), reason.split(":")[0]) for m, reason in batch.bad] == [
        (5, "not UTF-8 JSON")
    ]
    assert batch.next_offsets == {("events", 0): 6, ("events", 1): 10}


class FakeConsumer:
    """Hands out the given polls, then nothing; records commits."""

    def __init__(self, polls: list[list[FakeMessage]]) -> None:
        self.polls, self.commits, self.closed = list(polls), [], threading.Event()

    def subscribe(self, topics: list[str], on_assign: Any = None) -> None:
        pass

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        if not self.polls:
            return []
        taken, self.polls[0] = self.polls[0][:num_messages], self.polls[0][num_messages:]
        if not self.polls[0]:
            self.polls.pop(0)
        return taken

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        self.commits.append([(tp.partition, tp.offset) for tp in offsets])

    def assignment(self) -> list[Any]:
        return []  # no lag to measure

    def close(self) -> None:
        self.closed.set()


def test_offsets_are_committed_only_after_the_store_has_the_events() -> None:
    good = b'{"user_id": "u1", "item_id": "i2"}'
    consumer = FakeConsumer([[FakeMessage(0, good), FakeMessage(1, b"x"), FakeMessage(2, good)]])
    calls: list[int] = []
    committed_before_store: list[int] = []

    def flaky_sink(events: list[Event]) -> tuple[list[Event], int]:
        calls.append(len(events))
        committed_before_store.append(len(consumer.commits))
        if len(calls) == 1:
            raise OSError("disk full")
        return events, 0

    source = KafkaEventSource(KafkaSettings("127.0.0.1:1", "events"), lambda: consumer)
    source.start(flaky_sink)
    deadline = threading.Event()
    for _ in range(100):
        if consumer.commits:
            break
        deadline.wait(0.05)
    source.stop()
    assert calls == [2, 2] and committed_before_store == [0, 0]
    assert consumer.commits == [[(0, 3)]]
    status = source.status()
    assert status["events_delivered"] == 2 and status["bad_messages"] == 1
    assert status["store_failures"] == 1 and status["running"] == 0
    assert consumer.closed.is_set()


def test_stopping_while_the_store_fails_commits_nothing() -> None:
    consumer = FakeConsumer([[FakeMessage(0, b'{"user_id": "u1", "item_id": "i2"}')]])
    failing = threading.Event()

    def broken_sink(events: list[Event]) -> tuple[list[Event], int]:
        failing.set()
        raise OSError("database is locked")

    source = KafkaEventSource(KafkaSettings("127.0.0.1:1", "events"), lambda: consumer)
    source.start(broken_sink)
    assert failing.wait(10)
    source.stop()
    assert consumer.commits == [] and consumer.closed.is_set()


def test_settings_are_checked() -> None:
    assert kafka_settings(None, None, "g", None) is None
    assert kafka_settings("h:1", "t", "g", "") == KafkaSettings("h:1", "t", "g")
    with pytest.raises(ChronorecError, match="go together"):
        kafka_settings("h:1", None, "g", None)
    with pytest.raises(ChronorecError, match="must differ"):
        KafkaSettings("h:1", "t", dead_letter="t")
    with pytest.raises(ChronorecError, match="group must not be empty"):
        KafkaSettings("h:1", "t", group=" ")


class StubSource:
    """A source whose status is set by the test."""

    name = "stub"

    def __init__(self, status: dict[str, float]) -> None:
        self._status = status

    def start(self, sink: Any) -> None:
        pass

    def stop(self) -> None:
        pass

    def status(self) -> dict[str, float]:
        return self._status


@pytest.mark.parametrize(
    ("status", "health", "unwell"),
    [
        ({"running": 1, "falling_behind": 0}, "ok", {}),
        ({"running": 0, "falling_behind": 0}, "degraded", {"stub": "down"}),
        ({"running": 1, "falling_behind": 1}, "degraded", {"stub": "behind"}),
    ],
)
def test_health_names_a_source_down_or_behind(
    kafka_run: Path, tmp_path: Path, status: dict[str, float], health: str, unwell: dict
) -> None:
    from fastapi.testclient import TestClient

    from chronorec.serve.app import create_app

    app = create_app(kafka_run, db=tmp_path / "e.sqlite", sources=[StubSource(status)])
    with TestClient(app) as client:
        answer = client.get("/healthz")
        assert answer.status_code == 200
        assert (answer.json()["status"], answer.json()["sources"]) == (health, unwell)
        metrics = client.get("/metrics").text
        assert (
            f'chronorec_event_source{{field="running",source="stub"}} {status["running"]:.1f}'
            in (metrics)
        )
