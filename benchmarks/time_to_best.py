r"""How long a model takes to reach its best validation NDCG@10 (early stopping, full ranking).

Trains each model once per seed on a prepared dataset and reports seconds per epoch, the epoch and
wall time of the best validation score (training + validation time up to that epoch), and test
metrics of that checkpoint. Prints a table and writes JSON.

    python benchmarks/time_to_best.py data/ml-100k --models sasrec --seeds 1 \
        --out benchmarks/results/time_to_best.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

import chronorec
from chronorec._io import write_json
from chronorec.benchmark import machine_info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--models", default="sasrec")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
    parser.add_argument("--lr-schedule", default="constant", help="constant or cosine")
    parser.add_argument("--warmup-epochs", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/time_to_best.json"))
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            runs = [
                chronorec.train(
                    args.data,
                    out=Path(tmp) / f"{model}-{seed}",
                    model=model,
                    seed=seed,
                    max_len=args.max_len,
                    threads=args.threads,
                    lr=args.lr,
                    lr_schedule=args.lr_schedule,
                    warmup_epochs=args.warmup_epochs,
                    epochs=args.epochs,
                    progress=False,
                )
                for seed in range(args.seeds)
            ]
            rows[model] = {
                "seconds_per_epoch": statistics.fmean(
                    r.train_seconds / max(r.epochs, 1) for r in runs
                ),
                "best_epoch": statistics.fmean(r.best_epoch for r in runs),
                "seconds_to_best": statistics.fmean(r.seconds_to_best for r in runs),
                "train_seconds": statistics.fmean(r.train_seconds for r in runs),
                "valid_NDCG@10": statistics.fmean(r.valid["NDCG@10"] for r in runs),
                "test_NDCG@10": statistics.fmean(r.test["NDCG@10"] for r in runs),
                "test_HR@10": statistics.fmean(r.test["HR@10"] for r in runs),
            }
    table = Table(
        title=f"time to best validation on {args.data.name} "
        f"(max_len {args.max_len}, lr {args.lr} {args.lr_schedule}, {args.seeds} seed(s))"
    )
    table.add_column("model")
    for col in next(iter(rows.values())):
        table.add_column(col, justify="right")
    for model, row in rows.items():
        table.add_row(model, *(f"{v:.4f}" if v < 1 else f"{v:.1f}" for v in row.values()))
    Console().print(table)
    write_json(
        args.out,
        {
            "data": str(args.data),
            "seeds": args.seeds,
            "lr": args.lr,
            "lr_schedule": args.lr_schedule,
            "warmup_epochs": args.warmup_epochs,
            "epochs": args.epochs,
            "machine": machine_info(),
            "models": rows,
        },
    )
    print(json.dumps(rows.get("sasrec", rows), indent=1))


if __name__ == "__main__":
    main()
