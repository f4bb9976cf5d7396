"""Wall time for a training run to pass a test NDCG@10 target with its validation-selected model.

Watches a run folder while it trains: each time the best (validation-selected) model changes, it
scores that model on the test cases, under the run's own rule and without excluding history
items, and logs the epoch, the training wall seconds up to that epoch (validation included) and the
metrics as one JSON line. Selection never sees these scores: the run picks its best epoch on
validation alone; the test is only read here, after the fact.

    python benchmarks/sota_time_to_target.py RUN --target 0.0531 --out RUN/time_to_target.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import chronorec


def best_epoch_and_seconds(run_dir: Path) -> tuple[int, float] | None:
    """The saved best model's epoch and the run's wall seconds up to the end of that epoch."""
    model_json = run_dir / "model.json"
    state_path = run_dir / "checkpoint.pt"
    if not model_json.exists() or not state_path.exists():
        return None
    epoch = json.loads(model_json.read_text())["epoch"]
    history = torch.load(state_path, map_location="cpu", weights_only=False)["history"]
    seconds = next((h["seconds"] for h in history if h["epoch"] == epoch), None)
    return None if seconds is None else (epoch, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--target", type=float, default=0.0531)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    args = parser.parse_args()
    seen = set()
    if args.out.exists():
        seen = {json.loads(line)["epoch"] for line in args.out.read_text().splitlines() if line}
    while not (args.run_dir / "metrics.json").exists():
        found = best_epoch_and_seconds(args.run_dir)
        if found is not None and found[0] not in seen:
            epoch, seconds = found
            rule = chronorec.evaluate(args.run_dir, split="test").metrics
            plain = chronorec.evaluate(args.run_dir, split="test", exclude_seen=False).metrics
            if best_epoch_and_seconds(args.run_dir) != found:  # a newer best arrived meanwhile
                continue
            record = {
                "epoch": epoch,
                "train_wall_seconds": seconds,
                "test_ndcg10": rule["NDCG@10"],
                "test_hr10": rule["HR@10"],
                "test_ndcg10_no_exclusion": plain["NDCG@10"],
                "passed": rule["NDCG@10"] >= args.target,
            }
            with args.out.open("a") as log:
                log.write(json.dumps(record) + "\n")
            seen.add(epoch)
        time.sleep(args.poll_seconds)


if __name__ == "__main__":
    main()
