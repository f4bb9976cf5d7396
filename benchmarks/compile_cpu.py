r"""Does ``torch.compile`` pay on the CPU? Training-step time of each model, eager against compiled.

A step is the trainer's: the model's training loss (forward + full-softmax loss) on a batch of
training windows, backward, AdamW step, on a prepared dataset (ML-100K for the recorded numbers).
Eager and compiled copies start from the same weights and see the same batches, in one process, so
the ratio is measured under the same machine load.

    python benchmarks/compile_cpu.py data/ml-100k --threads 1 \
        --out benchmarks/results/compile_cpu.json

Prints a table (ms per step, compiled / eager, seconds spent compiling) and writes it as JSON.
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import torch

from chronorec._io import write_json
from chronorec.benchmark import machine_info
from chronorec.data.batches import train_windows
from chronorec.data.dataset import load_dataset
from chronorec.data.split import make_split
from chronorec.models import build_model
from chronorec.training.config import TrainConfig
from chronorec.training.optim import make_optimizer


def time_steps(
    model: torch.nn.Module, forward, batches: list, optimizer: torch.optim.Optimizer
) -> list[float]:
    """Seconds of each training step over ``batches``."""
    seconds = []
    for inputs, targets in batches:
        start = time.perf_counter()
        loss, _ = forward(inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--models", default="sasrec,chrono,multiscale,interests")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument(
        "--warmup",
        type=int,
        default=10,
        help="steps before timing: compiling, and recompiling as batch shapes vary",
    )
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/compile_cpu.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_dataset(args.data)
    config = TrainConfig(data=str(args.data), batch_size=args.batch, device="cpu").validate()
    windows = train_windows(data, make_split(data, config.split).train_end, config.max_len)
    batches = list(windows.batches(config.batch_size, generator=torch.Generator().manual_seed(0)))
    batches = (batches * (1 + (args.warmup + args.steps) // len(batches)))[
        : args.warmup + args.steps
    ]

    rows = []
    print(
        f"{'model':<12}{'eager ms':>10}{'compiled ms':>13}{'compiled/eager':>16}{'warm-up s':>11}"
    )
    for name in args.models.split(","):
        torch.manual_seed(0)
        eager = build_model(
            name,
            {},
            num_items=data.num_items,
            num_event_types=data.num_event_types,
            max_len=config.max_len,
        ).train()
        compiled_model = copy.deepcopy(eager)
        result = {"model": name}
        for label, model, forward in (
            ("eager", eager, eager),
            ("compiled", compiled_model, torch.compile(compiled_model)),
        ):
            optimizer = make_optimizer(model, config, torch.device("cpu"))
            torch.manual_seed(1)  # the same dropout draws for both
            seconds = time_steps(model, forward, batches, optimizer)
            result[f"{label}_ms"] = 1000 * sum(seconds[args.warmup :]) / args.steps
            result[f"{label}_warmup_s"] = sum(seconds[: args.warmup])
        result["compiled_over_eager"] = result["compiled_ms"] / result["eager_ms"]
        rows.append(result)
        print(
            f"{name:<12}{result['eager_ms']:>10.1f}{result['compiled_ms']:>13.1f}"
            f"{result['compiled_over_eager']:>16.2f}{result['compiled_warmup_s']:>11.1f}",
            flush=True,
        )
    write_json(
        args.out,
        {
            "data": str(args.data),
            "threads": args.threads,
            "batch": args.batch,
            "steps": args.steps,
            "load_average": os.getloadavg(),
            "machine": machine_info(),
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
