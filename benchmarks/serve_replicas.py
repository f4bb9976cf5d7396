"""Load benchmark of several service replicas on one event store (PostgreSQL by default).

Starts N ``chronorec.serve.command`` processes on one store, warms every user's state on every
replica, then for ``--seconds``:

- ``--clients`` keep-alive connections, spread over the replicas, ask for users' recommendations
  as fast as the replicas answer: the most requests per second across all replicas;
- then requests are sent at ``--rate`` per second, round robin, whatever the pace of the answers
  (open loop: a late answer delays no later request), for the latency p50/p99 at that rate;
- meanwhile, from another process, a client measures visibility: it posts an event for a user to
  one replica (the item that replica's neighbour ranks first for that user, with
  ``exclude_seen``), then asks the neighbour until that item is gone from its answer: the time
  from the post's acknowledgement to the changed answer, p50/p99.

Before the load, one recommendation at a time (no other traffic) gives the unloaded latency.
The load generator is a minimal HTTP/1.1 client on asyncio, on the same machine as the replicas.

Usage:
    python benchmarks/serve_replicas.py --run RUN_DIR [--replicas 2] [--seconds 10]
    python benchmarks/serve_replicas.py --data PREPARED_DATA   # trains a small SASRec first

Without ``--postgres URL`` a PostgreSQL server is started with ``.ci/postgres.sh start --durable``
and removed at the end; ``--store sqlite`` uses one SQLite file instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx

import chronorec
from chronorec.benchmark import machine_info
from chronorec.runs.load import load_run

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"


def percentiles(seconds: list[float], wall: float | None = None) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    out = {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2),
        "max_ms": round(ms[-1], 2),
    }
    if wall is not None:
        out["rps"] = round(len(ms) / wall, 1)
    return out


class Connection:
    """One keep-alive HTTP/1.1 connection: a request costs a write and two reads."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: dict | None = None, parse: bool = True
    ) -> tuple[int, Any]:
        """Status and body (parsed JSON, or the bytes when not ``parse``). A connection the
        server closed while it sat idle (keep-alive timeout) is opened again."""
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nX-API-Key: {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        ).encode()
        reused = self.writer is not None
        try:
            return await self._exchange(head + payload, parse)
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            self.close()
            return await self._exchange(head + payload, parse)

    async def _exchange(self, message: bytes, parse: bool) -> tuple[int, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(message)
        headers = await self.reader.readuntil(b"\r\n\r\n")
        status = int(headers[9:12])
        found = re.search(rb"(?i)content-length: *(\d+)", headers)
        assert found is not None, headers
        content = await self.reader.readexactly(int(found.group(1)))
        return status, json.loads(content) if parse else content

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_replicas(run_dir: Path, store: str, count: int) -> list[tuple[subprocess.Popen, str]]:
    """``count`` servers on ``store``, started together; returns them once all answer."""
    env = {**os.environ, "CHRONOREC_API_KEY": KEY}
    replicas = []
    for _ in range(count):
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "chronorec.serve.command",
            str(run_dir),
            "--port",
            str(port),
            "--db",
            store,
            "--log-level",
            "warning",
        ]
        replicas.append((subprocess.Popen(command, env=env), f"http://127.0.0.1:{port}"))
    deadline = time.monotonic() + 600
    for proc, url in replicas:
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_replicas(replicas)
                raise RuntimeError("a replica did not start")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
    return replicas


def stop_replicas(replicas: list[tuple[subprocess.Popen, str]]) -> None:
    for proc, _ in replicas:
        proc.terminate()
    for proc, _ in replicas:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def recommendations_path(user: str, exclude_seen: bool = False) -> str:
    seen = "&exclude_seen=true" if exclude_seen else ""
    return f"/v1/users/{urllib.parse.quote(user, safe='')}/recommendations?k=10{seen}"


