r"""Next buy on the Taobao sample: how much are page views, carts and favourites worth?

Cases are every buy in the validation and test windows (the last two tenths of time over all events)
whose user has some earlier event; every model ranks all items. Training stops at the validation
cut-off for every user; early stopping reads validation NDCG@10 only; the test is read once, at the
end. Each model is trained, with the same seeds, three ways:

- ``buys-only``: on buy events alone; its history at evaluation is the user's earlier buys (none for
  a first buy: the model then answers from an empty history);
- ``all``: on every event with its event type (``lstm-attn`` embeds the types and trains its
  next-event-type head; ``sasrec`` reads no event type), every event a target;
- ``all→buy``: the same inputs, but the item loss is taken at buy targets only (the other events
  still feed the history and ``lstm-attn``'s event-type head); the trainer has no per-type target
  weights, so this variant is a small subclass here.

Two rules without learning rank the same cases: ``pop`` and "history, then pop" (the items of the
user's history, latest first, then the rest by popularity). Test is also scored with the trained
weights reading every history event, items without a training event included (models skip those by
default).

Paired differences (``all`` and ``all→buy`` against ``buys-only``, ``all→buy`` against ``all``)
average each case's metric over the seeds first, then bootstrap the cases. Prints a table and writes
JSON (per-run ranks included: a rerun skips the runs it already has with the same settings).

    chronorec datasets fetch taobao-userbehavior-sample --out data/taobao
    OMP_NUM_THREADS=1 python benchmarks/taobao_next_buy.py data/taobao --epochs 80 --patience 20 \
        --threads 1 --out benchmarks/results/taobao_next_buy.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from chronorec._io import write_json
from chronorec.benchmark import machine_info
from chronorec.data.batches import SeqBatch, train_windows
from chronorec.data.dataset import SequenceData, load_dataset
from chronorec.data.split import EvalCases, Split, events_from, training_items
from chronorec.evaluation.harness import evaluate_cases
from chronorec.evaluation.metrics import metrics_from_ranks, per_case_metric
from chronorec.evaluation.paired import paired_bootstrap
from chronorec.models import ModelParts, SequenceModel, build_model, model_class, model_config
from chronorec.models.losses import SampledSoftmaxLoss
from chronorec.pretrain.finetune import train_on_split
from chronorec.scoring.masks import pessimistic_rank
from chronorec.training.config import TrainConfig

VARIANTS = ("buys-only", "all", "all→buy")
# Small models: 1,400 training buys, 67,600 training events. Chosen on validation NDCG@10 only.
MODEL_PARAMS: dict[str, dict[str, Any]] = {
    "sasrec": {"dim": 32, "layers": 1, "heads": 1},
    "lstm-attn": {"dim": 32},
}
MODEL_LR = {"sasrec": 1e-3, "lstm-attn": 1e-2}  # lstm-attn learns next to nothing at 1e-3 here
KS = (10, 20)
METRICS = ("NDCG@10", "HR@10")
RULE = "history, then pop"  # a rule without learning, see history_then_popular


@dataclass(frozen=True)
class Protocol:
    """The temporal split of the full log, restricted to buy cases."""

    cutoffs: tuple[int, int]
    train_end: np.ndarray  # (U + 1,) training prefixes in the full log
    valid: EvalCases  # buys in [valid cut-off, test cut-off), indices into the full log
    test: EvalCases  # buys from the test cut-off on
    buy_type: int  # 1-based event type of a buy

    def split(self, name: str) -> Split:
        info = {"valid_cutoff": self.cutoffs[0], "test_cutoff": self.cutoffs[1]}
        return Split(name, self.train_end, self.valid, self.test, info)


def buy_protocol(data: SequenceData) -> Protocol:
    """Cut-offs at the 80% and 90% time quantiles of all events; every later buy is a case."""
    if data.event_types is None or "buy" not in data.event_type_names:
        raise SystemExit(f"{data.path}: needs event types with a 'buy' type")
    buy_type = data.event_type_names.index("buy") + 1
    t_valid, t_test = (int(x) for x in np.ceil(np.quantile(data.timestamps, [0.8, 0.9])))
    train_end, later = events_from(data, t_valid)
    is_buy = data.event_types[later.targets] == buy_type
    in_test = data.timestamps[later.targets] >= t_test

    def cases(keep: np.ndarray) -> EvalCases:
        return EvalCases(later.users[keep], later.targets[keep])

    valid, test = cases(is_buy & ~in_test), cases(is_buy & in_test)
    return Protocol((t_valid, t_test), train_end, valid, test, buy_type)


def buys_only(data: SequenceData, protocol: Protocol) -> tuple[SequenceData, Protocol]:
    """The log restricted to buys (same item table, no event types) and the same cases in it."""
    assert data.event_types is not None
    keep = data.event_types == protocol.buy_type
    new_index = np.cumsum(keep) - 1  # full-log index -> buys-only index, for kept events
    owner = np.repeat(np.arange(len(data.offsets) - 1), np.diff(data.offsets))
    counts = np.bincount(owner[keep], minlength=len(data.offsets) - 1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    buys = dataclasses.replace(
        data,
        offsets=offsets,
        items=data.items[keep],
        timestamps=data.timestamps[keep],
        event_types=None,
        event_type_names=(),
    )
    before = np.bincount(
        owner[keep & (data.timestamps < protocol.cutoffs[0])], minlength=len(counts)
    )
    moved = dataclasses.replace(
        protocol,
        train_end=offsets[:-1] + before,
        valid=EvalCases(protocol.valid.users, new_index[protocol.valid.targets]),
        test=EvalCases(protocol.test.users, new_index[protocol.test.targets]),
    )
    return buys, moved


class BuyTargetsOnly:
    """Mixin: the item loss is taken at buy targets only; inputs (and an event-type head) keep
    every event."""

    buy_type: int

    def item_loss(self, hidden: torch.Tensor, inputs: SeqBatch, targets: SeqBatch) -> torch.Tensor:
        assert targets.event_types is not None
        kept = targets.items * (targets.event_types == self.buy_type)
        if not bool(kept.any()):
            return hidden.sum() * 0.0  # no buy in this batch: no item gradient
        buys = SeqBatch(kept, targets.timestamps, targets.event_types)
        return super().item_loss(hidden, inputs, buys)  # type: ignore[misc]


def sampled_loss(data: SequenceData, protocol: Protocol, config: TrainConfig, buys: bool):
    """Sampled softmax (log-Q corrected) whose correction counts the targets the model trains on."""
    windows = train_windows(data, protocol.train_end, config.max_len)
    pairs = (windows.items[:, :-1] != 0) & (windows.items[:, 1:] != 0)
    if buys:
        assert windows.event_types is not None
        pairs &= windows.event_types[:, 1:] == protocol.buy_type
    counts = torch.bincount(windows.items[:, 1:][pairs], minlength=data.num_items + 1)
    generator = torch.Generator().manual_seed(config.seed * 7)
    return SampledSoftmaxLoss(counts, config.negatives, "uniform", True, generator)


def make_model(
    name: str, data: SequenceData, protocol: Protocol, config: TrainConfig, variant: str
) -> SequenceModel:
    """The model for one variant, seeded, reading only items it has a training event on."""
    torch.manual_seed(config.seed)
    loss = sampled_loss(data, protocol, config, buys=variant == "all→buy")
    if variant == "all→buy":
        bases = (BuyTargetsOnly, model_class(name))
        cls = type(f"BuyTargets{bases[1].__name__}", bases, {"buy_type": protocol.buy_type})
        settings = model_config(name, config.model_params)
        args = (settings, data.num_items, data.num_event_types, config.max_len)
        model = cls(*args, parts=ModelParts(item_loss=loss))
    else:
        model = build_model(
            name,
            config.model_params,
            num_items=data.num_items,
            num_event_types=data.num_event_types,
            max_len=config.max_len,
            parts=ModelParts(item_loss=loss),
        )
    assert isinstance(model, SequenceModel)
    model.set_readable_items(training_items(data, protocol.train_end))
    return model


def run_one(
    variant: str,
    seed: int,
    views: dict[str, tuple[SequenceData, Protocol]],
    config: TrainConfig,
) -> dict[str, Any]:
    """Train one model one way with one seed; its validation and test ranks on the buy cases."""
    data, protocol = views["buys-only" if variant == "buys-only" else "all"]
    config = config.with_overrides(seed=seed)
    model = make_model(config.model, data, protocol, config, variant)
    trained = train_on_split(model, data, protocol.split(variant), config)
    test = evaluate_cases(model, data, protocol.test, max_len=config.max_len, ks=KS)
    valid = evaluate_cases(model, data, protocol.valid, max_len=config.max_len, ks=KS)
    # The same weights reading every history event, items without a training event included:
    # what skipping them costs when the target is often such an item, viewed just before.
    model.set_readable_items(np.ones(data.num_items + 1, dtype=bool))
    test_all_read = evaluate_cases(model, data, protocol.test, max_len=config.max_len, ks=KS)
    return {
        "model": config.model,
        "variant": variant,
        "seed": seed,
        "best_epoch": trained.best_epoch,
        "epochs": trained.epochs,
        "seconds": trained.seconds,
        "params": model.num_parameters(),
        "valid": valid.metrics,
        "test": test.metrics,
        "test_all_read": test_all_read.metrics,
        "valid_ranks": valid.ranks.tolist(),
        "test_ranks": test.ranks.tolist(),
        "test_all_read_ranks": test_all_read.ranks.tolist(),
    }


def settings(config: TrainConfig) -> dict[str, Any]:
    """What makes two runs comparable (a rerun reuses a run only when these match)."""
    keys = ("model", "model_params", "lr", "epochs", "patience", "max_len", "negatives")
    return {k: getattr(config, k) for k in keys} | {"budget_s": config.max_train_seconds}


def reusable(run: dict[str, Any], config: TrainConfig, variant: str, seed: int) -> bool:
    """Whether an earlier ``run`` is what this one would give: same variant, seed and settings, or
    settings that differ only in the epoch cap when early stopping ended it before both caps."""
    if (run["variant"], run["seed"]) != (variant, seed):
        return False
    wanted, had = settings(config), run["settings"]
    stopped_early = run["epochs"] < min(had["epochs"], wanted["epochs"])
    return had == wanted or (stopped_early and had | {"epochs": wanted["epochs"]} == wanted)


def run_all(
    args: argparse.Namespace,
    views: dict[str, tuple[SequenceData, Protocol]],
    base: TrainConfig,
    report: dict[str, Any],
) -> list[dict[str, Any]]:
    """Every model, variant and seed; runs already in ``args.out`` with the same settings are kept,
    and the file is rewritten after each new run (an interrupted benchmark resumes)."""
    old = json.loads(args.out.read_text()).get("runs", []) if args.out.is_file() else []
    runs = []
    for name in args.models.split(","):
        lr = float(args.lr.get(name, MODEL_LR[name]))
        params = MODEL_PARAMS[name] | args.params.get(name, {})
        config = base.with_overrides(model=name, model_params=params, lr=lr)
        for variant, seed in ((v, s) for v in args.variants.split(",") for s in range(args.seeds)):
            same = [r for r in old if reusable(r, config, variant, seed)]
            run = same[0] if same else run_one(variant, seed, views, config)
            run["settings"] = settings(config)
            runs.append(run)
            print(
                f"{name} {variant} seed {seed}: valid NDCG@10 {run['valid']['NDCG@10']:.4f}, "
                f"test {run['test']['NDCG@10']:.4f}, best epoch {run['best_epoch']}/"
                f"{run['epochs']}, {run['seconds']:.0f} s" + (" (kept)" if same else ""),
                flush=True,
            )
            write_json(args.out, report | {"runs": runs})
    return runs


def history_then_popular(
    data: SequenceData, counts: torch.Tensor, cases: EvalCases
) -> torch.Tensor:
    """Ranks ``(C,)`` of a rule without learning: the items of the user's history, latest first,
    then every other item by ``counts`` ``(I + 1,)`` (its training events)."""
    scores = counts.double().expand(len(cases), -1).clone()  # (C, I + 1)
    top = float(scores.max()) + 1.0
    for row, (user, target) in enumerate(zip(cases.users, cases.targets, strict=True)):
        history = data.items[data.offsets[user] : target]
        for age, item in enumerate(history[::-1]):
            if scores[row, item] < top:  # the latest event on an item sets its place
                scores[row, item] = top + len(history) - age
    scores[:, 0] = float("-inf")
    return pessimistic_rank(scores, torch.from_numpy(data.items[cases.targets].astype(np.int64)))


def baselines(views: dict[str, tuple[SequenceData, Protocol]]) -> dict[str, Any]:
    """``pop`` (training events counted) and history-then-pop, on every event and on buys only."""
    out = {}
    for view, (data, protocol) in views.items():
        pop = build_model("pop", {}, num_items=data.num_items)
        pop.learn_counts(data, protocol.split(view))
        for label in ("pop", RULE):
            result: dict[str, Any] = {}
            for part, cases in (("valid", protocol.valid), ("test", protocol.test)):
                if label == "pop":
                    ranks = evaluate_cases(pop, data, cases, max_len=50, ks=KS).ranks
                else:
                    counts = pop.counts
                    assert isinstance(counts, torch.Tensor)
                    ranks = history_then_popular(data, counts, cases)
                result[part] = metrics_from_ranks(ranks, KS)
                result[f"{part}_ranks"] = ranks.tolist()
            out[f"{label} ({'buys' if view == 'buys-only' else 'all events'})"] = result
    return out


def seed_mean(runs: list[dict[str, Any]], part: str, metric: str) -> torch.Tensor:
    """Each case's ``metric`` averaged over the seeds ``(C,)``."""
    name, k = metric.split("@")
    values = [per_case_metric(torch.tensor(r[f"{part}_ranks"]), name, int(k)) for r in runs]
    return torch.stack(values).mean(0)


