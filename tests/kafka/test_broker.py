"""The Kafka source against a real broker, in process: events stored once, bad messages
dead-lettered, lag measured, and the health endpoint when the consumer falls behind or the
brokers go away."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chronorec.serve.stores import Event, open_store
from tests.kafka.conftest import Broker, event_json

pytestmark = pytest.mark.slow

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("confluent_kafka", reason="the kafka extra is not installed")

from chronorec.serve.kafka import ERROR_HEADER, KafkaEventSource, KafkaSettings  # noqa: E402


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_served_app_stores_each_event_once(broker: Broker, kafka_run: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from chronorec.serve.app import create_app

    topic, dead = broker.create_topic("events-app"), broker.create_topic("events-app-dead", 1)
    values = [event_json("a", f"i{n % 40}", 1_700_000_000 + n) for n in range(300)]
    # The same event_id twice: stored once, as a retried post would be.
    values += [event_json("b", "i1", 1_700_000_500, event_id="x"), b"oops"]
    values += [event_json("b", "i2", 1_700_000_501, event_id="x")]
    # Keyed by user: a user's messages share a partition, so they are consumed in order.
    broker.produce(topic, values, keys=[b"a"] * 300 + [b"b"] * 3)
    settings = KafkaSettings(broker.bootstrap, topic, "app", dead_letter=dead)
    source = KafkaEventSource(settings)
    app = create_app(kafka_run, db=tmp_path / "e.sqlite", sources=[source])
    with TestClient(app) as client:
        wait_for(lambda: source.status()["events_delivered"] == 301, 120, "the events")
        wait_for(lambda: source.status()["lag"] == 0, 30, "no lag")
        health = client.get("/healthz").json()
        assert (health["status"], health["events_stored"]) == ("ok", 301)
        status = source.status()
        assert (status["duplicates"], status["bad_messages"], status["dead_lettered"]) == (1, 1, 1)
        assert status["events_per_second"] > 0
        metrics = client.get("/metrics").text
        assert 'chronorec_event_source{field="lag",source="kafka"} 0.0' in metrics
        events = client.get("/v1/users/b/events").json()["events"]
        assert [e["item_id"] for e in events] == ["i1"]
    (letter,) = broker.read_all(dead, 1)
    assert letter.value() == b"oops"
    assert re.fullmatch(rf"{topic}/[01]/\d+", letter.key().decode())  # where it came from
    assert dict(letter.headers())[ERROR_HEADER].startswith(b"not UTF-8 JSON")


def test_lag_and_falling_behind(broker: Broker) -> None:
    topic = broker.create_topic("events-slow", 1)
    values = [event_json("a", "i1", 1_700_000_000 + n) for n in range(400)]
    broker.produce(topic, values[:-1])
    # Alone, in a record batch of its own: this broker reports a partition's end as the last
    # batch's first offset plus one, so the lag it shows is exact only after a one-record batch.
    broker.produce(topic, values[-1:])
    release = threading.Event()

    def slow_sink(events: list[Event]) -> tuple[list[Event], int]:
        release.wait(60)
        return events, 0

    source = KafkaEventSource(
        KafkaSettings(broker.bootstrap, topic, "slow", batch_size=100, max_lag=50)
    )
    source.start(slow_sink)
    try:
        wait_for(lambda: source.status()["falling_behind"] == 1, 90, "lag to be seen")
        assert source.status()["lag"] >= 300
        release.set()
        wait_for(lambda: source.status()["events_delivered"] == 400, 60, "the events")
        wait_for(lambda: source.status()["falling_behind"] == 0, 30, "the lag to go")
    finally:
        release.set()
        source.stop()


def test_down_while_the_brokers_are_gone(tmp_path: Path) -> None:
    own = Broker(tmp_path / "tansu.log")  # its own broker: this one is killed
    try:
        topic = own.create_topic("events-gone", 1)
        source = KafkaEventSource(KafkaSettings(own.bootstrap, topic, "gone"))
        source.start(lambda events: (events, 0))
        wait_for(lambda: source.status()["running"] == 1, 30, "the consumer")
        own.stop()
        wait_for(lambda: source.status()["running"] == 0, 60, "the consumer to be seen down")
        own = Broker(tmp_path / "tansu.log", port=own.port)  # back, on the same address
        wait_for(lambda: source.status()["running"] == 1, 90, "the consumer to be seen up")
        source.stop()
    finally:
        own.stop()


def test_consume_command_stores_events_for_the_services(broker: Broker, tmp_path: Path) -> None:
    topic = broker.create_topic("events-consume", 1)
    broker.produce(topic, [event_json("c", f"i{n}", 1_700_000_000 + n) for n in range(50)])
    db = tmp_path / "events.sqlite"
    command = [sys.executable, "-m", "chronorec", "consume", "--db", str(db)]
    command += ["--kafka-bootstrap", broker.bootstrap, "--kafka-topic", topic]
    proc = subprocess.Popen(command, env=dict(os.environ), stderr=subprocess.PIPE)
    try:
        wait_for(lambda: db.exists() and _count(db) == 50, 120, "the events")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    store = open_store(db)
    try:
        assert [e.item_id for e in store.for_user("c", 2)] == ["i49", "i48"]
    finally:
        store.close()


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("select count(*) from events").fetchone()[0])
    except sqlite3.OperationalError:  # the store is still creating its tables
        return 0
