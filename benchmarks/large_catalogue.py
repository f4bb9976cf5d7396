r"""A million items: full-ranking evaluation memory, and full versus sampled softmax training steps.

Each measurement runs in its own process so its peak RSS is its own.

    python benchmarks/large_catalogue.py --items 1000000 --users 10000 \
        --out benchmarks/results/large_catalogue.json

- ``eval``: a SASRec model over ``--items`` items encodes ``--users`` random histories and ranks a
  target for each against every item (chunked scoring with a running top-K), also returning the
  top-10; reports seconds and peak RSS (target: under 2 GiB).
- ``train-full`` / ``train-sampled``: seconds per training step and peak RSS with the full softmax
  and with sampled softmax (``--negatives``), same model and batch.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from chronorec._io import write_json
from chronorec.benchmark import machine_info


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _model(items: int, max_len: int, item_loss=None):
    from chronorec.models import ModelParts, build_model

    torch.manual_seed(0)
    parts = ModelParts(item_loss=item_loss)
    return build_model("sasrec", {}, num_items=items, max_len=max_len, parts=parts)


def _histories(batch: int, items: int, max_len: int, generator: torch.Generator):
    from chronorec.data.batches import SeqBatch

    # Zipf-like item draws: most events on popular items, as in real logs.
    ranks = (
        torch.distributions.Pareto(1.0, 1.2).sample((batch, max_len + 1)).long().clamp(max=items)
    )
    seq = (ranks * 7919) % items + 1
    ts = torch.arange(max_len + 1).expand(batch, -1) * 3600 + 1_600_000_000
    return SeqBatch(seq[:, :-1], ts[:, :-1]), SeqBatch(seq[:, 1:], ts[:, 1:])


def run_eval(args: argparse.Namespace) -> dict:
    from chronorec.evaluation.topk import chunked_rank_topk
    from chronorec.models.base import distinct_history

    model = _model(args.items, args.max_len).eval()
    gen = torch.Generator().manual_seed(0)
    start, ranks = time.perf_counter(), []
    with torch.inference_mode():
        for lo in range(0, args.users, args.eval_batch):
            inputs, targets = _histories(
                min(args.eval_batch, args.users - lo), args.items, args.max_len, gen
            )
            rank, _, top = chunked_rank_topk(
                model.encode(inputs)[:, -1],
                model.item_vectors(),
                targets.items[:, -1],
                10,
                history=distinct_history(inputs.items),
                repeat_bias=float(model.repeat_bias),
            )
            ranks.append(rank)
    seconds = time.perf_counter() - start
    return {
        "users": args.users,
        "items": args.items,
        "seconds": seconds,
        "users_per_second": args.users / seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_train(args: argparse.Namespace, loss: str) -> dict:
    from chronorec.models.losses import SampledSoftmaxLoss

    item_loss = None
    if loss == "sampled":
        counts = torch.ones(args.items + 1)
        item_loss = SampledSoftmaxLoss(
            counts, args.negatives, generator=torch.Generator().manual_seed(0)
        )
    model = _model(args.items, args.max_len, item_loss)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    times = []
    for step in range(args.steps + 1):
        inputs, targets = _histories(args.train_batch, args.items, args.max_len, gen)
        t0 = time.perf_counter()
        value, _ = model.loss(inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        if step:  # the first step allocates optimizer state
            times.append(time.perf_counter() - t0)
    return {
        "loss": loss,
        "batch": args.train_batch,
        "positions": args.train_batch * args.max_len,
        "negatives": args.negatives if loss == "sampled" else args.items,
        "seconds_per_step": sum(times) / len(times),
        "peak_rss_mb": _peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--eval-batch", type=int, default=256)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--negatives", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--only", choices=["eval", "train-full", "train-sampled"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/large_catalogue.json"))
    args = parser.parse_args()
    if args.only:  # child process: one measurement, JSON on stdout
        result = (
            run_eval(args)
            if args.only == "eval"
            else run_train(args, args.only.removeprefix("train-"))
        )
        print(json.dumps(result))
        return
    results = {}
    for part in ("eval", "train-full", "train-sampled"):
        cmd = [sys.executable, __file__, "--only", part, *sys.argv[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            results[part] = {
                "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
            }
        else:
            results[part] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(part, json.dumps(results[part]), flush=True)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.items:,} items")
    for col in ("measurement", "seconds", "peak RSS MiB"):
        table.add_column(col, justify="right")
    ev = results["eval"]
    if "seconds" in ev:
        table.add_row(
            f"eval + top-10, {ev['users']:,} users",
            f"{ev['seconds']:.1f}",
            f"{ev['peak_rss_mb']:.0f}",
        )
    for part in ("train-full", "train-sampled"):
        r = results[part]
        if "seconds_per_step" in r:
            table.add_row(
                f"{part} step, {r['positions']} positions",
                f"{r['seconds_per_step']:.3f}",
                f"{r['peak_rss_mb']:.0f}",
            )
    Console().print(table)
    write_json(
        args.out,
        {
            "args": vars(args) | {"out": str(args.out)},
            "machine": machine_info(),
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
