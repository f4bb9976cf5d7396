"""Events from a Kafka topic: :class:`KafkaEventSource`, an event source run in the service.

Each message's value is one event as ``POST /v1/events`` takes it, as UTF-8 JSON::

    {"user_id": "u1", "item_id": "i9", "timestamp": 1700000000.5, "event_type": "click",
     "event_id": "e-123"}

``user_id`` and ``item_id`` are required; ``timestamp`` (unix seconds) defaults to the message's
own timestamp, ``event_id`` to ``TOPIC/PARTITION/OFFSET``.

Delivery is at least once and stores nothing twice: offsets are committed only after the sink
returned, when the events are durable in the store; a message delivered again after a crash has
the same ``event_id``, and the store keeps one event per id. A bad message (not JSON, a missing or
unknown field, a bad id) never stops the consumer: it is counted, logged with its offset, and
copied to the dead-letter topic when one is set (key ``TOPIC/PARTITION/OFFSET``, the reason in
the header ``chronorec-error``), before its offset is committed.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chronorec.errors import ChronorecError
from chronorec.serve.schemas import EventIn
from chronorec.serve.sources import EventSink
from chronorec.serve.stores import Event, open_store

log = logging.getLogger("chronorec.serve.kafka")

KAFKA_EXTRA_MISSING = "consuming Kafka needs the kafka extra: pip install 'chronorec[kafka]'"
ERROR_HEADER = "chronorec-error"
_RATE_WINDOW = 10.0  # seconds over which events/s is measured
_RETRY_AFTER = 1.0  # seconds to wait before delivering again after the store failed


@dataclass(frozen=True)
class KafkaSettings:
    """Where to consume: brokers, topic, consumer group, and where bad messages go."""

    bootstrap: str
    topic: str
    group: str = "chronorec"
    dead_letter: str | None = None
    batch_size: int = 500  # messages stored (and committed) together at most
    max_lag: int = 10_000  # more messages waiting than this: the consumer is falling behind

    def __post_init__(self) -> None:
        for name in ("bootstrap", "topic", "group"):
            if not getattr(self, name).strip():
                raise ChronorecError(f"the Kafka {name} must not be empty")
        if self.dead_letter == self.topic:
            raise ChronorecError("the dead-letter topic must differ from the consumed topic")
        if self.batch_size < 1 or self.max_lag < 0:
            raise ChronorecError("the Kafka batch size must be >= 1 and the lag limit >= 0")

    def consumer_config(self) -> dict[str, Any]:
        """librdkafka settings: offsets committed by hand, after the store has the events."""
        return {
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            # A fetch waits at most this long for new messages: what a lone event may wait (some
            # brokers answer only then); idle, it is ten small requests a second.
            "fetch.wait.max.ms": 100,
        }


class BadMessage(ValueError):
    """A message that is not an event; its text says why, in one line."""


def parse_message(value: bytes | None, event_id: str, default_time: float) -> Event:
    """The event a message holds; ``event_id`` and ``default_time`` stand in for missing fields.

    Raises:
        BadMessage: not UTF-8 JSON, or not an event as ``POST /v1/events`` takes it.
    """
    if value is None:
        raise BadMessage("empty message")
    try:
        data = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadMessage(f"not UTF-8 JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadMessage("not a JSON object")
    try:
        event = EventIn.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadMessage(f"{where}: {first['msg']}" if where else first["msg"]) from None
    timestamp = default_time if event.timestamp is None else event.timestamp
    return Event(
        event.user_id,
        event.item_id,
        timestamp,
        event.event_type,
        event_id=event.event_id or event_id,
    )


def message_id(message: Any) -> str:
    """``TOPIC/PARTITION/OFFSET``: names a message for good."""
    return f"{message.topic()}/{message.partition()}/{message.offset()}"


def message_time(message: Any) -> float:
    """The message's own timestamp in unix seconds (the same on a replay), else now."""
    kind, millis = message.timestamp()
    return millis / 1000.0 if kind != 0 and millis >= 0 else time.time()


@dataclass
class _Batch:
    """One poll's messages, sorted: the events to store, the bad ones, the offsets to commit."""

    events: list[Event]
    bad: list[tuple[Any, str]]  # (message, reason)
    next_offsets: dict[tuple[str, int], int]  # (topic, partition) -> offset after the last one


