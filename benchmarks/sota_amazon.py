"""The S3Rec Amazon splits (Beauty, Toys) under the published protocol: each option measured alone.

Every entry is `sasrec` with the eSASRec benchmark's shape (1 block, 1 head, d=64, dropout .2,
constant lr 1e-3, up to 200 epochs, patience 50) and one change. History items are excluded from
the candidates at validation and test (the published rule); `--no-exclusion-too` also scores each
finished run's test cases without that exclusion. Runs are resumable: rerun the same command and
finished runs are reused, stopped ones resumed from their last epoch.

    python benchmarks/sota_amazon.py /work/data/s3-beauty --entries full-d64,shared256-d64 \
        --seeds 3 --runs-dir RUNS --out benchmarks/results/sota/beauty-ablation.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import chronorec
from chronorec.benchmark import benchmark

ESASREC_SHAPE: dict[str, Any] = {
    "dim": 64,
    "layers": 1,
    "heads": 1,
    "dropout": 0.2,
    "repeat_bias": False,  # the S3Rec files hold no repeated item: nothing to learn
}
PER_TARGET = {"loss": "sampled", "negatives_per_target": True, "negatives": 256}
ENTRIES: dict[str, dict[str, Any]] = {  # label -> what differs from the shape (full softmax)
    "full-d64": {},
    "shared256-d64": {"loss": "sampled", "in_batch_negatives": False, "negatives": 256},
    "pertarget256-d64": PER_TARGET,
    "gbce-d64": {**PER_TARGET, "sampled_objective": "gbce", "gbce_t": 0.75},
    "ligr-d64": {"block": "ligr"},
    "itemdrop-d64": {"item_dropout": 0.2},
    "2blocks2heads-d64": {"layers": 2, "heads": 2},
    "full-d256": {"dim": 256},
    "lr2e-3-d64": {"lr": 2e-3},
}
PROTOCOL = {"exclude_seen": True, "epochs": 200, "patience": 50, "lr": 1e-3, "max_len": 50}


def variants(labels: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Benchmark variants for ``labels`` (each the shape plus its change)."""
    unknown = [label for label in labels if label not in ENTRIES]
    if unknown:
        raise SystemExit(f"unknown entries {unknown} (known: {', '.join(ENTRIES)})")
    return {label: ("sasrec", {**ESASREC_SHAPE, **ENTRIES[label]}) for label in labels}


def test_without_exclusion(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Test metrics of every finished run scored with history items left among the candidates."""
    scores = {}
    for entry in report["models"].values():
        for run in entry["runs"]:
            scores[run] = chronorec.evaluate(run, split="test", exclude_seen=False).metrics
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument(
        "--entries", default="full-d64", help=f"comma-separated: {', '.join(ENTRIES)}"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-exclusion-too", action="store_true")
    parser.add_argument(
        "--patience",
        type=int,
        default=PROTOCOL["patience"],
        help="epochs without a better validation score before stopping (a screening of options"
        " with less; the published protocol's is the default)",
    )
    args = parser.parse_args()
    labels = [label.strip() for label in args.entries.split(",") if label.strip()]
    result = benchmark(
        args.data,
        labels,
        args.out,
        seeds=args.seeds,
        runs_dir=args.runs_dir,
        progress=False,
        variants=variants(labels),
        threads=args.threads,
        **{**PROTOCOL, "patience": args.patience},
    )
    if args.no_exclusion_too:
        report = json.loads(result.path.read_text())
        report["test_without_exclusion"] = test_without_exclusion(report)
        result.path.write_text(json.dumps(report, indent=2))
    print(f"wrote {result.path}")


if __name__ == "__main__":
    main()
