r"""Temporal replay: a frozen model, a refreshed one and a full retrain, on the newest events.

Train on the first 80% of time (validation: the newest 10% of that); replay the next 10% as events
collected by the service; evaluate on the last 10%, every event a case with its whole history before
it (full ranking over each model's catalogue; an item a model does not know is a miss). Three
models:

- **frozen**: the first model, the replayed events only as history (items it does not know are
  skipped in histories and can never be recommended);
- **refreshed**: ``chronorec.refresh`` from the first model on the replayed events (warm start,
  item table grown, early-stopped on the newest 20% of them);
- **retrained**: the same model trained from scratch on the refreshed run's dataset and split.

Prints a table and writes JSON (NDCG@10, HR@10, wall seconds, the share of test targets unseen at
the first training). Finished steps are not run again (their wall times are kept in
``RUNS/walls.json``); a stopped one resumes, and then its wall time counts only the part after the
stop.

    OMP_NUM_THREADS=1 python benchmarks/temporal_replay.py data/ml-100k --runs-dir runs/replay \
        --out benchmarks/results/temporal_replay-ml-100k.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from rich.console import Console
from rich.table import Table

from chronorec._io import write_json
from chronorec.benchmark import machine_info
from chronorec.cli import parse_settings
from chronorec.data import schema
from chronorec.data.batches import eval_batch, seen_items
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.data.prepare import write_dataset
from chronorec.data.split import VALIDATION_FROM, EvalCases, events_from
from chronorec.evaluation.metrics import metrics_from_ranks, per_case_metric
from chronorec.evaluation.paired import paired_bootstrap
from chronorec.models import build_model
from chronorec.models.weights import load_grown
from chronorec.refresh import DATA_DIR, NewEvents, write_refreshed
from chronorec.refresh import refresh as refresh_run
from chronorec.runs.checkpoint import load_model
from chronorec.runs.training import train_run
from chronorec.scoring import Ranker
from chronorec.scoring.masks import pessimistic_rank
from chronorec.training.config import TrainConfig

KS = (10, 20)


def log_frame(data: SequenceData) -> pl.DataFrame:
    """Every event by original ids, in arrival order (time, then the dataset's own order)."""
    owner = np.repeat(np.arange(data.num_users + 1), np.diff(data.offsets)[: data.num_users + 1])
    frame = pl.DataFrame(
        {
            "user_id": data.user_ids[owner].astype(str),
            "item_id": data.item_ids[data.items].astype(str),
            "timestamp": data.timestamps,
            "order": np.arange(len(data.items)),
        }
    )
    if data.event_types is not None:
        names = np.array(("",) + data.event_type_names, dtype=object)
        frame = frame.with_columns(pl.Series("event_type", names[data.event_types].astype(str)))
    return frame.sort(["timestamp", "order"]).drop("order")


def write_first_part(data: SequenceData, log: pl.DataFrame, before: int, out: Path) -> Path:
    """The dataset of the events before ``before`` (ids renumbered by first appearance), its
    newest 10% of events the validation window."""
    part = log.filter(pl.col("timestamp") < before)
    items = part["item_id"].unique(maintain_order=True)
    users = part["user_id"].unique(maintain_order=True)
    item_of = dict(zip(items.to_list(), range(1, items.len() + 1)))
    user_of = dict(zip(users.to_list(), range(1, users.len() + 1)))
    events = part.with_row_index("order").select(
        pl.col("user_id").replace_strict(user_of, return_dtype=pl.Int32).alias(schema.USER),
        pl.col("item_id").replace_strict(item_of, return_dtype=pl.Int32).alias(schema.ITEM),
        pl.col("timestamp").alias(schema.TIMESTAMP),
        *(_type_ids(data, part) if data.event_types is not None else []),
        pl.col("order"),
    )
    events = events.sort([schema.USER, schema.TIMESTAMP, "order"]).drop("order")
    old_items = pl.read_parquet(data.path / schema.ITEMS_FILE).drop(schema.ITEM)
    item_table = pl.DataFrame(
        {schema.ITEM: np.arange(1, items.len() + 1, dtype=np.int32), schema.ITEM_ID: items}
    ).join(old_items, on=schema.ITEM_ID, how="left", maintain_order="left")
    user_table = pl.DataFrame(
        {schema.USER: np.arange(1, users.len() + 1, dtype=np.int32), schema.USER_ID: users}
    )
    cutoff = int(np.ceil(np.quantile(part["timestamp"].to_numpy(), 0.9)))
    manifest = {
        **data.manifest,
        "interactions": events.height,
        "users": users.len(),
        "items": items.len(),
        VALIDATION_FROM: cutoff,
    }
    return write_dataset(out, events, user_table, item_table, manifest)


def _type_ids(data: SequenceData, part: pl.DataFrame) -> list[pl.Expr]:
    number = {name: n + 1 for n, name in enumerate(data.event_type_names)}
    return [
        pl.col("event_type").replace_strict(number, return_dtype=pl.Int16).alias(schema.EVENT_TYPE)
    ]


def new_events(log: pl.DataFrame, start: int, end: int | None = None) -> NewEvents:
    window = log.filter(pl.col("timestamp") >= start)
    if end is not None:
        window = window.filter(pl.col("timestamp") < end)
    return NewEvents(window.with_columns(pl.col("timestamp").cast(pl.Float64)))


@torch.inference_mode()
def replay_ranks(
    run: Path, eval_data: SequenceData, cases: EvalCases, config: TrainConfig
) -> torch.Tensor:
    """Ranks of the test targets by the run's model, over the items it knows: ``eval_data``
    extends its catalogue; items beyond it are skipped in histories and never recommended."""
    saved, _ = load_model(run)
    known = saved.num_items
    model = build_model(
        saved.name,
        dataclasses.asdict(saved.config),
        num_items=eval_data.num_items,
        num_event_types=saved.num_event_types,
        max_len=saved.max_len,
    )
    load_grown(model, saved.state_dict())
    readable = torch.zeros(eval_data.num_items + 1, dtype=torch.bool)
    readable[: known + 1] = saved.readable_items
    model.set_readable_items(readable)
    model.eval()
    ranker = Ranker(model)
    inputs, targets = eval_batch(eval_data, cases, config.max_len)
    ranks = []
    for lo in range(0, len(targets), 256):
        rows = slice(lo, lo + 256)
        exclude = None
        if config.exclude_seen:
            exclude = seen_items(eval_data, cases.users[rows], cases.targets[rows])
        scores = ranker.scores(inputs[rows], exclude=exclude)
        scores[:, known + 1 :] = float("-inf")  # not in this model's catalogue
        ranks.append(pessimistic_rank(scores, targets[rows]))
    return torch.cat(ranks)


def evaluate(
    run: Path,
    data_dir: Path,
    log: pl.DataFrame,
    start: int,
    test_from: int,
    config: TrainConfig,
    scratch: Path,
) -> tuple[dict[str, float], torch.Tensor]:
    """NDCG/HR of ``run`` on every event from ``test_from``, and each case's NDCG@10 in one order
    for every run (by user id, then position in the user's sequence); the events from ``start``
    (after its own data) are added to histories."""
    eval_dir = scratch / f"eval-{run.name}"
    if not eval_dir.exists():
        write_refreshed(
            load_dataset(data_dir),
            new_events(log, start),
            eval_dir,
            source_run=run,
            valid_share=0.5,
        )
    eval_data = load_dataset(eval_dir)
    _, cases = events_from(eval_data, test_from)
    ranks = replay_ranks(run, eval_data, cases, config)
    positions = cases.targets - eval_data.offsets[cases.users]
    order = np.lexsort((positions, eval_data.user_ids[cases.users].astype(str)))
    per_case = per_case_metric(ranks, "NDCG", 10)[torch.from_numpy(order)]
    return {"cases": len(cases), **metrics_from_ranks(ranks, KS)}, per_case


class Walls(dict[str, float]):
    """Wall seconds of each step, kept in a file: a rerun skips finished steps and keeps their
    times."""

    def __init__(self, path: Path) -> None:
        super().__init__(json.loads(path.read_text()) if path.exists() else {})
        self.path = path

    def measure(self, name: str, step: Callable[[], None]) -> None:
        if name in self:
            return
        started = time.perf_counter()
        step()
        self[name] = time.perf_counter() - started
        write_json(self.path, dict(self))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="sasrec")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        help="model setting key=value (repeatable)",
    )
    parser.add_argument(
        "--train",
        action="append",
        default=[],
        help="training option key=value for every model (repeatable)",
    )
    parser.add_argument(
        "--refresh",
        action="append",
        default=[],
        help="training option key=value for the refresh only (repeatable)",
    )
    parser.add_argument(
        "--refresh-as",
        default="refreshed",
        help="run folder name of the refresh (another name measures other --refresh options"
        " beside the first, reusing the frozen and retrained runs)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = load_dataset(args.data)
    log = log_frame(data)
    t80, t90 = (int(np.ceil(q)) for q in np.quantile(data.timestamps, [0.8, 0.9]))
    runs = args.runs_dir
    runs.mkdir(parents=True, exist_ok=True)
    first_data = runs / "first-data"
    if not first_data.exists():
        write_first_part(data, log, t80, first_data)
    train_opts = {k: _value(v) for k, v in (o.split("=", 1) for o in args.train)}
    config = TrainConfig(
        model=args.model,
        model_params=parse_settings(args.settings),
        seed=args.seed,
        split="recent",
        exclude_seen=True,
        threads=torch.get_num_threads(),
    ).with_overrides(**train_opts)
    walls = Walls(runs / "walls.json")
    base, refreshed, retrained = runs / "frozen", runs / args.refresh_as, runs / "retrained"
    walls.measure("frozen", lambda: _train(config, first_data, base))
    refresh_opts = {k: _value(v) for k, v in (o.split("=", 1) for o in args.refresh)}
    replayed = new_events(log, t80, t90)
    walls.measure(args.refresh_as, lambda: _refresh(base, replayed, refreshed, refresh_opts))
    walls.measure("retrained", lambda: _train(config, refreshed / DATA_DIR, retrained))

    first = load_dataset(first_data)
    test_log = log.filter(pl.col("timestamp") >= t90)
    unseen = ~test_log["item_id"].is_in(list(first.item_ids[1:]))
    evaluated = {
        "frozen": evaluate(base, first_data, log, t80, t90, config, runs),
        "refreshed": evaluate(refreshed, refreshed / DATA_DIR, log, t90, t90, config, runs),
        "retrained": evaluate(retrained, refreshed / DATA_DIR, log, t90, t90, config, runs),
    }
    rows = {name: metrics for name, (metrics, _) in evaluated.items()}
    paired = {
        f"{candidate} - {baseline}": dataclasses.asdict(
            paired_bootstrap(evaluated[baseline][1], evaluated[candidate][1], metric="NDCG@10")
        )
        for candidate, baseline in (("refreshed", "retrained"), ("refreshed", "frozen"))
    }
    folders = {"frozen": base, "refreshed": refreshed, "retrained": retrained}
    for name, row in rows.items():
        record = json.loads((folders[name] / "metrics.json").read_text())
        old_per_new = TrainConfig.load(folders[name] / "config.toml").old_per_new
        row.update(
            wall_seconds=walls[folders[name].name],
            epochs=record["epochs"],
            best_epoch=record["best_epoch"],
            old_per_new=old_per_new,
        )
    report = {
        "data": str(args.data),
        "cutoffs": {"replay_from": t80, "test_from": t90},
        "config": config.to_toml(),
        "refresh_options": refresh_opts,
        "refresh_run": refreshed.name,
        "test_events": test_log.height,
        "test_targets_unseen_at_first_training": float(unseen.cast(pl.Float64).mean() or 0.0),
        "models": rows,
        "paired_ndcg10": paired,
        "refresh_vs_retrain": {
            "ndcg10_ratio": rows["refreshed"]["NDCG@10"] / rows["retrained"]["NDCG@10"],
            "wall_ratio": rows["refreshed"]["wall_seconds"] / walls["retrained"],
        },
        "machine": machine_info(),
    }
    write_json(args.out, report)
    show(report)


def _train(config: TrainConfig, data_dir: Path, out: Path) -> None:
    """Train (or resume, after a stop) a run on ``data_dir``."""
    settings = config.with_overrides(data=str(data_dir.resolve()))
    train_run(settings, out, resume=True, show_progress=False)


def _refresh(base: Path, new: NewEvents, out: Path, options: dict[str, Any]) -> None:
    """Refresh (or resume a stopped refresh of) ``base``."""
    resume = (out / DATA_DIR).is_dir()
    refresh_run(base, new, out, show_progress=False, resume=resume, **options)


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def show(report: dict[str, Any]) -> None:
    table = Table(title=f"temporal replay: {report['data']}")
    for column in ("model", "cases", "NDCG@10", "HR@10", "wall s"):
        table.add_column(column, justify="right")
    for name, row in report["models"].items():
        table.add_row(
            name,
            str(row["cases"]),
            f"{row['NDCG@10']:.4f}",
            f"{row['HR@10']:.4f}",
            f"{row['wall_seconds']:.0f}",
        )
    Console().print(table)
    for name, pair in report["paired_ndcg10"].items():
        low, high = pair["ci_low"], pair["ci_high"]
        print(f"NDCG@10 {name}: {pair['difference']:+.4f} (95% interval {low:+.4f} to {high:+.4f})")
    ratios = report["refresh_vs_retrain"]
    unseen = report["test_targets_unseen_at_first_training"]
    print(
        f"refresh / retrain: NDCG@10 {ratios['ndcg10_ratio']:.3f},"
        f" wall {ratios['wall_ratio']:.3f}; test targets unseen at first training {unseen:.1%}"
    )


if __name__ == "__main__":
    main()