def sort_messages(messages: Sequence[Any]) -> _Batch:
    """Split polled messages into events and bad messages; note where each partition ends."""
    batch = _Batch([], [], {})
    for message in messages:
        if message.error() is not None:
            log.warning("kafka: %s", message.error())
            continue
        batch.next_offsets[(message.topic(), message.partition())] = message.offset() + 1
        try:
            batch.events.append(
                parse_message(message.value(), message_id(message), message_time(message))
            )
        except BadMessage as err:
            batch.bad.append((message, str(err)))
    return batch


class _Counters:
    """What the consumer has done, read by ``status()`` from another thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.delivered = self.duplicates = self.bad = self.dead_lettered = 0
        self.store_failures = 0
        self.lag = 0
        self.committed: dict[tuple[str, int], int] = {}  # (topic, partition) -> next offset
        self.recent: deque[tuple[float, int]] = deque()  # (when, events stored)

    def stored(self, stored: int, duplicates: int) -> None:
        now = time.monotonic()
        with self.lock:
            self.delivered += stored
            self.duplicates += duplicates
            self.recent.append((now, stored))
            while self.recent and self.recent[0][0] < now - _RATE_WINDOW:
                self.recent.popleft()

    def rate(self) -> float:
        now = time.monotonic()
        with self.lock:
            total = sum(n for when, n in self.recent if when >= now - _RATE_WINDOW)
        return total / _RATE_WINDOW


class KafkaEventSource:
    """Consumes a topic in a thread of its own and hands its events to the service's sink."""

    name = "kafka"

    def __init__(
        self, settings: KafkaSettings, consumer_factory: Callable[[], Any] | None = None
    ) -> None:
        kafka = require_kafka()
        self.settings = settings
        self._kafka = kafka
        self._new_consumer = consumer_factory or (
            lambda: kafka.Consumer({**settings.consumer_config(), "error_cb": self._on_error})
        )
        self._producer: Any = None
        if settings.dead_letter:
            self._producer = kafka.Producer({"bootstrap.servers": settings.bootstrap})
        self._counters = _Counters()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._brokers_down = False

    def start(self, sink: EventSink) -> None:
        """Subscribe and start consuming in a background thread."""
        consumer = self._new_consumer()
        consumer.subscribe([self.settings.topic], on_assign=self._on_assign)
        self._thread = threading.Thread(
            target=self._run, args=(consumer, sink), name="kafka-consumer", daemon=True
        )
        self._thread.start()
        log.info("consuming %s as group %s", self.settings.topic, self.settings.group)

    def stop(self) -> None:
        """Stop after the batch in flight is stored and committed; leave the group."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        if self._producer is not None:
            self._producer.flush(10)

    def status(self) -> dict[str, float]:
        """running (0/1), falling_behind (0/1), lag, events_per_second, and the counters."""
        c = self._counters
        running = self._thread is not None and self._thread.is_alive() and not self._brokers_down
        with c.lock:
            counts = {
                "events_delivered": c.delivered,
                "duplicates": c.duplicates,
                "bad_messages": c.bad,
                "dead_lettered": c.dead_lettered,
                "store_failures": c.store_failures,
                "lag": c.lag,
            }
        counts["falling_behind"] = int(counts["lag"] > self.settings.max_lag)
        return {"running": float(running), "events_per_second": c.rate(), **counts}

    def _on_error(self, error: Any) -> None:
        if error.code() == self._kafka.KafkaError._ALL_BROKERS_DOWN:
            self._brokers_down = True
        log.warning("kafka: %s", error)

    def _run(self, consumer: Any, sink: EventSink) -> None:
        try:
            while not self._stopping.is_set():
                # Wait for one message, then take what has already arrived: a lone event is
                # stored at once, a flood in batches.
                messages = consumer.consume(1, timeout=1.0)
                if messages and self.settings.batch_size > 1:
                    messages += consumer.consume(self.settings.batch_size - 1, timeout=0)
                self._measure_lag(consumer)  # before storing: a slow store shows as lag
                if self._brokers_down and not messages:
                    self._check_brokers(consumer)
                if messages:
                    self._brokers_down = False
                    self._handle(consumer, sink, sort_messages(messages))
        except Exception:
            log.exception("the Kafka consumer stopped")
        finally:
            consumer.close()

    def _check_brokers(self, consumer: Any) -> None:
        """After the brokers were lost: up again once they answer (messages or not)."""
        try:
            consumer.list_topics(self.settings.topic, timeout=2.0)
        except self._kafka.KafkaException:
            return
        self._brokers_down = False

    def _handle(self, consumer: Any, sink: EventSink, batch: _Batch) -> None:
        """Store the events (retrying while the store fails), dead-letter the bad messages,
        then commit: a crash before the commit delivers the batch again, stored once."""
        while not self._stopping.is_set():
            try:
                stored, _ = sink(batch.events) if batch.events else ([], 0)
                break
            except Exception:
                with self._counters.lock:
                    self._counters.store_failures += 1
                log.exception("storing %d Kafka events failed; retrying", len(batch.events))
                self._stopping.wait(_RETRY_AFTER)
        else:
            return  # stopping: nothing committed, the batch is delivered again after a restart
        self._counters.stored(len(stored), len(batch.events) - len(stored))
        if not self._dead_letter(batch.bad):
            return
        offsets = [
            self._kafka.TopicPartition(topic, partition, offset)
            for (topic, partition), offset in batch.next_offsets.items()
        ]
        try:
            if offsets:
                consumer.commit(offsets=offsets, asynchronous=False)
                with self._counters.lock:
                    self._counters.committed.update(batch.next_offsets)
        except self._kafka.KafkaException as err:
            # E.g. the partitions went to another consumer meanwhile: it delivers the batch
            # again, and the store keeps each event once.
            log.warning("kafka: offsets not committed: %s", err)

    def _dead_letter(self, bad: list[tuple[Any, str]]) -> bool:
        """Count, log and dead-letter the bad messages; False when stopping before the
        dead-letter topic acknowledged them (then nothing is committed)."""
        for message, reason in bad:
            log.warning("bad Kafka message at %s: %s", message_id(message), reason)
            if self._producer is not None:
                self._producer.produce(
                    self.settings.dead_letter,
                    message.value(),
                    key=message_id(message).encode(),
                    headers=[(ERROR_HEADER, reason.encode())],
                )
        while bad and self._producer is not None and self._producer.flush(10):
            log.warning("dead letters not acknowledged yet by the brokers; waiting")
            if self._stopping.is_set():
                return False
        with self._counters.lock:
            self._counters.bad += len(bad)
            self._counters.dead_lettered += len(bad) if self._producer is not None else 0
        return True

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        """Note where the group stands on newly assigned partitions, for the lag."""
        try:
            committed = consumer.committed(partitions, timeout=10.0)
        except Exception as err:
            log.warning("kafka: committed offsets not read: %s", err)
            return
        with self._counters.lock:
            for tp in committed:
                if tp.offset >= 0:
                    self._counters.committed[(tp.topic, tp.partition)] = tp.offset

    def _measure_lag(self, consumer: Any) -> None:
        """Messages on the assigned partitions not yet stored and committed, from the partitions'
        ends as the last fetches reported them (no request to the brokers)."""
        lag = 0
        for tp in consumer.assignment():
            low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:  # nothing fetched from this partition yet
                continue
            with self._counters.lock:
                done_up_to = self._counters.committed.get((tp.topic, tp.partition), -1)
            lag += max(0, high - max(done_up_to, low))
        with self._counters.lock:
            self._counters.lag = lag


def consume_into_store(db: str, settings: KafkaSettings) -> None:
    """Store the topic's events in the store at ``db`` until SIGINT or SIGTERM, without serving.

    For deployments that consume in a process of their own: the services sharing the store see
    the events at once (the store tells them), and score them with their model.
    """
    store = open_store(db)
    source = KafkaEventSource(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    source.start(lambda events: (store.add(events), 0))
    try:
        stop.wait()
    finally:
        source.stop()
        store.close()


def require_kafka() -> Any:
    """The ``confluent_kafka`` module, or a :class:`ChronorecError` naming the install command."""
    try:
        import confluent_kafka
    except ImportError:
        raise ChronorecError(KAFKA_EXTRA_MISSING) from None
    return confluent_kafka
