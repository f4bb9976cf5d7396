"""``chronorec prepare`` on large logs: wall time, events per second and peak RSS against log size.

    python benchmarks/ingest_scale.py --sizes 5M,20M,50M

For each size a synthetic Taobao-like log is generated once under ``--scratch`` (Parquet, written
in chunks with pyarrow so generation stays small): heavy-tailed (lognormal) user lengths, Zipf item
popularity, increasing timestamps within each user, event types view/cart/fav/buy at roughly
Taobao UserBehavior's proportions, re-views of the previous item and ~0.7% exact duplicates. Then
``prepare`` (by default with a 5-core filter, so every step runs) runs on it in a fresh child
process that reports its own wall time and peak RSS (``ru_maxrss``): the figures are of the
prepare alone, imports included, not of the generation. Polars gets ``POLARS_MAX_THREADS=2``
unless the variable is already set.

Writes a JSON report (``--out``) and a PNG beside it: peak RSS and wall time against events, each
with a line through the origin and the smallest size, the reference for linear growth.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from chronorec._io import atomic_path, write_json
from chronorec.benchmark import machine_info

EVENT_TYPES = ("view", "cart", "fav", "buy")
EVENT_SHARES = (0.895, 0.055, 0.029, 0.021)  # Taobao UserBehavior: pv, cart, fav, buy
CHUNK_EVENTS = 1_000_000
T0 = 1_600_000_000
SPAN = 90 * 86_400  # users start anywhere in a 90-day window


def parse_size(text: str) -> int:
    """``5M`` -> 5_000_000, ``200k`` -> 200_000, ``1000`` -> 1000."""
    text = text.strip().lower()
    scale = {"k": 10**3, "m": 10**6, "g": 10**9}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def generate(path: Path, events: int, seed: int = 0) -> None:
    """Write a synthetic log of ``events`` rows to ``path`` (Parquet),
    one chunk of users at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n_items = max(1_000, events // 20)
    # Zipf(0.9) over item popularity ranks, sampled by inverse CDF; ranks map to shuffled ids so
    # popular items are spread over the id range as in real logs.
    cdf = np.cumsum(np.arange(1, n_items + 1, dtype=np.float64) ** -0.9)
    cdf /= cdf[-1]
    item_ids = rng.permutation(n_items).astype(np.int64) + 1
    event_names = pa.array(EVENT_TYPES)
    schema = pa.schema(
        [("user_id", pa.int64()), ("item_id", pa.int64()), ("timestamp", pa.int64()),
         ("event_type", pa.string())]
    )  # fmt: skip
    written, next_user = 0, 1
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        while written < events:
            # Lognormal history lengths (median ~33, mean ~55, long tail), cut at the total.
            lengths = np.ceil(rng.lognormal(3.5, 1.0, CHUNK_EVENTS // 55 + 1)).astype(np.int64)
            lengths = lengths[np.cumsum(lengths) - lengths < events - written]
            lengths[-1] -= max(0, int(lengths.sum()) - (events - written))
            n = int(lengths.sum())
            starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
            first = np.zeros(n, dtype=bool)
            first[np.cumsum(lengths) - lengths] = True
            users = np.repeat(np.arange(next_user, next_user + len(lengths)), lengths)
            items = item_ids[np.searchsorted(cdf, rng.random(n))]
            again = (rng.random(n) < 0.15) & ~first  # re-view / cart the previous item
            items[again] = items[np.flatnonzero(again) - 1]
            # Gaps in seconds: lognormal (median ~20 s, heavy tail), ~7% zero (same second).
            gaps = np.floor(rng.lognormal(3.0, 2.0, n)).astype(np.int64)
            gaps[first] = 0
            elapsed = np.cumsum(gaps)
            elapsed -= elapsed[starts]
            t_start = rng.integers(T0, T0 + SPAN, len(lengths))
            ts = np.repeat(t_start, lengths) + elapsed
            kinds = rng.choice(len(EVENT_TYPES), n, p=EVENT_SHARES).astype(np.int32)
            table = pa.table(
                {"user_id": users, "item_id": items, "timestamp": ts,
                 "event_type": event_names.take(pa.array(kinds))},
                schema=schema,
            )  # fmt: skip
            writer.write_table(table)
            written += n
            next_user += len(lengths)


def measure(log: Path, out: Path, user_core: int, item_core: int) -> dict[str, Any]:
    """Child process: prepare ``log`` into ``out`` and report seconds
    and this process's peak RSS."""
    from chronorec.data import PrepareConfig, prepare

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    result = prepare(PrepareConfig(log, out, user_core=user_core, item_core=item_core))
    seconds = time.perf_counter() - start
    rows = result.counts["rows_read"]
    return {
        "events": rows,
        "interactions": result.interactions,
        "users": result.users,
        "items": result.items,
        "dropped": result.dropped,
        "seconds": seconds,
        "events_per_second": rows / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_imports_mb": rss_before,
    }


def plot(results: list[dict[str, Any]], path: Path, title: str) -> None:
    """Peak RSS and wall time against events,
    each with a linear reference through the smallest size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ev = np.array([r["events"] for r in results], dtype=float) / 1e6
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in (
        (axes[0], "peak_rss_mb", "peak RSS (MiB)"),
        (axes[1], "seconds", "wall time (s)"),
    ):
        y = np.array([r[key] for r in results], dtype=float)
        ax.plot(ev, y, "o-", label="prepare")
        xs = np.array([0.0, ev.max()])
        ax.plot(xs, xs * y[0] / ev[0], "--", color="grey", label="linear from smallest")
        if key == "peak_rss_mb":
            ax.axhline(4096, color="red", lw=0.8, label="4 GiB target")
        ax.set_xlabel("events (millions)")
        ax.set_ylabel(label)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5M,20M,50M", help="comma-separated event counts")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=Path(tempfile.gettempdir()) / "chronorec-ingest",
        help="generated logs and prepared folders go here",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--user-core", type=int, default=5)
    parser.add_argument("--item-core", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ingest_scale.json"))
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one measurement, JSON on stdout
        print(json.dumps(measure(*args.child, args.user_core, args.item_core)))
        return
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    args.scratch.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("POLARS_MAX_THREADS", "2")  # the machine has 2 cores, shared with other jobs
    results = []
    for n in sizes:
        log = args.scratch / f"log-{n}-seed{args.seed}.parquet"
        if not log.exists():
            t0 = time.perf_counter()
            generate(log, n, args.seed)
            print(f"generated {log} in {time.perf_counter() - t0:.0f} s", flush=True)
        out = args.scratch / f"prepared-{n}"
        cores = ["--user-core", str(args.user_core), "--item-core", str(args.item_core)]
        cmd = [sys.executable, __file__, "--child", str(log), str(out), *cores]
        load = os.getloadavg()[0]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            sys.exit(f"prepare failed on {log}:\n{proc.stderr}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        # Other jobs on the machine slow the run down: record how busy it was.
        r["load_average_before"], r["load_average_after"] = load, os.getloadavg()[0]
        r["log_mb"] = log.stat().st_size / 2**20
        results.append(r)
        shutil.rmtree(out, ignore_errors=True)
        print(json.dumps(r), flush=True)

    from rich.console import Console
    from rich.table import Table

    title = (
        f"chronorec prepare, {args.user_core}/{args.item_core}-core, synthetic Parquet logs, "
        f"POLARS_MAX_THREADS={env['POLARS_MAX_THREADS']}"
    )
    table = Table(title=title)
    for col in ("events", "kept", "users", "items", "wall s", "events/s", "peak RSS MiB",
                "peak RSS / event (B)"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            f"{r['events']:,}", f"{r['interactions']:,}", f"{r['users']:,}", f"{r['items']:,}",
            f"{r['seconds']:.1f}", f"{r['events_per_second']:,.0f}", f"{r['peak_rss_mb']:,.0f}",
            f"{r['peak_rss_mb'] * 2**20 / r['events']:.1f}",
        )  # fmt: skip
    Console(width=120).print(table)
    report = {
        "args": {
            "sizes": sizes, "seed": args.seed, "scratch": str(args.scratch),
            "user_core": args.user_core, "item_core": args.item_core,
        },
        "polars": pl.__version__,
        "polars_max_threads": env["POLARS_MAX_THREADS"],
        "machine": machine_info(),
        "results": results,
    }  # fmt: skip
    write_json(args.out, report)
    plot(results, args.out.with_suffix(".png"), title)


if __name__ == "__main__":
    main()