async def warm(urls: list[str], users: list[str]) -> list[float]:
    """Every user's first request on every replica (state loaded, one forward pass each)."""
    times = []
    for url in urls:
        conn = Connection(url)
        for user in users:
            t = time.perf_counter()
            status, _ = await conn.request("GET", recommendations_path(user))
            times.append(time.perf_counter() - t)
            assert status == 200
        conn.close()
    return times


async def one_at_a_time(urls: list[str], users: list[str], count: int) -> list[float]:
    conns, times, rng = [Connection(u) for u in urls], [], random.Random(1)
    for n in range(count):
        t = time.perf_counter()
        status, _ = await conns[n % len(conns)].request(
            "GET", recommendations_path(rng.choice(users))
        )
        times.append(time.perf_counter() - t)
        assert status == 200
    for conn in conns:
        conn.close()
    return times


async def closed_loop(url: str, users: list[str], stop_at: float, seed: int, out: list[float]):
    """One client asking again as soon as it has its answer."""
    conn, rng = Connection(url), random.Random(seed)
    while time.perf_counter() < stop_at:
        t = time.perf_counter()
        status, _ = await conn.request("GET", recommendations_path(rng.choice(users)), parse=False)
        out.append(time.perf_counter() - t)
        assert status == 200
    conn.close()


async def max_throughput(urls: list[str], users: list[str], clients: int, seconds: float) -> dict:
    """``clients`` connections, spread over the replicas, asking as fast as they are answered."""
    latencies: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(
        *(
            closed_loop(urls[c % len(urls)], users, start + seconds, c, latencies)
            for c in range(clients)
        )
    )
    return {**percentiles(latencies, time.perf_counter() - start), "clients": clients}


async def open_loop(
    urls: list[str], users: list[str], rate: float, seconds: float, per_replica: int = 16
) -> dict:
    """Requests sent at ``rate`` per second whatever the answers' pace, round robin over the
    replicas, on at most ``per_replica`` connections each (as a load balancer's pool); a request's
    latency counts from when it was due, so waiting for a connection counts too."""
    pools: list[asyncio.Queue[Connection]] = []
    for url in urls:
        pools.append(asyncio.Queue())
        for _ in range(per_replica):
            pools[-1].put_nowait(Connection(url))
    latencies: list[float] = []
    rng, start, tasks = random.Random(3), time.perf_counter(), []

    async def one(n: int, due: float) -> None:
        pool = pools[n % len(urls)]
        conn = await pool.get()
        status, _ = await conn.request("GET", recommendations_path(rng.choice(users)), parse=False)
        latencies.append(time.perf_counter() - due)
        pool.put_nowait(conn)
        assert status == 200

    for n in range(int(rate * seconds)):
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(n, due)))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - start
    for pool in pools:
        while not pool.empty():
            pool.get_nowait().close()
    return {**percentiles(latencies, wall), "rate": rate}


async def visibility(urls: list[str], users: list[str], seconds: float) -> list[float]:
    """Post on one replica, then ask the next one until its answer changes; repeated."""
    conns, rng, n, out = [Connection(u) for u in urls], random.Random(2), 0, []
    stop_at = time.perf_counter() + seconds
    while time.perf_counter() < stop_at:
        writer, reader = conns[n % len(conns)], conns[(n + 1) % len(conns)]
        user = rng.choice(users)
        path = recommendations_path(user, exclude_seen=True)
        _, before = await reader.request("GET", path)
        top = before["recommendations"][0]["item_id"]
        event = {"user_id": user, "item_id": top, "event_id": f"bench-{n}-{time.time()}"}
        status, _ = await writer.request("POST", "/v1/events", event)
        accepted = time.perf_counter()
        assert status == 200
        while True:
            _, after = await reader.request("GET", path)
            if top not in {r["item_id"] for r in after["recommendations"]}:
                break
        out.append(time.perf_counter() - accepted)
        n += 1
        await asyncio.sleep(0.02)  # a few samples a second, not a flood of writes
    for conn in conns:
        conn.close()
    return out


def _visibility_process(urls: list[str], users: list[str], seconds: float, results: Any) -> None:
    results.put(asyncio.run(visibility(urls, users, seconds)))