PAIRS = (("buys-only", "all"), ("buys-only", "all→buy"), ("all", "all→buy"), (RULE, "all"))


def paired(
    runs: list[dict[str, Any]], subsets: dict[str, np.ndarray], rule: dict[str, Any]
) -> dict[str, Any]:
    """Candidate minus baseline (:data:`PAIRS`: variants, and ``rule``'s ranks) per model, metric
    and subset of the test cases, as evaluated and reading every event; each case's metric is first
    averaged over seeds."""
    out: dict[str, Any] = {}
    ranks = rule["test_ranks"]
    for name in dict.fromkeys(r["model"] for r in runs):
        group = {v: [r for r in runs if (r["model"], r["variant"]) == (name, v)] for v in VARIANTS}
        group[RULE] = [{"test_ranks": ranks, "test_all_read_ranks": ranks}]
        for base, candidate in PAIRS:
            if not group[base] or not group[candidate]:
                continue
            for part, metric in ((p, m) for p in ("test", "test_all_read") for m in METRICS):
                a = seed_mean(group[base], part, metric)
                b = seed_mean(group[candidate], part, metric)
                for subset, keep in subsets.items():
                    mask = torch.from_numpy(keep)
                    cmp = paired_bootstrap(a[mask], b[mask], metric=metric)
                    label = f"{name} {candidate} - {base} {metric} {part} {subset}"
                    out[label] = dataclasses.asdict(cmp)
    return out


