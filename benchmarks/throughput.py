r"""Training throughput of ``chrono`` at each named size:
target positions (tokens) per second on the CPU.

Each size runs in its own process so its peak RSS is its own. A step is the trainer's: forward,
full-softmax loss over the catalogue, backward, gradient clipping, AdamW step, on the training
windows of a prepared dataset (ML-100K for the recorded numbers).

    python benchmarks/throughput.py data/ml-100k --threads 2 \
        --out benchmarks/results/throughput.json

Per size: parameters, tokens per second and seconds per step over ``--steps`` steps after
``--warmup`` steps, the share of that time spent waiting for the next batch (the trainer's
``DataWait``) and peak RSS. Other jobs on the machine slow every number down, so the load average
before and after each size is recorded with it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from chronorec._io import write_json
from chronorec.benchmark import machine_info
from chronorec.models.chrono import SIZES


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_size(args: argparse.Namespace, size: str) -> dict:
    """Train ``chrono`` of ``size`` for ``args.warmup + args.steps`` steps
    and time the last ``args.steps``."""
    from chronorec.data.batches import SeqBatch, train_windows
    from chronorec.data.dataset import load_dataset
    from chronorec.data.split import make_split
    from chronorec.models import build_model
    from chronorec.training.config import TrainConfig
    from chronorec.training.loop import DataWait
    from chronorec.training.optim import make_optimizer

    data = load_dataset(args.data)
    config = TrainConfig(
        data=str(args.data),
        model="chrono",
        model_params={"size": size},
        max_len=args.max_len,
        batch_size=args.batch,
        device="cpu",
        threads=args.threads,
    ).validate()
    windows = train_windows(data, make_split(data, config.split).train_end, config.max_len)
    torch.manual_seed(0)
    model = build_model(
        "chrono",
        config.model_params,
        num_items=data.num_items,
        num_event_types=data.num_event_types,
        max_len=config.max_len,
    )
    model.train()
    optimizer = make_optimizer(model, config, torch.device("cpu"))

    def endless() -> Iterator[tuple[SeqBatch, SeqBatch]]:
        # A new shuffle per pass, as the trainer draws one per epoch.
        for epoch in range(1, sys.maxsize):
            yield from windows.batches(
                config.batch_size, generator=torch.Generator().manual_seed(epoch)
            )

    wait = DataWait()
    batches = wait.wrap(endless())
    tokens, start = 0, time.perf_counter()
    for step in range(args.warmup + args.steps):
        if step == args.warmup:  # warm-up done: optimizer state allocated, allocator caches filled
            wait.seconds, tokens, start = 0.0, 0, time.perf_counter()
        inputs, targets = next(batches)
        tokens += int(targets.mask.sum())
        loss, _ = model.loss(inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
    seconds = time.perf_counter() - start
    layers, dim, heads = model.config.shape
    return {
        "size": size,
        "layers": layers,
        "dim": dim,
        "heads": heads,
        "params": model.num_parameters(),
        "items": data.num_items,
        "windows": len(windows),
        "steps": args.steps,
        "tokens": tokens,
        "tokens_per_second": tokens / seconds,
        "seconds_per_step": seconds / args.steps,
        "data_wait_share": wait.seconds / seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a prepared dataset folder")
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated chrono sizes")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--steps", type=int, default=30, help="timed steps")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # child process: one size, JSON on stdout
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/throughput.json"))
    args = parser.parse_args()
    # Set explicitly: PyTorch's default follows the machine's cores, not what this job may use.
    torch.set_num_threads(args.threads)
    if args.only:
        print(json.dumps(run_size(args, args.only)))
        return
    results = {}
    load_start = os.getloadavg()
    for size in args.sizes.split(","):
        load_before = os.getloadavg()
        proc = subprocess.run(
            [sys.executable, __file__, "--only", size, *sys.argv[1:]],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            results[size] = {
                "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
            }
        else:
            results[size] = json.loads(proc.stdout.strip().splitlines()[-1])
        results[size]["load_average_1m"] = {"before": load_before[0], "after": os.getloadavg()[0]}
        print(size, json.dumps(results[size]), flush=True)
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"chrono training on {args.data.name}: batch {args.batch}, max_len {args.max_len}, "
        f"full softmax, {args.threads} threads, {args.steps} steps after {args.warmup}"
    )
    for col in ("size", "L/D/H", "params", "tokens/s", "s/step", "data wait", "RSS MiB", "load 1m"):
        table.add_column(col, justify="right")
    for size, r in results.items():
        load = f"{r['load_average_1m']['before']:.1f}-{r['load_average_1m']['after']:.1f}"
        if "error" in r:
            table.add_row(size, r["error"], "", "", "", "", "", load)
            continue
        table.add_row(
            size,
            f"{r['layers']}/{r['dim']}/{r['heads']}",
            f"{r['params'] / 1e6:.2f}M",
            f"{r['tokens_per_second']:,.0f}",
            f"{r['seconds_per_step']:.3f}",
            f"{r['data_wait_share']:.2%}",
            f"{r['peak_rss_mb']:.0f}",
            load,
        )
    Console().print(table)
    write_json(
        args.out,
        {
            "args": vars(args) | {"data": str(args.data), "out": str(args.out)},
            "machine": machine_info(),
            "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
