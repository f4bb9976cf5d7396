"""chronorec against RecBole 1.2.1, side by side: same data, split, model sizes,
batch, loss and metrics.

    python benchmarks/compare_recbole.py data/ml-100k          # full length (hours on 2 CPU cores)
    python benchmarks/compare_recbole.py data/ml-100k --quick  # 2 epochs per run: a smoke test

RecBole runs in its own virtualenv (built on first use, ``--recbole-venv``). The prepared dataset is
written as RecBole atomic files whose timestamps are each event's rank within its user, so RecBole's
time sort reproduces chronorec's event order whatever the row order (chronorec breaks timestamp ties
by source order; RecBole sorts stably, and holds timestamps as float32, which merges unix times a
minute or two apart). Before training, the RecBole child checks that its leave-one-out split has
chronorec's validation and test target, and test history, for every user, and stops if not.

Both sides: max length 50, hidden size 64, inner size 256, SASRec 2 layers x 2 heads, GRU4Rec 1
layer, dropout ``--dropout`` everywhere, full-softmax cross-entropy, batch 128, Adam(W) lr 1e-3
without weight decay, gradient norm clipped to 1, early stopping on validation NDCG@10 after
``--patience`` epochs without improvement, full ranking over every item without excluding the
history, the same number of torch threads. chronorec runs with its learned ``repeat_bias`` (default)
and without it (like-for-like). Each run is its own process, so peak RSS is per run. Prints a
Markdown table and RecBole/chronorec ratios, and writes JSON after every run.

What still differs, by each library's design: RecBole trains on every prefix as its own sample (the
prefix re-encoded for one target), chronorec on every position of non-overlapping windows in one
pass; both show each training target once per epoch, at very different cost, so compare seconds to
best. RecBole's SASRec is post-norm with absolute positions, chronorec's pre-norm with positions
counted back from the latest event; RecBole's GRU has no biases and drops out only its input,
chronorec's also its output. RecBole counts a validation tie as an improvement, chronorec does not.
Neither excludes history items from the ranking (RecBole masks them only for non-sequential models).
RecBole's top-k breaks score ties arbitrarily where chronorec ranks pessimistically, so the RecBole
child also recomputes its test metrics with chronorec's rules from the raw scores
(``test_pessimistic``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

# This file is also the RecBole child (``--child recbole``), run by the RecBole venv's python where
# chronorec is not installed: chronorec is imported only inside the functions the parent runs.

FAST_SCHEDULE = {"lr": 2e-3, "lr_schedule": "cosine", "warmup_epochs": 2, "epochs": 45}
# Chosen on seed 0's validation NDCG@10 among lr 3e-3..5e-3 with cosine over 15 or 20 epochs.
SHORT_SCHEDULE = {"lr": 4e-3, "lr_schedule": "cosine", "warmup_epochs": 1, "epochs": 20}

RECBOLE_REQUIREMENTS = [
    "torch==2.13.0",
    "recbole==1.2.1",
    "numpy==1.26.4",
    "pandas==2.2.3",
    "scipy==1.13.1",
    "scikit-learn==1.5.2",
    # torch 2.13 needs setuptools >= 77.0.3; ray 2.6.3 (a RecBole requirement, imported by
    # recbole.quick_start) imports pkg_resources, which setuptools 81 removed.
    "setuptools>=77.0.3,<81",
]
RECBOLE_MODELS = {"sasrec": "SASRec", "gru4rec": "GRU4Rec"}
DIM, INNER, HEADS, MAX_LEN, BATCH, LR, GRAD_CLIP, K = 64, 256, 2, 50, 128, 1e-3, 1.0, 10
LAYERS = {"sasrec": 2, "gru4rec": 1}  # chronorec's defaults; RecBole's GRU4Rec default is 1 too
METRICS = ("NDCG@10", "HR@10", "MRR@10")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
TRAIN_LINE = re.compile(r"epoch (\d+) training \[time: ([\d.]+)s")
EVAL_LINE = re.compile(r"epoch (\d+) evaluating \[time: ([\d.]+)s")


# ----------------------------------------------------------------------------- conversion (parent)


def write_recbole_dataset(data: Any, root: Path, name: str) -> Path:
    """Write ``data`` (a chronorec ``SequenceData``)
    as RecBole atomic files ``root/name/name.{inter,item}``.

    Tokens are chronorec's internal ids. The timestamp is the event's 0-based rank within its user:
    strictly increasing in chronorec's order and exact in float32. The ``.item`` file lists every
    item, so RecBole ranks the same catalogue even if an item had no event.
    """
    from chronorec._io import atomic_path

    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    counts = np.diff(data.offsets)
    users = np.repeat(np.arange(len(counts)), counts)
    rank = np.arange(len(data.items)) - data.offsets[users]
    with atomic_path(folder / f"{name}.inter") as tmp, tmp.open("w") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        f.writelines(
            f"{u}\t{i}\t{r}\n"
            for u, i, r in zip(users.tolist(), data.items.tolist(), rank.tolist())
        )
    with atomic_path(folder / f"{name}.item") as tmp:
        tmp.write_text("item_id:token\n" + "".join(f"{i}\n" for i in range(1, data.num_items + 1)))
    return folder


def loo_expectations(data: Any, max_len: int) -> dict[str, np.ndarray]:
    """chronorec's leave-one-out cases per user id: validation and test target (0: none)
    and test history.

    ``test_history[u]`` holds the last ``max_len`` items before user ``u``'s test target, oldest
    first, left-padded with 0 (chronorec's evaluation input).
    """
    from chronorec.data.batches import gather_padded
    from chronorec.data.split import leave_one_out

    split = leave_one_out(data)
    valid = np.zeros(data.num_users + 1, dtype=np.int64)
    test = np.zeros(data.num_users + 1, dtype=np.int64)
    valid[split.valid.users] = data.items[split.valid.targets]
    test[split.test.users] = data.items[split.test.targets]
    history = np.zeros((data.num_users + 1, max_len), dtype=np.int64)
    starts = data.offsets[split.test.users]
    history[split.test.users] = gather_padded(
        data.items, starts, split.test.targets, max_len, np.int64
    )
    return {"valid": valid, "test": test, "test_history": history}


# -------------------------------------------------------------------------- checks (RecBole child)


def split_mismatches(
    expected: dict[str, np.ndarray], found: dict[str, dict[int, Any]]
) -> list[str]:
    """Users whose RecBole validation/test target or test history differs
    from chronorec's (empty: all agree).

    ``found`` maps ``valid``/``test``/``test_history`` to ``{user: item}`` (``{user: [items]}`` for
    the history) as RecBole's split holds them.
    """
    problems = []
    for part in ("valid", "test"):
        want = {u: int(i) for u, i in enumerate(expected[part]) if i}
        got = found[part]
        for u in sorted(set(want) | set(got)):
            if want.get(u) != got.get(u):
                problems.append(
                    f"user {u}: {part} target chronorec {want.get(u)} != RecBole {got.get(u)}"
                )
    for u, items in found["test_history"].items():
        row = expected["test_history"][u]
        if list(items) != row[row != 0].tolist():
            problems.append(f"user {u}: test history differs (RecBole {len(items)} items)")
    return problems


def parse_epoch_seconds(lines: list[str]) -> tuple[list[float], list[float]]:
    """Training and evaluation seconds per epoch from RecBole's log lines (colour codes allowed)."""
    train, evaluate = [], []
    for line in lines:
        line = ANSI.sub("", line)
        if m := TRAIN_LINE.search(line):
            train.append(float(m.group(2)))
        elif m := EVAL_LINE.search(line):
            evaluate.append(float(m.group(2)))
    return train, evaluate


def metrics_from_ranks(ranks: np.ndarray, k: int = K) -> dict[str, float]:
    """HR/NDCG/MRR@k of 0-based ranks, as chronorec.evaluation.metrics defines them."""
    hit = ranks < k
    return {
        f"NDCG@{k}": float(np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0).mean()),
        f"HR@{k}": float(hit.mean()),
        f"MRR@{k}": float(np.where(hit, 1.0 / (ranks + 1.0), 0.0).mean()),
    }


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Lines(logging.Handler):
    """Keeps every log message, for the epoch times RecBole only logs."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _recbole_split(
    dataset: Any, loader: Any, with_history: bool
) -> tuple[dict[int, int], dict[int, list[int]]]:
    """``{user: target}`` (and ``{user: history}``) of an evaluation loader,
    in chronorec ids (the tokens)."""
    feat = loader._dataset.inter_feat
    users = dataset.id2token(dataset.uid_field, feat[dataset.uid_field].numpy()).astype(np.int64)
    items = dataset.id2token(dataset.iid_field, feat[dataset.iid_field].numpy()).astype(np.int64)
    if len(np.unique(users)) != len(users):  # a dict would silently keep one case per user
        raise SystemExit(
            "RecBole's split has several evaluation cases for some user; chronorec has one"
        )
    targets = dict(zip(users.tolist(), items.tolist()))
    histories: dict[int, list[int]] = {}
    if with_history:
        lists = feat[dataset.iid_field + dataset.config["LIST_SUFFIX"]].numpy()
        lengths = feat[dataset.config["ITEM_LIST_LENGTH_FIELD"]].numpy()
        for u, row, n in zip(users.tolist(), lists, lengths):
            histories[u] = dataset.id2token(dataset.iid_field, row[:n]).astype(np.int64).tolist()
    return targets, histories


def run_recbole_child(job: dict[str, Any]) -> dict[str, Any]:
    """Train and test one RecBole model as ``job`` says (in the RecBole venv);
    returns the measurements."""
    # RecBole 1.2.1 reloads its best checkpoint with torch.load's default, which torch >= 2.6 made
    # weights_only=True; the checkpoint holds its config object, so it must load the old way.
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    started = time.perf_counter()
    sys.argv = sys.argv[
        :1
    ]  # RecBole's Config reads options from the command line, which holds ours
    config = Config(model=job["model"], dataset=job["dataset"], config_dict=job["config"])
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    log = _Lines()
    logging.getLogger().addHandler(log)
    torch.set_num_threads(job["threads"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    prep_seconds = time.perf_counter() - started

    expected = dict(np.load(job["expected"]))
    valid, _ = _recbole_split(dataset, valid_data, with_history=False)
    test, test_history = _recbole_split(dataset, test_data, with_history=True)
    problems = split_mismatches(
        expected, {"valid": valid, "test": test, "test_history": test_history}
    )
    if dataset.item_num - 1 != job["num_items"]:
        problems.append(f"RecBole ranks {dataset.item_num - 1} items, chronorec {job['num_items']}")
    if problems:
        raise SystemExit(
            f"RecBole's split differs from chronorec's in {len(problems)} case(s):\n"
            + "\n".join(problems[:20])
        )
    logging.getLogger().info(
        f"split check passed: chronorec's targets for {len(valid)} validation and "
        f"{len(test)} test cases, and the test histories"
    )

    init_seed(
        config["seed"], config["reproducibility"]
    )  # as recbole.quick_start does before building the model
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    best = {"epoch": -1, "seconds": 0.0, "cpu_seconds": 0.0}
    curve: list[
        list[float]
    ] = []  # [seconds since the start of training, validation NDCG@10] per epoch
    budget = job.get("max_train_seconds") or math.inf
    fit_start, cpu_start = time.perf_counter(), time.process_time()

    def on_validated(epoch: int, score: float) -> None:
        seconds = time.perf_counter() - fit_start
        curve.append([seconds, float(score)])
        if (
            trainer.cur_step == 0
        ):  # RecBole resets it exactly when this epoch became the best (and was saved)
            best.update(epoch=epoch, seconds=seconds, cpu_seconds=time.process_time() - cpu_start)
        if seconds >= budget:  # RecBole's fit has no time limit: leave it from its own callback
            raise _OutOfTime

    stopped_by_budget = False
    try:
        trainer.fit(
            train_data, valid_data, saved=True, show_progress=False, callback_fn=on_validated
        )
    except _OutOfTime:
        stopped_by_budget = True
    best_valid = trainer.best_valid_result
    fit_seconds, fit_cpu_seconds = time.perf_counter() - fit_start, time.process_time() - cpu_start
    test_result = trainer.evaluate(test_data, load_best_model=True)
    train_seconds, eval_seconds = parse_epoch_seconds(log.lines)
    return {
        "epochs": len(train_seconds),
        "best_epoch": best["epoch"] + 1,  # RecBole counts from 0, chronorec from 1
        "seconds_per_epoch": fit_seconds / max(len(train_seconds), 1),
        "train_seconds_per_epoch": float(np.mean(train_seconds)),
        "valid_seconds": float(np.mean(eval_seconds)),
        "seconds_to_best": best["seconds"],
        "train_seconds": fit_seconds,
        "cpu_seconds_per_epoch": fit_cpu_seconds / max(len(train_seconds), 1),
        "cpu_seconds_to_best": best["cpu_seconds"],
        "prep_seconds": prep_seconds,
        "valid": {m: float(best_valid[m.replace("HR", "hit").lower()]) for m in METRICS},
        "test": {m: float(test_result[m.replace("HR", "hit").lower()]) for m in METRICS},
        "test_pessimistic": _pessimistic_test(
            model, test_data
        ),  # the best weights, loaded by evaluate
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "train_samples": len(train_data._dataset),
        "checked_cases": {"valid": len(valid), "test": len(test)},
        "valid_curve": curve,
        "stopped_by_budget": stopped_by_budget,
    }


class _OutOfTime(Exception):
    """Raised from RecBole's epoch callback once the run's time budget is spent."""


def _pessimistic_test(model: Any, test_data: Any) -> dict[str, float]:
    """Test metrics recomputed from the model's raw full-ranking scores with chronorec's rules.

    Padding is excluded, history items are not, and ties rank against the target. Equal to RecBole's
    own numbers unless RecBole masks something or float ties occur
    (its top-k breaks ties arbitrarily).
    """
    import torch

    model.eval()
    ranks = []
    with torch.no_grad():
        for interaction, _, _, targets in test_data:
            scores = model.full_sort_predict(interaction)
            scores[:, 0] = float("-inf")
            ranks.append(((scores[:, 1:] >= scores.gather(1, targets[:, None])).sum(1) - 1).numpy())
    return metrics_from_ranks(np.concatenate(ranks))


# ----------------------------------------------------------------------------- chronorec child


def run_chronorec_child(job: dict[str, Any]) -> dict[str, Any]:
    """Train and test one chronorec model as ``job`` says; returns the measurements."""
    import chronorec
    from chronorec.api import load_run
    from chronorec.data.split import make_split
    from chronorec.evaluation.harness import evaluate_cases

    result = chronorec.train(job["data"], out=job["run_dir"], progress=False, **job["options"])
    config, model, data = load_run(job["run_dir"], "cpu")
    cases = make_split(data, config.split).valid
    t0 = time.perf_counter()  # one validation pass, as trainer.fit runs it every epoch
    evaluate_cases(
        model,
        data,
        cases,
        max_len=config.max_len,
        ks=(K,),
        device="cpu",
        memory_budget_mb=config.eval_memory_mb,
    )
    valid_seconds = time.perf_counter() - t0
    return {
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "seconds_per_epoch": result.train_seconds / max(result.epochs, 1),
        "train_seconds_per_epoch": result.train_seconds / max(result.epochs, 1) - valid_seconds,
        "valid_seconds": valid_seconds,
        "seconds_to_best": result.seconds_to_best,
        "train_seconds": result.train_seconds,
        "cpu_seconds_per_epoch": result.history[-1]["cpu_seconds"] / max(result.epochs, 1),
        "cpu_seconds_to_best": next(
            h["cpu_seconds"] for h in result.history if h["epoch"] == result.best_epoch
        ),
        "valid": {m: result.valid[m] for m in METRICS},
        "test": {m: result.test[m] for m in METRICS},
        "params": result.params,
        "valid_curve": [
            [h["seconds"], h["valid"][f"NDCG@{K}"]] for h in result.history if "valid" in h
        ],
        "stopped_by_budget": 0 < job["options"]["max_train_seconds"] <= result.train_seconds,
    }


# ----------------------------------------------------------------------------- parent


def ensure_recbole_venv(venv: Path) -> Path:
    """The RecBole venv's python, building the venv first if it cannot import RecBole 1.2.1."""
    python = venv / "bin" / "python"
    probe = (
        "import recbole, recbole.quick_start, torch; "
        "assert recbole.__version__ == '1.2.1', recbole.__version__"
    )
    if (
        python.exists()
        and subprocess.run([str(python), "-c", probe], capture_output=True, check=False).returncode
        == 0
    ):
        return python
    print(f"building the RecBole venv in {venv} (a few minutes)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *RECBOLE_REQUIREMENTS], check=True)
    subprocess.run([str(python), "-c", probe], check=True)
    return python


def recbole_config(
    model: str, args: argparse.Namespace, data_root: Path, run_dir: Path
) -> dict[str, Any]:
    """RecBole's config for ``model`` with the shared protocol."""
    shared = {
        "data_path": str(data_root),
        "checkpoint_dir": str(run_dir / "saved"),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id"]},
        "gpu_id": "",
        "use_gpu": False,
        "worker": 0,
        "seed": args.seed,
        "reproducibility": True,
        "show_progress": False,
        "log_wandb": False,
        "MAX_ITEM_LIST_LENGTH": MAX_LEN,
        "loss_type": "CE",
        "train_neg_sample_args": None,
        "epochs": args.epochs,
        "train_batch_size": BATCH,
        "learner": "adam",
        "learning_rate": LR,
        "weight_decay": 0.0,
        "clip_grad_norm": {"max_norm": GRAD_CLIP, "norm_type": 2},  # chronorec's default grad_clip
        # RecBole stops once more than stopping_step validations in a row failed to improve;
        # chronorec once patience of them did.
        "eval_step": 1,
        "stopping_step": args.patience - 1,
        "eval_args": {
            "split": {"LS": "valid_and_test"},
            "order": "TO",
            "group_by": "user",
            "mode": "full",
        },
        "metrics": ["NDCG", "Hit", "MRR"],
        "topk": [K],
        "valid_metric": f"NDCG@{K}",
        "eval_batch_size": 4096,
        "metric_decimal_place": 6,
    }
    if model == "sasrec":
        return shared | {
            "n_layers": LAYERS[model],
            "n_heads": HEADS,
            "hidden_size": DIM,
            "inner_size": INNER,
            "hidden_dropout_prob": args.dropout,
            "attn_dropout_prob": args.dropout,
            "hidden_act": "gelu",
        }
    return shared | {
        "embedding_size": DIM,
        "hidden_size": DIM,
        "num_layers": LAYERS[model],
        "dropout_prob": args.dropout,
    }


def fresh_dir(path: Path) -> Path:
    """``path`` as a new empty folder (a run must not resume or mix with an older one)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def run_child(
    python: Path, side: str, job: dict[str, Any], run_dir: Path, threads: int
) -> dict[str, Any]:
    """Run one measurement in its own process (own peak RSS);
    its log goes to ``run_dir/child.log``."""
    job_file = run_dir / "job.json"
    job_file.write_text(json.dumps(job, indent=1))
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [str(python), str(Path(__file__).resolve()), "--child", side, str(job_file)]
    started = time.perf_counter()
    with (run_dir / "child.log").open("w") as log:
        code = subprocess.run(
            cmd, cwd=run_dir, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        ).returncode
    if code != 0:
        tail = (run_dir / "child.log").read_text().strip().splitlines()[-25:]
        raise SystemExit(
            f"{side} run failed (exit {code}), log {run_dir / 'child.log'}:\n" + "\n".join(tail)
        )
    # The load average over the last 15 minutes tells how much other work the run's wall times
    # shared the cores with.
    return json.loads((run_dir / "result.json").read_text()) | {
        "wall_seconds": time.perf_counter() - started,
        "load_average_at_end": os.getloadavg(),
    }


LEGEND = """
s/epoch: wall time per epoch of training, validation and checkpointing. train s/epoch: RecBole's
logged training time; chronorec's s/epoch less one timed validation pass (valid s). s to best: wall
time from the start of training to the end of the best validation epoch. best: 1-based epoch. CPU s:
the run's process CPU time over the same spans (single-threaded runs: barely moved by other work on
the machine).
"""


def markdown_table(runs: list[dict[str, Any]]) -> str:
    """One row per run (see LEGEND)."""
    header = [
        "run",
        "params",
        "epochs",
        "best",
        "s/epoch",
        "train s/epoch",
        "valid s",
        "s to best",
        "CPU s/epoch",
        "CPU s to best",
        *(f"test {m}" for m in METRICS),
        "peak RSS MB",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in runs:
        epochs = f"{r['epochs']}{' (time limit)' if r.get('stopped_by_budget') else ''}"
        cells = [
            r["name"],
            f"{r['params']:,}",
            epochs,
            str(r["best_epoch"]),
            f"{r['seconds_per_epoch']:.2f}",
            f"{r['train_seconds_per_epoch']:.2f}",
            f"{r['valid_seconds']:.2f}",
            f"{r['seconds_to_best']:.1f}",
            f"{r['cpu_seconds_per_epoch']:.2f}",
            f"{r['cpu_seconds_to_best']:.1f}",
            *(f"{r['test'][m]:.4f}" for m in METRICS),
            f"{r['peak_rss_mb']:.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratios(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """RecBole / chronorec for seconds per epoch and seconds to best, per chronorec variant."""
    by_name = {r["name"]: r for r in runs}
    out = {}
    for r in runs:
        if r["side"] != "chronorec" or f"recbole {r['model']}" not in by_name:
            continue
        peer = by_name[f"recbole {r['model']}"]
        pair = {
            key: peer[key] / r[key] if r.get(key) else float("nan")
            for key in (
                "seconds_per_epoch",
                "seconds_to_best",
                "cpu_seconds_per_epoch",
                "cpu_seconds_to_best",
            )
        }
        # Time to the same quality: how long each side took
        # to first match the other's best validation NDCG@10.
        pair["recbole_seconds_to_chronorec_best"] = seconds_to_reach(
            peer["valid_curve"], r["valid"][f"NDCG@{K}"]
        )
        pair["chronorec_seconds_to_recbole_best"] = seconds_to_reach(
            r["valid_curve"], peer["valid"][f"NDCG@{K}"]
        )
        out[f"recbole {r['model']} / {r['name']}"] = pair
    return out


def seconds_to_reach(curve: list[list[float]], target: float) -> float | None:
    """Training seconds at the first validation of ``curve`` (``[seconds, NDCG@10]`` rows) scoring
    ``target`` or more; None if it never did."""
    return next((seconds for seconds, score in curve if score >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, nargs="?", help="a chronorec prepared dataset folder")
    parser.add_argument("--models", default="sasrec,gru4rec")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument(
        "--patience",
        type=int,
        default=20,
        help="stop after this many epochs without a better validation NDCG@10 "
        "(RecBole stopping_step + 1)",
    )
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.2,
        help="every dropout on both sides (chronorec's default)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-train-minutes",
        type=float,
        default=0.0,
        help="stop any run after the first validation past this much training (0: no limit)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at once (each in its own process with --threads threads; at most one per core)",
    )
    parser.add_argument("--quick", action="store_true", help="2 epochs per run: a smoke test")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "chronorec-recbole",
        help="converted data, run folders and logs go here",
    )
    parser.add_argument(
        "--recbole-venv",
        type=Path,
        help="RecBole 1.2.1 virtualenv (default: WORK/venv; built if absent)",
    )
    parser.add_argument(
        "--out", type=Path, help="JSON (default: benchmarks/results/compare_recbole[-quick].json)"
    )
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one measurement in this process; the parent reads result.json
        side, job_file = args.child
        job = json.loads(Path(job_file).read_text())
        result = (run_recbole_child if side == "recbole" else run_chronorec_child)(job)
        Path("result.json").write_text(
            json.dumps(result | {"peak_rss_mb": _peak_rss_mb()}, indent=1)
        )
        return
    if args.data is None:
        parser.error("the dataset folder is required")
    if args.quick:
        args.epochs = 2
    compare(args)


def compare(args: argparse.Namespace) -> None:
    """Convert the dataset, run RecBole and chronorec per model,
    print the table and write the JSON."""
    from chronorec._io import write_json
    from chronorec.benchmark import machine_info
    from chronorec.data.dataset import load_dataset

    out = (
        args.out
        or Path(__file__).parent
        / "results"
        / f"compare_recbole{'-quick' if args.quick else ''}.json"
    )
    python = ensure_recbole_venv(args.recbole_venv or args.work / "venv")
    data = load_dataset(args.data)
    name = f"cr-{data.name}"  # not "ml-100k": RecBole would load its own settings for that name
    data_root = args.work / "data"
    write_recbole_dataset(data, data_root, name)
    expected_file = data_root / name / "expected_loo.npz"
    np.savez(expected_file, **loo_expectations(data, MAX_LEN))
    report: dict[str, Any] = {
        "data": str(args.data.resolve()),
        "users": data.num_users,
        "items": data.num_items,
        "interactions": len(data.items),
        "protocol": {
            "max_len": MAX_LEN,
            "dim": DIM,
            "inner": INNER,
            "heads": HEADS,
            "layers": LAYERS,
            "dropout": args.dropout,
            "batch_size": BATCH,
            "lr": LR,
            "grad_clip": GRAD_CLIP,
            "loss": "full softmax CE",
            "epochs": args.epochs,
            "patience": args.patience,
            "threads": args.threads,
            "seed": args.seed,
            "max_train_minutes": args.max_train_minutes,
            "jobs": args.jobs,
            "split": "leave-one-out",
            "ranking": "full, history not excluded, padding excluded",
        },
        # The machine is shared: the load says how much other work the timings competed with.
        "machine": machine_info()
        | {"torch_threads": args.threads, "load_average": os.getloadavg()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": [],
    }

    budget = args.max_train_minutes * 60
    lock = threading.Lock()

    def run(
        label: str, side: str, model: str, interpreter: Path, job: dict[str, Any], run_dir: Path
    ) -> None:
        result = {
            "name": label,
            "side": side,
            "model": model,
            **run_child(interpreter, side, job, run_dir, args.threads),
        }
        with lock:
            if side == "recbole":
                print(
                    f"{label}: RecBole's split has chronorec's targets and test histories "
                    f"{result['checked_cases']}"
                )
            print(
                f"{label}: "
                f"{json.dumps({k: result[k] for k in ('epochs', 'seconds_per_epoch', 'test')})}",
                flush=True,
            )
            report["runs"].append(result)
            report["runs"].sort(key=lambda r: order.index(r["name"]))
            report["ratios"] = ratios(report["runs"])
            write_json(out, report)  # after every run: a long comparison leaves partial results

    jobs: list[tuple[Any, ...]] = []  # RecBole's runs first: they are the long ones
    for model in args.models.split(","):
        run_dir = fresh_dir(args.work / "runs" / f"recbole-{model}")
        job = {
            "model": RECBOLE_MODELS[model],
            "dataset": name,
            "threads": args.threads,
            "expected": str(expected_file),
            "num_items": data.num_items,
            "max_train_seconds": budget,
            "config": recbole_config(model, args, data_root, run_dir),
        }
        jobs.append((f"recbole {model}", "recbole", model, python, job, run_dir))
    for model in args.models.split(","):
        params = {"dim": DIM, "layers": LAYERS[model], "dropout": args.dropout}
        if model == "sasrec":
            params |= {"heads": HEADS, "ffn_mult": INNER // DIM}
        # chronorec's defaults, the like-for-like architecture, its documented fast schedule
        # (README: best validation in about 2 minutes) and a shorter one;
        # every other setting is shared.
        variants = [
            ("", {}, True),
            (" (repeat_bias=False)", {}, False),
            (" (lr 2e-3, cosine over 45 epochs)", FAST_SCHEDULE, True),
            (" (lr 4e-3, cosine over 20 epochs)", SHORT_SCHEDULE, True),
        ]
        for suffix, schedule, repeat_bias in variants:
            slug = suffix.strip(" ()").replace(" ", "-").replace("=", "-").replace(",", "")
            run_dir = fresh_dir(
                args.work / "runs" / f"chronorec-{model}{'-' + slug if slug else ''}"
            )
            options = {
                "model": model,
                "model_params": params | {"repeat_bias": repeat_bias},
                "seed": args.seed,
                "max_len": MAX_LEN,
                "batch_size": BATCH,
                "epochs": args.epochs,
                "patience": args.patience,
                "lr": LR,
                "weight_decay": 0.0,
                "grad_clip": GRAD_CLIP,
                "loss": "full",
                "ks": [K],
                "exclude_seen": False,
                "threads": args.threads,
                "device": "cpu",
                "max_train_seconds": budget,
            }
            if args.quick:  # keep the quick run's 2 epochs: no warm-up, the cosine over those
                schedule = {k: v for k, v in schedule.items() if k in ("lr", "lr_schedule")}
            job = {
                "data": str(args.data.resolve()),
                "run_dir": str(run_dir / "run"),
                "options": options | schedule,
            }
            jobs.append(
                (
                    f"chronorec {model}{suffix}",
                    "chronorec",
                    model,
                    Path(sys.executable),
                    job,
                    run_dir,
                )
            )
    order = [j[0] for j in jobs]
    with ThreadPoolExecutor(args.jobs) as pool:
        for done in [pool.submit(run, *j) for j in jobs]:
            done.result()
    print()
    print(markdown_table(report["runs"]))
    print(LEGEND)
    for pair, r in report["ratios"].items():
        reach = {
            k: "never" if r[k] is None else f"{r[k]:.0f} s"
            for k in ("recbole_seconds_to_chronorec_best", "chronorec_seconds_to_recbole_best")
        }
        print(
            f"{pair}: s/epoch x{r['seconds_per_epoch']:.2f}, s to best x{r['seconds_to_best']:.2f} "
            f"(CPU s/epoch x{r['cpu_seconds_per_epoch']:.2f}, "
            f"CPU s to best x{r['cpu_seconds_to_best']:.2f}); "
            "RecBole reached chronorec's best validation NDCG@10 in "
            f"{reach['recbole_seconds_to_chronorec_best']}, "
            f"chronorec RecBole's in {reach['chronorec_seconds_to_recbole_best']}"
        )
    for r in report["runs"]:
        if r["side"] == "recbole":
            gap = max(abs(r["test"][m] - r["test_pessimistic"][m]) for m in METRICS)
            print(
                f"{r['name']}: test metrics recomputed with chronorec's rules differ by at most "
                f"{gap:.1e}"
            )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