def first_buy_flags(buys: SequenceData, protocol: Protocol) -> np.ndarray:
    """``(C,)`` True for test buys with no earlier buy by the same user."""
    return protocol.test.targets == buys.offsets[protocol.test.users]


def target_shares(views: dict[str, tuple[SequenceData, Protocol]], max_len: int) -> dict[str, Any]:
    """Per case set, the share of buy targets already in what a model could read: the whole earlier
    history, its last ``max_len`` events, those of them with a training event (what is read), and
    the earlier buys."""
    data, protocol = views["all"]
    buys, moved = views["buys-only"]
    known = training_items(data, protocol.train_end)
    out = {}
    for part in ("valid", "test"):
        cases, buy_cases = getattr(protocol, part), getattr(moved, part)
        shares = np.zeros(4)
        for k, user in enumerate(cases.users):
            target, end = data.items[cases.targets[k]], cases.targets[k]
            history = data.items[data.offsets[user] : end]
            recent = history[-max_len:]
            earlier_buys = buys.items[buys.offsets[user] : buy_cases.targets[k]]
            shares += [
                target in history,
                target in recent,
                target in recent[known[recent]],
                target in earlier_buys,
            ]
        names = ("history", f"last {max_len} events", "last events read", "earlier buys")
        out[part] = dict(zip(names, (shares / len(cases)).round(4).tolist(), strict=True))
    return out


