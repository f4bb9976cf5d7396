r"""Does pre-training help? Fine-tune from each pre-training objective vs from scratch, same budget.

For every seed: pre-train the model with each objective on the training events of the split (all
users; :func:`chronorec.pretrain.pretrain`), then fine-tune it for next-item prediction with the
same budget (epochs, patience, learning rate) as a model trained from scratch, copying every
matching weight as ``chronorec train --init`` does. Fine-tuning runs on all training users and on a
random ``--fractions`` share of them (the same users for every objective within a seed):
pre-training sees every user's history, fine-tuning only some users' targets, which is where a
learned representation should help most. Test metrics are full-ranking on the split's test cases of
all users. Prints a table (mean ± std over seeds) and writes JSON with every run after each one; run
again with the same settings (more ``--seeds``, say), it keeps the finished runs and does the rest.

    python benchmarks/pretrain.py data/ml-100k --seeds 3 --threads 1 \
        --out benchmarks/results/pretrain.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from chronorec._io import write_json
from chronorec.benchmark import machine_info
from chronorec.cli import parse_settings
from chronorec.data.dataset import load_dataset
from chronorec.data.split import make_split
from chronorec.evaluation.harness import evaluate_cases
from chronorec.models import SequenceModel, build_model
from chronorec.pretrain import OBJECTIVES, pretrain
from chronorec.pretrain.finetune import train_on_split, user_subset
from chronorec.runs.checkpoint import init_from
from chronorec.training.config import TrainConfig

SCRATCH = "none"


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def earlier_runs(path: Path, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of an earlier report at ``path`` made with the same settings
    as ``report`` (else none)."""
    if not path.exists():
        return []
    earlier = json.loads(path.read_text())
    same = ("data", "model", "model_params", "objective_params", "split", "fractions", "budget")
    return earlier.get("runs", []) if all(earlier.get(key) == report[key] for key in same) else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--model", default="sasrec")
    parser.add_argument(
        "--set", action="append", default=[], help="model setting KEY=VALUE (repeatable)"
    )
    parser.add_argument(
        "--objectives",
        default=",".join([SCRATCH, *OBJECTIVES]),
        help=f"'{SCRATCH}' is from scratch",
    )
    parser.add_argument(
        "--objective-set",
        action="append",
        default=[],
        help="objective setting KEY=VALUE, e.g. temperature=0.1",
    )
    parser.add_argument(
        "--fractions", default="1.0,0.25", help="shares of training users fine-tuned on"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--split", default="loo")
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument(
        "--pretrain-users",
        type=int,
        default=0,
        help="pre-train on this many users only (0: all; quick runs)",
    )
    parser.add_argument(
        "--epochs", type=int, default=100, help="fine-tuning budget (early stopping may end sooner)"
    )
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument(
        "--max-train-seconds",
        type=float,
        default=0.0,
        help="fine-tuning time limit per run; 0: none",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--runs-dir", type=Path, default=None, help="keep the pre-training run folders here"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/pretrain.json"))
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="ignore the runs already in --out (by default those with the same settings are kept)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_dataset(args.data)
    split = make_split(data, args.split)
    params = parse_settings(args.set)
    objective_params = parse_settings(args.objective_set)
    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    fractions = [float(f) for f in args.fractions.split(",")]
    ks = (10, 20)
    config = TrainConfig(
        data=str(args.data),
        model=args.model,
        model_params=params,
        split=args.split,
        max_len=args.max_len,
        batch_size=args.batch_size,
        lr=args.lr,
        epochs=args.epochs,
        patience=args.patience,
        ks=list(ks),
        device="cpu",
        threads=args.threads,
        max_train_seconds=args.max_train_seconds,
    )
    report: dict[str, Any] = {
        "data": str(args.data),
        "model": args.model,
        "model_params": params,
        "objective_params": objective_params,
        "split": args.split,
        "seeds": args.seeds,
        "fractions": fractions,
        "machine": machine_info(),
        "budget": {
            "pretrain_epochs": args.pretrain_epochs,
            "pretrain_users": args.pretrain_users,
            "finetune_epochs": args.epochs,
            "patience": args.patience,
            "lr": args.lr,
        },
        "runs": [],
    }
    report["runs"] = [] if args.fresh else earlier_runs(args.out, report)
    done = {(r["seed"], r["objective"], r["fraction"]) for r in report["runs"]}
    if done:
        print(f"keeping {len(done)} finished runs from {args.out} (--fresh to redo them)")
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = args.runs_dir or Path(tmp)
        for seed in range(args.seeds):
            subsets = {
                f: (None if f >= 1 else user_subset(data, split, f, seed)) for f in fractions
            }
            for objective in objectives:
                if all((seed, objective, f) in done for f in fractions):
                    continue  # finished in an earlier invocation: no need to pre-train again
                init_dir, pre_seconds, pre_loss = None, 0.0, None
                if objective != SCRATCH:
                    pre = pretrain(
                        data,
                        objective,
                        args.model,
                        runs_dir / f"{objective}-seed{seed}",
                        epochs=args.pretrain_epochs,
                        seed=seed,
                        model_params=params,
                        objective_params=objective_params,
                        split=args.split,
                        max_len=args.max_len,
                        batch_size=args.batch_size,
                        lr=args.lr,
                        device="cpu",
                        threads=args.threads,
                        max_users=args.pretrain_users,
                        progress=False,
                    )
                    init_dir, pre_seconds, pre_loss = pre.run_dir, pre.seconds, pre.losses
                for fraction, users in subsets.items():
                    if (seed, objective, fraction) in done:
                        continue
                    torch.manual_seed(
                        seed
                    )  # the same initial weights for what --init does not copy
                    model = build_model(
                        args.model,
                        params,
                        num_items=data.num_items,
                        num_event_types=data.num_event_types,
                        max_len=args.max_len,
                    )
                    assert isinstance(model, SequenceModel)
                    copied = init_from(model, init_dir) if init_dir is not None else []
                    t0 = time.perf_counter()
                    seeded = config.with_overrides(seed=seed)
                    trained = train_on_split(model, data, split, seeded, users=users)
                    test = evaluate_cases(
                        model, data, split.test, max_len=args.max_len, ks=ks
                    ).metrics
                    run = {
                        "seed": seed,
                        "objective": objective,
                        "fraction": fraction,
                        "valid": trained.valid,
                        "test": test,
                        "best_epoch": trained.best_epoch,
                        "epochs": trained.epochs,
                        "finetune_seconds": time.perf_counter() - t0,
                        "pretrain_seconds": pre_seconds,
                        "pretrain_losses": pre_loss,
                        "copied_tensors": len(copied),
                        "windows": trained.windows,
                    }
                    report["runs"].append(run)
                    print(
                        f"seed {seed} {objective:>11} users {fraction:>4.0%}: "
                        f"test NDCG@10 {test['NDCG@10']:.4f} HR@10 {test['HR@10']:.4f} "
                        f"(best epoch {trained.best_epoch}/{trained.epochs})",
                        flush=True,
                    )
                    # After every run, so a long benchmark leaves partial results.
                    write_json(args.out, report)

    summary: dict[str, Any] = {}
    table = Table(
        title=f"fine-tuning {args.model} on {data.name} after pre-training "
        f"({args.split}, full ranking, {args.seeds} seed(s), mean ± std)"
    )
    table.add_column("pre-training")
    for fraction in fractions:
        table.add_column(f"{fraction:.0%} users NDCG@10", justify="right")
        table.add_column(f"{fraction:.0%} users HR@10", justify="right")
    table.add_column("pre-train s", justify="right")
    for objective in objectives:
        cells = []
        summary[objective] = {}
        for fraction in fractions:
            rows = [
                r
                for r in report["runs"]
                if r["objective"] == objective and r["fraction"] == fraction
            ]
            ndcg, ndcg_sd = mean_std([r["test"]["NDCG@10"] for r in rows])
            hr, hr_sd = mean_std([r["test"]["HR@10"] for r in rows])
            epoch, _ = mean_std([r["best_epoch"] for r in rows])
            summary[objective][str(fraction)] = {
                "test_NDCG@10": ndcg,
                "test_NDCG@10_std": ndcg_sd,
                "test_HR@10": hr,
                "test_HR@10_std": hr_sd,
                "best_epoch": epoch,
            }
            cells += [f"{ndcg:.4f}±{ndcg_sd:.4f}", f"{hr:.4f}±{hr_sd:.4f}"]
        pre_s, _ = mean_std(
            [r["pretrain_seconds"] for r in report["runs"] if r["objective"] == objective]
        )
        summary[objective]["pretrain_seconds"] = pre_s
        table.add_row(objective, *cells, f"{pre_s:.1f}")
    report["summary"] = summary
    Console(width=max(120, Console().width)).print(table)
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
