r"""Cold-start: ID-only vs ID + text item vectors on test cases
whose target is an item training never saw.

Builds the cold-start split of :mod:`chronorec.evaluation.coldstart` (items first seen in the last
``--late-fraction`` of time, with at most ``--max-train-interactions`` training events) and trains
the same model three ways under the same budget and seeds: plain ID embeddings; ID + projected
all-MiniLM-L6-v2 vectors of title and genres (:mod:`chronorec.models.text`); text vectors alone (no
ID embedding, a content model). It reports full-ranking metrics on the cold cases, on the other
(warm) test-window cases and on validation; popularity is the reference that cannot rank a cold item
at all. Prints a table and writes JSON.

    python benchmarks/coldstart.py data/ml-100k --seeds 3 --threads 1 \
        --out benchmarks/results/coldstart.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from chronorec._io import write_json
from chronorec.benchmark import machine_info
from chronorec.cli import parse_settings
from chronorec.data.dataset import load_dataset
from chronorec.data.split import training_items
from chronorec.evaluation.coldstart import coldstart_split, evaluate_coldstart
from chronorec.models import ItemText, ModelParts, SequenceModel, build_model
from chronorec.models.text import item_text_vectors
from chronorec.pretrain.finetune import train_on_split
from chronorec.training.config import TrainConfig

KS = (10, 50, 200)  # 200: cold targets often rank beyond 50 (median rank shows the rest)


def summarize(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over seeds of every metric of every case set."""
    out: dict[str, dict[str, float]] = {}
    for part in runs[0]:
        keys = runs[0][part].keys()
        out[part] = {k: statistics.fmean(r[part][k] for r in runs) for k in keys}
        out[part + "_std"] = {
            k: statistics.stdev(r[part][k] for r in runs) if len(runs) > 1 else 0.0 for k in keys
        }
    return out


def _cell(value: float | None, std: float | None, fmt: str) -> str:
    if value is None:
        return "-"
    return f"{value:{fmt}}" + (f" ± {std:{fmt}}" if std else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--model", default="sasrec")
    parser.add_argument(
        "--set", action="append", default=[], help="model setting KEY=VALUE (repeatable)"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--max-train-seconds", type=float, default=0.0, help="per run; 0: no limit")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--late-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--valid-fraction", type=float, default=0.1)
    parser.add_argument("--max-train-interactions", type=int, default=0)
    parser.add_argument(
        "--id-dropout",
        type=float,
        default=0.0,
        help="id+text: share of ID vectors dropped per step in training",
    )
    parser.add_argument(
        "--text-cache",
        type=Path,
        default=None,
        help="text vector cache (default: in the dataset folder)",
    )
    parser.add_argument(
        "--variants", default="id,text,id+text", help="comma-separated subset of id, text, id+text"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/coldstart.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_dataset(args.data)
    cs = coldstart_split(
        data,
        late_fraction=args.late_fraction,
        test_fraction=args.test_fraction,
        valid_fraction=args.valid_fraction,
        max_train_interactions=args.max_train_interactions,
    )
    t0 = time.perf_counter()
    text = item_text_vectors(data, cache=args.text_cache)
    text_seconds = time.perf_counter() - t0
    params = parse_settings(args.set)
    config = TrainConfig(
        data=str(args.data),
        model=args.model,
        model_params=params,
        max_len=args.max_len,
        batch_size=args.batch_size,
        epochs=args.epochs,
        patience=args.patience,
        lr=args.lr,
        ks=list(KS),
        threads=args.threads,
        device="cpu",
        max_train_seconds=args.max_train_seconds,
    )
    report: dict[str, Any] = {
        "data": str(args.data),
        "model": args.model,
        "model_params": params,
        "split": cs.info,
        "text_seconds": text_seconds,
        "machine": machine_info(),
        "id_dropout": args.id_dropout,
        "budget": {
            "epochs": args.epochs,
            "patience": args.patience,
            "seeds": args.seeds,
            "max_train_seconds": args.max_train_seconds,
        },
        "variants": {},
    }

    pop = build_model("pop", {}, num_items=data.num_items)
    pop.learn_counts(data, cs.split)
    report["variants"]["pop"] = {
        "mean": evaluate_coldstart(pop, data, cs, max_len=args.max_len, ks=KS),
        "runs": [],
    }

    known = training_items(data, cs.split.train_end)
    for variant in args.variants.split(","):
        runs = []
        for seed in range(args.seeds):
            item_text = None
            if variant == "id+text":
                # Items absent from training get their text vector alone
                # (TextItemEmbedding.set_known).
                item_text = ItemText(text, known=known, id_dropout=args.id_dropout)
            elif variant == "text":  # a pure content model: no item has an ID vector
                item_text = ItemText(text, known=np.zeros_like(known))
            torch.manual_seed(seed)
            model = build_model(
                args.model,
                params,
                num_items=data.num_items,
                num_event_types=data.num_event_types,
                max_len=args.max_len,
                parts=ModelParts(item_text=item_text),
            )
            assert isinstance(model, SequenceModel)
            trained = train_on_split(model, data, cs.split, config.with_overrides(seed=seed))
            metrics = evaluate_coldstart(model, data, cs, max_len=args.max_len, ks=KS)
            runs.append(
                {
                    "seed": seed,
                    "best_epoch": trained.best_epoch,
                    "epochs": trained.epochs,
                    "seconds": trained.seconds,
                    "params": model.num_parameters(),
                    **metrics,
                }
            )
            print(
                f"{variant} seed {seed}: cold NDCG@10 {metrics['cold'].get('NDCG@10', 0):.4f}, "
                f"warm NDCG@10 {metrics['warm'].get('NDCG@10', 0):.4f}, "
                f"best epoch {trained.best_epoch}/{trained.epochs}"
            )
        report["variants"][variant] = {
            "mean": summarize([{k: r[k] for k in ("cold", "warm", "valid")} for r in runs]),
            "runs": runs,
        }
        # After every variant, so an interrupted run leaves partial results.
        write_json(args.out, report)

    info = cs.info
    table = Table(
        title=f"cold start on {data.name}: {info['cold_items']} cold items, "
        f"{info['cold_cases']} cold / {info['warm_cases']} warm test cases, {args.seeds} seed(s), "
        "full ranking"
    )
    columns = [
        ("cold", "HR@10"),
        ("cold", "NDCG@10"),
        ("cold", "HR@50"),
        ("cold", "HR@200"),
        ("cold", "median_rank"),
        ("warm", "HR@10"),
        ("warm", "NDCG@10"),
        ("valid", "NDCG@10"),
    ]
    table.add_column("items")
    for part, metric in columns:
        table.add_column(f"{part} {metric.replace('_', ' ')}", justify="right")
    for variant, row in report["variants"].items():
        mean = row["mean"]
        cells = []
        for part, metric in columns:
            value = mean.get(part, {}).get(metric)
            std = mean.get(part + "_std", {}).get(metric)
            cells.append(_cell(value, std, ".0f" if metric == "median_rank" else ".4f"))
        table.add_row(variant, *cells)
    Console(width=max(120, Console().width)).print(table)
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
