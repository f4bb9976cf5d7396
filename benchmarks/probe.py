r"""Linear probes: how much of a user's demographics
and an item's genres their learned vectors carry.

For each run folder (trained or pre-trained), exports the user and item vectors with
:func:`chronorec.embed.embed` (so the probe reads exactly what ``chronorec embed`` writes), then
fits a logistic regression with 5-fold cross-validation from

- user vectors to MovieLens gender, age bucket (<18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+) and
  occupation (accuracy and macro-F1; the majority class is the floor),
- item vectors to each genre (one binary probe per genre with enough positives; mean ROC-AUC),

and does the same with random Gaussian vectors of the same size (what a probe finds in noise).
scikit-learn is used when installed, else a small full-batch torch logistic regression.

    python benchmarks/probe.py runs/sasrec runs/sasrec-cl \
        --users-file ../shared/data/ml-100k/original/u.user
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from rich.console import Console
from rich.table import Table

from chronorec._io import write_json
from chronorec.benchmark import machine_info
from chronorec.data import schema
from chronorec.embed import embed, load_run, read_embeddings

AGE_EDGES = (18, 25, 35, 45, 50, 56)  # MovieLens-1M's buckets
FOLDS = 5
MIN_GENRE_ITEMS = 20


def age_bucket(age: int) -> int:
    return int(np.searchsorted(AGE_EDGES, age, side="right"))


def read_user_attributes(path: Path) -> dict[str, dict[str, Any]]:
    """``user_id -> {gender, age, occupation}`` from MovieLens ``u.user``
    (id|age|gender|occupation|zip)."""
    out = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        if not line.strip():
            continue
        uid, age, gender, occupation, _ = line.split("|")
        out[uid] = {"gender": gender, "age": age_bucket(int(age)), "occupation": occupation}
    return out


def folds(y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Stratified fold assignment: each class is spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % k
    return [np.flatnonzero(fold == f) for f in range(k)]


def _fit_predict_sklearn(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray
) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    model.fit(X_train, y_train)
    probs = np.zeros((len(X_test), int(y_train.max()) + 1))
    probs[:, model.classes_] = model.predict_proba(X_test)
    return probs


def _fit_predict_torch(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    """Multinomial logistic regression (L2 = sklearn's C=1 over the training set),
    full-batch L-BFGS."""
    mean, std = X_train.mean(0), X_train.std(0) + 1e-8
    xt = torch.from_numpy((X_train - mean) / std).float()
    xs = torch.from_numpy((X_test - mean) / std).float()
    yt = torch.from_numpy(y_train).long()
    classes = int(y_train.max()) + 1
    linear = torch.nn.Linear(xt.shape[1], classes)
    opt = torch.optim.LBFGS(linear.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (
            torch.nn.functional.cross_entropy(linear(xt), yt, reduction="sum")
            + 0.5 * linear.weight.square().sum()
        )
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return torch.softmax(linear(xs), dim=1).numpy()


def fit_predict(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return _fit_predict_torch(X_train, y_train, X_test)
    return _fit_predict_sklearn(X_train, y_train, X_test)


def cross_val_proba(X: np.ndarray, y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Out-of-fold class probabilities ``(N, C)`` for integer labels ``y``."""
    probs = np.zeros((len(y), int(y.max()) + 1))
    for test in folds(y, FOLDS, seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        probs[test] = fit_predict(X[train], y[train], X[test])
    return probs


def macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    scores = []
    for c in np.unique(y):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        scores.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(scores))


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC-AUC by the rank-sum formula (ties get their average rank)."""
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def probe_users(X: np.ndarray, labels: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    out = {}
    for name, y in labels.items():
        probs = cross_val_proba(X, y)
        pred = probs.argmax(1)
        majority = np.bincount(y).max() / len(y)
        out[name] = {
            "accuracy": float((pred == y).mean()),
            "macro_f1": macro_f1(y, pred),
            "majority": float(majority),
        }
        if probs.shape[1] == 2:  # accuracy hides a probe that only learned the majority class
            out[name]["auc"] = roc_auc(y, probs[:, 1])
    return out


def probe_genres(X: np.ndarray, genres: dict[str, np.ndarray]) -> dict[str, float]:
    return {g: roc_auc(y, cross_val_proba(X, y)[:, 1]) for g, y in genres.items()}


def encode_labels(values: list[Any]) -> np.ndarray:
    names = sorted(set(values))
    index = {v: k for k, v in enumerate(names)}
    return np.array([index[v] for v in values], dtype=np.int64)


def probe_run(run_dir: Path, attributes: dict[str, dict[str, Any]], seed: int) -> dict[str, Any]:
    """Probe scores of one run's vectors and of random vectors of the same size."""
    config, _, _ = load_run(run_dir)
    with tempfile.TemporaryDirectory() as tmp:
        embed(run_dir, tmp)
        user_ids, users = read_embeddings(Path(tmp) / "users.parquet")
        item_ids, items = read_embeddings(Path(tmp) / "items.parquet")
    keep = [k for k, u in enumerate(user_ids) if u in attributes]
    users = users[keep]
    attrs = [attributes[user_ids[k]] for k in keep]
    labels = {
        name: encode_labels([a[name] for a in attrs]) for name in ("gender", "age", "occupation")
    }
    frame = pl.read_parquet(Path(config.data) / schema.ITEMS_FILE).sort(schema.ITEM)
    assert (
        frame[schema.ITEM_ID].cast(pl.Utf8).to_list() == item_ids
    )  # items.parquet keeps the dataset's order
    cats = [
        set(str(c or "").split("|")) - {"", "unknown"} for c in frame[schema.CATEGORIES].to_list()
    ]
    genres = {}
    for g in sorted(set().union(*cats)):
        y = np.array([g in c for c in cats], dtype=np.int64)
        if MIN_GENRE_ITEMS <= y.sum() <= len(y) - MIN_GENRE_ITEMS:
            genres[g] = y
    rng = np.random.default_rng(seed)
    result: dict[str, Any] = {
        "dim": int(users.shape[1]),
        "users": len(keep),
        "items": len(item_ids),
    }
    for source, (u, i) in {
        "learned": (users, items),
        "random": (rng.standard_normal(users.shape), rng.standard_normal(items.shape)),
    }.items():
        per_genre = probe_genres(i, genres)
        result[source] = {
            "users": probe_users(u, labels),
            "genres": per_genre,
            "genre_mean_auc": statistics.fmean(per_genre.values()),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "runs", type=Path, nargs="+", help="run folders (chronorec train / pretrain)"
    )
    parser.add_argument("--users-file", type=Path, required=True, help="MovieLens u.user")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/probe.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    attributes = read_user_attributes(args.users_file)
    report: dict[str, Any] = {"machine": machine_info(), "folds": FOLDS, "runs": {}}
    for run in args.runs:
        report["runs"][str(run)] = probe_run(run, attributes, args.seed)
        write_json(args.out, report)

    table = Table(
        title=f"linear probes ({FOLDS}-fold CV): learned vectors vs random vectors of the same size"
    )
    for col in (
        "run",
        "vectors",
        "gender AUC",
        "age acc",
        "age F1",
        "occupation acc",
        "occupation F1",
        "genre AUC",
    ):
        table.add_column(col, justify="left" if col in ("run", "vectors") else "right")
    for run, r in report["runs"].items():
        for source in ("learned", "random"):
            u = r[source]["users"]
            table.add_row(
                Path(run).name,
                f"{source} ({r['dim']}d)",
                f"{u['gender']['auc']:.3f}",
                f"{u['age']['accuracy']:.3f}",
                f"{u['age']['macro_f1']:.3f}",
                f"{u['occupation']['accuracy']:.3f}",
                f"{u['occupation']['macro_f1']:.3f}",
                f"{r[source]['genre_mean_auc']:.3f}",
            )
        u = r["learned"]["users"]
        table.add_row(
            Path(run).name,
            "majority class",
            "0.500",
            f"{u['age']['majority']:.3f}",
            "-",
            f"{u['occupation']['majority']:.3f}",
            "-",
            "0.500",
        )
    Console(width=max(120, Console().width)).print(table)
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