def at_rate_with_visibility(urls: list[str], users: list[str], rate: float, seconds: float):
    """The open-loop load, with visibility measured meanwhile from a process of its own (so that
    the load generator's own work does not delay it)."""
    results: multiprocessing.Queue = multiprocessing.Queue()
    prober = multiprocessing.Process(
        target=_visibility_process, args=(urls, users, seconds, results)
    )
    prober.start()
    loaded = asyncio.run(open_loop(urls, users, rate, seconds))
    visible = results.get(timeout=seconds + 120)
    prober.join()
    return loaded, percentiles(visible)


def train_small_run(data: Path, root: Path) -> Path:
    chronorec.train(
        data, out=root / "run", model="sasrec", epochs=3, progress=False, model_params={"dim": 64}
    )
    return root / "run"


def postgres_url(args: argparse.Namespace) -> tuple[str, str | None]:
    """The store's URL, and the folder of a server started here (None: given)."""
    if args.postgres:
        return args.postgres, None
    started = subprocess.run(
        ["bash", str(ROOT / ".ci" / "postgres.sh"), "start", "--durable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    exported = dict(re.findall(r"export (\w+)='([^']*)'", started))
    return exported["CHRONOREC_TEST_POSTGRES_URL"], exported["CHRONOREC_TEST_POSTGRES_DIR"]


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    run_dir = args.run or train_small_run(args.data, tmp)
    users = [str(u) for u in load_run(run_dir).data.user_ids[1:]][: args.users]
    started_here = None
    if args.store == "sqlite":
        store = f"sqlite:///{tmp}/events.sqlite"
    else:
        store, started_here = postgres_url(args)
    replicas = start_replicas(run_dir, store, args.replicas)
    urls = [url for _, url in replicas]
    try:
        cold = asyncio.run(warm(urls, users))
        alone = asyncio.run(one_at_a_time(urls, users, 1000))
        most = asyncio.run(max_throughput(urls, users, args.clients, args.seconds))
        at_rate, visible = at_rate_with_visibility(urls, users, args.rate, args.seconds)
    finally:
        stop_replicas(replicas)
        if started_here:
            subprocess.run(
                ["bash", str(ROOT / ".ci" / "postgres.sh"), "stop", started_here],
                capture_output=True,
            )
    return {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine_info(),
        # Other work on the machine during the run (1-minute load average, at the end).
        "load_average": round(os.getloadavg()[0], 2),
        "store": args.store,
        "replicas": args.replicas,
        "users": len(users),
        "first_request_per_user": percentiles(cold),
        "one_at_a_time": percentiles(alone),
        "max_throughput": most,
        "at_rate": at_rate,
        "visibility": visible,
    }


def print_table(result: dict[str, Any]) -> None:
    rows = [
        ("first request per user", result["first_request_per_user"]),
        ("one at a time", result["one_at_a_time"]),
        (
            f"max throughput, {result['max_throughput']['clients']} clients",
            result["max_throughput"],
        ),
        (f"at {result['at_rate']['rate']:g} requests/s", result["at_rate"]),
        ("event visible on another replica", result["visibility"]),
    ]
    print(f"{result['replicas']} replicas on {result['store']}, {result['users']} users")
    print(f"{'':34} {'n':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>8}")
    for name, r in rows:
        rps = f"{r['rps']:8.0f}" if "rps" in r else f"{'':8}"
        print(
            f"{name:34} {r['n']:7d} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['max_ms']:8.2f} {rps}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a trained run folder")
    parser.add_argument("--data", type=Path, help="prepared data to train a small run on")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--postgres", help="a PostgreSQL URL (default: start one)")
    parser.add_argument("--clients", type=int, default=16, help="for the maximum throughput")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests/s, all replicas")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=500, help="users in the load")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/serve_replicas.json")
    args = parser.parse_args()
    if args.run is None and args.data is None:
        parser.error("give --run or --data")
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args, Path(tmp))
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