COLUMNS = ("valid NDCG@10", "test NDCG@10", "test HR@10", "test_all_read NDCG@10")


def summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and std over seeds of the metrics, per model and variant."""
    out: dict[str, dict[str, float]] = {}
    for key in dict.fromkeys((r["model"], r["variant"]) for r in runs):
        group = [r for r in runs if (r["model"], r["variant"]) == key]
        row: dict[str, float] = {"seconds": statistics.fmean(r["seconds"] for r in group)}
        row["best_epoch"] = statistics.fmean(r["best_epoch"] for r in group)
        for part in ("valid", "test", "test_all_read"):
            for metric in METRICS:
                values = [r[part][metric] for r in group]
                row[f"{part} {metric}"] = statistics.fmean(values)
                row[f"{part} {metric} std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out[" ".join(key)] = row
    return out


def print_table(report: dict[str, Any]) -> None:
    cases = report["cases"]
    table = Table(
        title=f"next buy on {report['data']}: {cases['test']} test / {cases['valid']} valid buys"
        f" ({cases['test_first_buys']} first buys), {report['seeds']} seed(s), full ranking"
    )
    table.add_column("model")
    for column in (*COLUMNS, "train s"):
        table.add_column(column.replace("test_all_read", "test, reading all"), justify="right")
    for label, rule in report["baselines"].items():
        cells = [f"{rule[c.split()[0]][c.split()[1]]:.4f}" for c in COLUMNS[:3]]
        table.add_row(label, *cells, "-", "0")
    for key, row in report["summary"].items():
        cells = [f"{row[c]:.4f} ± {row[c + ' std']:.4f}" for c in COLUMNS]
        table.add_row(key, *cells, f"{row['seconds']:.0f}")
    Console(width=max(140, Console().width)).print(table)
    for key, cmp in report["paired"].items():
        if "NDCG" not in key:
            continue
        print(
            f"{key}: {cmp['difference']:+.4f} [{cmp['ci_low']:+.4f}, {cmp['ci_high']:+.4f}]"
            f" ({cmp['cases']} cases, {cmp['better']} better, {cmp['worse']} worse)"
        )


def per_model(pairs: list[str]) -> dict[str, Any]:
    """``MODEL=VALUE`` options; the value is read as JSON."""
    out = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        out[name] = json.loads(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--models", default="lstm-attn,sasrec")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--patience", type=int, default=20)
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--negatives", type=int, default=256)
    parser.add_argument("--max-train-seconds", type=float, default=0.0, help="per run; 0: no limit")
    parser.add_argument("--lr", action="append", default=[], help="MODEL=LR (repeatable)")
    parser.add_argument("--params", action="append", default=[], help='MODEL={"dim": 64} (JSON)')
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/taobao_next_buy.json"))
    args = parser.parse_args()
    args.lr, args.params = per_model(args.lr), per_model(args.params)
    torch.set_num_threads(args.threads)

    data = load_dataset(args.data)
    protocol = buy_protocol(data)
    views = {"all": (data, protocol), "buys-only": buys_only(data, protocol)}
    base = TrainConfig(
        data=str(args.data),
        loss="sampled",
        negatives=args.negatives,
        max_len=args.max_len,
        epochs=args.epochs,
        patience=args.patience,
        ks=list(KS),
        threads=args.threads,
        device="cpu",
        max_train_seconds=args.max_train_seconds,
    )
    first_buy = first_buy_flags(*views["buys-only"])
    report: dict[str, Any] = {
        "data": str(args.data),
        "seeds": args.seeds,
        "cutoffs": list(protocol.cutoffs),
        "cases": {
            "valid": len(protocol.valid),
            "test": len(protocol.test),
            "test_first_buys": int(first_buy.sum()),
        },
        "target_in": target_shares(views, args.max_len),
        "machine": machine_info(),
        "baselines": baselines(views),
    }
    runs = run_all(args, views, base, report)
    subsets = {"all buys": np.ones(len(first_buy), dtype=bool), "with an earlier buy": ~first_buy}
    report |= {
        "summary": summary(runs),
        "paired": paired(runs, subsets, report["baselines"][f"{RULE} (all events)"]),
        "runs": runs,
    }
    write_json(args.out, report)
    print_table(report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
