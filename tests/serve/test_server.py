"""A real uvicorn process on loopback: freshness, restarts, hot reloads under load, concurrent
writers."""

from __future__ import annotations

import asyncio
import shutil
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="the `serve` extra is not installed")
pytest.importorskip("uvicorn", reason="the `serve` extra is not installed")

from tests.serve.conftest import Server, perturb_checkpoint

pytestmark = pytest.mark.slow


def recommendations(server: Server, user: str) -> dict:
    r = httpx.get(
        f"{server.url}/v1/users/{user}/recommendations",
        params={"k": 10},
        headers=server.headers,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_event_shows_up_and_everything_survives_a_restart(run_dir: Path, tmp_path: Path) -> None:
    server = Server(run_dir, tmp_path / "events.sqlite")
    with server:
        before = recommendations(server, "u3")
        r = httpx.post(
            f"{server.url}/v1/events",
            json={"user_id": "u3", "item_id": "i17"},
            headers=server.headers,
        )
        assert r.status_code == 200
        after = recommendations(server, "u3")
        assert after["recommendations"] != before["recommendations"]
        events = httpx.get(f"{server.url}/v1/users/u3/events", headers=server.headers).json()
        # Over real HTTP too: a wrong key is refused, an oversized body is refused unread.
        assert (
            httpx.post(
                f"{server.url}/v1/events", json={"user_id": "u3", "item_id": "i1"}
            ).status_code
            == 401
        )
        big = httpx.post(
            f"{server.url}/v1/events", content=b"x" * (2 << 20), headers=server.headers
        )
        assert big.status_code == 413
    with server:  # a new process on the same run folder and database
        assert (
            httpx.get(f"{server.url}/v1/users/u3/events", headers=server.headers).json() == events
        )
        assert recommendations(server, "u3") == after


def test_hot_reload_during_a_stream_of_requests_fails_none(run_dir: Path, tmp_path: Path) -> None:
    own_run = tmp_path / "run"
    shutil.copytree(run_dir, own_run)
    statuses: Counter[int] = Counter()
    versions: set[str] = set()
    stop = threading.Event()

    def stream(server: Server, user: str) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            n = 0
            while not stop.is_set() and n < 5000:  # bounded, whatever happens
                n += 1
                if n % 5 == 0:
                    r = client.post(
                        "/v1/events",
                        json={"user_id": user, "item_id": f"i{n % 40}"},
                        headers=server.headers,
                    )
                else:
                    r = client.get(f"/v1/users/{user}/recommendations", headers=server.headers)
                    if r.status_code == 200:
                        versions.add(r.json()["model_version"])
                statuses[r.status_code] += 1

    with Server(own_run, tmp_path / "events.sqlite") as server:
        first = httpx.get(server.url + "/healthz").json()["model_version"]
        threads = [threading.Thread(target=stream, args=(server, f"u{i}")) for i in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        perturb_checkpoint(own_run, seed=1)
        r = httpx.post(server.url + "/admin/reload", headers=server.headers, timeout=60)
        assert r.status_code == 200 and r.json()["previous_version"] == first
        second = r.json()["model_version"]
        time.sleep(0.5)
        perturb_checkpoint(own_run, seed=2)
        server.signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while (
            httpx.get(server.url + "/healthz").json()["model_version"] == second
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        third = httpx.get(server.url + "/healthz").json()["model_version"]
    assert len({first, second, third}) == 3
    assert set(statuses) == {200} and sum(statuses.values()) > 100, statuses
    assert {first, second, third} <= versions | {
        first
    }  # requests were answered by every model in turn


def test_twenty_concurrent_clients_store_exactly_ten_thousand_events(
    run_dir: Path, tmp_path: Path
) -> None:
    clients, per_client = 20, 500

    async def client(server: Server, c: int) -> Counter[int]:
        statuses: Counter[int] = Counter()
        async with httpx.AsyncClient(
            base_url=server.url, timeout=30, headers=server.headers
        ) as http:
            for n in range(per_client):  # one request per event
                event = {
                    "user_id": f"load{c}",
                    "item_id": f"i{n % 40}",
                    "timestamp": 1_700_000_000 + n,
                }
                statuses[(await http.post("/v1/events", json=event)).status_code] += 1
        return statuses

    async def run(server: Server) -> Counter[int]:
        results = await asyncio.gather(*(client(server, c) for c in range(clients)))
        return sum(results, Counter())

    with Server(run_dir, tmp_path / "events.sqlite") as server:
        start = time.monotonic()
        # In a thread of its own: a browser test in the same worker may hold this thread's loop.
        with ThreadPoolExecutor(1) as pool:
            statuses = pool.submit(asyncio.run, run(server)).result()
        elapsed = time.monotonic() - start
        stored = httpx.get(server.url + "/healthz").json()["events_stored"]
        one = httpx.get(
            server.url + "/v1/users/load7/events", params={"limit": 10_000}, headers=server.headers
        ).json()["events"]
    assert statuses == Counter({200: clients * per_client}), statuses
    assert stored == clients * per_client
    assert len(one) == per_client and one[0]["timestamp"] == 1_700_000_000 + per_client - 1
    assert elapsed < 60, f"{clients * per_client} posts took {elapsed:.1f} s"
