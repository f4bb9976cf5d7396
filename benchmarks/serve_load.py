"""Load benchmark of the HTTP service, on loopback only, bounded in requests and time.

Measures, against a real ``chronorec.serve.command`` process:

1. A trained run (e.g. SASRec on MovieLens-100K): latency (p50/p99) and requests per second of
   ``GET /v1/users/{id}/recommendations`` for each user's first request (state loaded from the
   dataset and the event store, one forward pass), for repeated requests (cached), and with
   concurrent clients; and the event-to-fresh-recommendation latency (``POST /v1/events`` then
   ``GET`` recommendations for that user, which must reflect it).
2. A synthetic 1M-item catalogue served through the approximate index: the same latencies, and
   recall@10 of the approximate top-K against the exact one, for real query vectors (the model's
   states for users' histories) and for synthetic ones.

Usage:
    python benchmarks/serve_load.py --run runs/sasrec-ml100k --out serve_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import torch

from chronorec.benchmark import machine_info
from chronorec.data import schema
from chronorec.models import build_model
from chronorec.runs.checkpoint import save_model
from chronorec.serve.bundle import load_bundle
from chronorec.serve.index import ExactIndex
from chronorec.training.config import TrainConfig


def percentiles(seconds: list[float], wall: float | None = None) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 2),
        "max_ms": round(ms[-1], 2),
        "rps": round(len(ms) / (wall if wall is not None else sum(seconds)), 1),
    }


class Server:
    """The service in a child process on a free loopback port."""

    def __init__(self, run_dir: Path, db: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        cmd = [
            sys.executable,
            "-m",
            "chronorec.serve.command",
            str(run_dir),
            "--port",
            str(port),
            "--db",
            str(db),
            "--log-level",
            "warning",
        ]
        self.proc = subprocess.Popen(cmd, env={**os.environ, "CHRONOREC_API_KEY": ""})
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.close()
        raise RuntimeError("server did not start")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def sequential(client: httpx.Client, paths: list[str], time_limit: float) -> list[float]:
    """One request at a time; stops early at ``time_limit`` seconds."""
    out, start = [], time.perf_counter()
    for path in paths:
        t = time.perf_counter()
        r = client.get(path)
        out.append(time.perf_counter() - t)
        r.raise_for_status()
        if time.perf_counter() - start > time_limit:
            break
    return out


def concurrent(url: str, paths: list[str], clients: int, time_limit: float) -> dict[str, float]:
    """``clients`` connections working through ``paths`` together."""

    async def run() -> tuple[list[float], float]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        for p in paths:
            queue.put_nowait(p)
        latencies: list[float] = []
        start = time.perf_counter()

        async def worker() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                while not queue.empty() and time.perf_counter() - start < time_limit:
                    path = queue.get_nowait()
                    t = time.perf_counter()
                    (await http.get(path)).raise_for_status()
                    latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(worker() for _ in range(clients)))
        return latencies, time.perf_counter() - start

    latencies, wall = asyncio.run(run())
    return {**percentiles(latencies, wall), "clients": clients}


def event_to_fresh(
    client: httpx.Client, users: list[str], items: list[str], count: int
) -> dict[str, Any]:
    """POST an event, then GET that user's recommendations: the time until the answer includes it.

    Each user's state is cached first, so this measures the update path, not a cold load. With
    ``exclude_seen=true`` the posted item must vanish from the list: proof the answer is fresh.
    """
    rng = random.Random(0)
    total, post, fresh = [], [], 0
    for n in range(count):
        user = users[n % len(users)]
        top = client.get(
            f"/v1/users/{user}/recommendations", params={"k": 10, "exclude_seen": "true"}
        ).json()
        item = top["recommendations"][0]["item_id"] if n % 2 == 0 else rng.choice(items)
        t = time.perf_counter()
        client.post("/v1/events", json={"user_id": user, "item_id": item}).raise_for_status()
        t_post = time.perf_counter()
        after = client.get(
            f"/v1/users/{user}/recommendations", params={"k": 10, "exclude_seen": "true"}
        ).json()
        total.append(time.perf_counter() - t)
        post.append(t_post - t)
        fresh += item not in {r["item_id"] for r in after["recommendations"]}
    return {
        "post_then_get": percentiles(total),
        "post_only": percentiles(post),
        "fresh": f"{fresh}/{count}",
    }


def bench_run(run_dir: Path, requests: int, clients: int, time_limit: float) -> dict[str, Any]:
    config = TrainConfig.load(run_dir / "config.toml")
    users = (
        pl.read_parquet(Path(config.data) / schema.USERS_FILE)[schema.USER_ID]
        .cast(pl.Utf8)
        .to_list()
    )
    items = (
        pl.read_parquet(Path(config.data) / schema.ITEMS_FILE)[schema.ITEM_ID]
        .cast(pl.Utf8)
        .to_list()
    )
    random.Random(0).shuffle(users)
    users = users[: min(len(users), requests)]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        server = Server(run_dir, Path(tmp) / "events.sqlite")
        startup = time.perf_counter() - t
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                paths = [f"/v1/users/{u}/recommendations?k=10" for u in users]
                cold = sequential(client, paths, time_limit)  # each user's first request
                warm = sequential(
                    client, (paths * (requests // len(paths) + 1))[:requests], time_limit
                )
                conc = concurrent(
                    server.url,
                    (paths * (requests // len(paths) + 1))[:requests],
                    clients,
                    time_limit,
                )
                events = event_to_fresh(client, users[:50], items, min(requests // 4, 500))
                version = client.get("/healthz").json()["model_version"]
        finally:
            server.close()
    return {
        "model_version": version,
        "users": len(users),
        "items": len(items),
        "startup_s": round(startup, 1),
        "first_request_per_user": percentiles(cold),
        "repeat_requests": percentiles(warm),
        "concurrent": conc,
        "event_to_fresh_recommendation": events,
    }


def synthetic_catalogue(
    root: Path, num_items: int, num_users: int, dim: int, seed: int = 0
) -> Path:
    """A prepared dataset and a SASRec run over ``num_items`` items with clustered item vectors.

    Learned item embeddings form clusters with varied norms; so do these (1,000 centres, log-normal
    norms). Training a 1M-item softmax is out of reach here, so the weights are set by hand to a
    simple stand-in for a trained model (see :func:`history_mean_weights`): like a trained one, its
    query vectors point at the items of the user's topic. It measures serving, not accuracy.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, dim)).astype(np.float32)
    cluster = rng.integers(0, 1000, num_items)
    vectors = centres[cluster] * 0.5 + rng.normal(size=(num_items, dim)).astype(np.float32) * 0.5
    vectors *= rng.lognormal(0, 0.3, (num_items, 1)).astype(np.float32)
    data = root / "data"
    data.mkdir(parents=True)
    length = 20  # each user walks within one cluster, as real sessions stay on a topic
    by_cluster = [np.flatnonzero(cluster == c) for c in range(1000)]
    user_items = np.concatenate(
        [rng.choice(by_cluster[c], length) for c in rng.integers(0, 1000, num_users)]
    )
    frame = pl.DataFrame(
        {
            schema.USER: np.repeat(np.arange(1, num_users + 1, dtype=np.int32), length),
            schema.ITEM: (user_items + 1).astype(np.int32),
            schema.TIMESTAMP: np.tile(np.arange(length, dtype=np.int64) * 3600, num_users)
            + 1_700_000_000,
        }
    )
    frame.write_parquet(data / schema.INTERACTIONS_FILE)
    pl.DataFrame(
        {
            schema.USER: np.arange(1, num_users + 1, dtype=np.int32),
            schema.USER_ID: [f"s{u}" for u in range(1, num_users + 1)],
        }
    ).write_parquet(data / schema.USERS_FILE)
    pl.DataFrame(
        {
            schema.ITEM: np.arange(1, num_items + 1, dtype=np.int32),
            schema.ITEM_ID: [f"x{i}" for i in range(1, num_items + 1)],
        }
    ).write_parquet(data / schema.ITEMS_FILE)
    (data / schema.MANIFEST_FILE).write_text(
        json.dumps(
            {
                "interactions": frame.height,
                "users": num_users,
                "items": num_items,
                "event_types": [],
            }
        )
    )
    run = root / "run"
    run.mkdir()
    TrainConfig(data=str(data), model="sasrec", model_params={"dim": dim}, max_len=50).save(
        run / "config.toml"
    )
    torch.manual_seed(seed)
    model = build_model("sasrec", {"dim": dim}, num_items=num_items, max_len=50)
    with torch.no_grad():
        model.item_embedding.weight[1:] = torch.from_numpy(vectors)
    history_mean_weights(model, dim)
    save_model(run, model.eval())
    return run


@torch.no_grad()
def history_mean_weights(model: torch.nn.Module, dim: int) -> None:
    """Every attention layer averages the (normalised) history evenly;
    the feed-forward layers add nothing.

    The query is then the normalised sum of the last item and the mean of the history: "more of what
    this user has been looking at", which is what a trained sequential model's query mostly encodes.
    """
    eye = torch.eye(dim)
    for block in model.blocks:
        # Zero queries and keys: uniform attention over the visible past.
        block.attn.qkv.weight.zero_()
        block.attn.qkv.bias.zero_()
        block.attn.qkv.weight[2 * dim :] = eye  # values: the normalised inputs themselves
        block.attn.out.weight.copy_(eye)
        block.attn.out.bias.zero_()
        block.ffn[-1].weight.zero_()
        block.ffn[-1].bias.zero_()


def recall_at_10(run_dir: Path, num_queries: int) -> dict[str, Any]:
    """Recall@10 of the served (approximate) index against exact search, in this process."""
    t = time.perf_counter()
    bundle = load_bundle(run_dir)  # exactly what the server builds
    build = time.perf_counter() - t
    index = bundle.index
    exact = ExactIndex(bundle.model.item_vectors().detach().numpy())
    rng = np.random.default_rng(1)
    users = rng.choice(np.arange(1, bundle.data.num_users + 1), num_queries, replace=False)
    from chronorec.serve.bundle import entries_batch, training_entries  # the service's own code

    with torch.inference_mode():
        user_queries = bundle.model.encode(
            entries_batch(bundle, [training_entries(bundle, int(u)) for u in users])
        )[:, -1].numpy()
    vectors = exact.vectors[1:].numpy()
    synthetic = vectors[rng.choice(len(vectors), num_queries, replace=False)]
    synthetic = synthetic + rng.normal(size=synthetic.shape).astype(np.float32) * 0.3
    isotropic = rng.normal(size=synthetic.shape).astype(
        np.float32
    )  # unlike any item: the worst case
    items = rng.choice(np.arange(1, bundle.data.num_items + 1), num_queries, replace=False)
    with torch.inference_mode():  # the queries of GET /v1/items/{id}/similar: one-item sessions
        single = [[(1, 0.0, 0, int(i), 0)] for i in items]
        similar_queries = bundle.model.encode(entries_batch(bundle, single))[:, -1].numpy()

    def recall(queries: np.ndarray) -> tuple[float, float]:
        hits, seconds = 0, 0.0
        for q in queries:
            t = time.perf_counter()
            got = set(index.search(q, 10)[1].tolist())
            seconds += time.perf_counter() - t
            hits += len(got & set(exact.search(q, 10)[1].tolist()))
        return hits / (10 * len(queries)), 1000 * seconds / len(queries)

    r_users, ms_users = recall(user_queries)
    r_synth, ms_synth = recall(synthetic)
    r_similar, _ = recall(similar_queries)
    r_iso, _ = recall(isotropic[: max(1, num_queries // 5)])
    return {
        "index": type(index).__name__,
        "nlist": getattr(index, "nlist", None),
        "nprobe": getattr(index, "nprobe", None),
        "calibration_recall@10": round(getattr(index, "calibration_recall", float("nan")), 4),
        "build_s": round(build, 1),
        "recall@10_user_queries": round(r_users, 4),
        "recall@10_synthetic_queries_item_plus_noise": round(r_synth, 4),
        "recall@10_similar_item_queries": round(r_similar, 4),
        "recall@10_isotropic_queries_out_of_distribution": round(r_iso, 4),
        "index_search_ms_user_queries": round(ms_users, 3),
        "index_search_ms_synthetic_queries": round(ms_synth, 3),
        "queries": num_queries,
    }


def print_table(report: dict[str, Any]) -> None:
    rows = []
    for name in ("movielens", "catalogue_1m"):
        part = report.get(name)
        if not part:
            continue
        for label, key in (
            ("first request per user", "first_request_per_user"),
            ("repeat requests", "repeat_requests"),
            ("concurrent clients", "concurrent"),
        ):
            m = part[key]
            rows.append((name, label, m["p50_ms"], m["p99_ms"], m["rps"]))
        e = part["event_to_fresh_recommendation"]["post_then_get"]
        rows.append((name, "event -> fresh recommendation", e["p50_ms"], e["p99_ms"], e["rps"]))
    print(f"{'catalogue':<14}{'measure':<32}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
    for r in rows:
        print(f"{r[0]:<14}{r[1]:<32}{r[2]:>9.2f}{r[3]:>9.2f}{r[4]:>9.1f}")
    if "recall" in report:
        rec = report["recall"]
        print(
            f"1M catalogue, {rec['index']} (nlist {rec['nlist']}, nprobe {rec['nprobe']}): "
            f"recall@10 vs exact {rec['recall@10_user_queries']} (user queries), "
            f"{rec['recall@10_similar_item_queries']} (similar-item queries), "
            f"{rec['recall@10_synthetic_queries_item_plus_noise']} (item + noise)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--run", type=Path, help="A trained run folder (e.g. SASRec on MovieLens-100K)."
    )
    parser.add_argument("--out", type=Path, default=Path("serve_load.json"))
    parser.add_argument(
        "--requests", type=int, default=2000, help="Requests per measurement (upper bound)."
    )
    parser.add_argument("--clients", type=int, default=8, help="Concurrent clients.")
    parser.add_argument(
        "--time-limit", type=float, default=60.0, help="Seconds per measurement (upper bound)."
    )
    parser.add_argument(
        "--items", type=int, default=1_000_000, help="Synthetic catalogue size; 0 skips it."
    )
    parser.add_argument("--recall-queries", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    report: dict[str, Any] = {
        "machine": machine_info(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if args.run:
        report["movielens"] = bench_run(args.run, args.requests, args.clients, args.time_limit)
    if args.items:
        with tempfile.TemporaryDirectory() as tmp:
            run = synthetic_catalogue(Path(tmp), args.items, num_users=20_000, dim=64)
            report["recall"] = recall_at_10(run, args.recall_queries)
            report["catalogue_1m"] = bench_run(run, args.requests, args.clients, args.time_limit)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
