"""Explanations of trained runs: which time scales a ``multiscale`` model leans on, and what the
interests of an ``interests`` model are made of. Each function returns a dataclass, writes a PNG,
and has a ``format_*`` companion that renders it as a rich Table for the command line.

Example:
    >>> from chronorec.explain import explain_user, format_scale_explanation  # doctest: +SKIP
    >>> expl = explain_user("runs/multiscale", "196")  # doctest: +SKIP
    >>> expl.weights, expl.png  # doctest: +SKIP
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt  # noqa: E402
import torch
from rich.table import Table

from chronorec.api import Recommendation
from chronorec.data.batches import SeqBatch, eval_batch, user_batch
from chronorec.data.dataset import SequenceData
from chronorec.data.split import make_split
from chronorec.errors import ChronorecError
from chronorec.models.base import Recommender
from chronorec.models.interests import Interests
from chronorec.models.multiscale import MultiScale
from chronorec.runs.load import Run, load_run
from chronorec.scoring import mask_padding_and_seen
from chronorec.training.plots import save_figure  # first: it selects the headless backend

AVERAGE_BATCH = 256  # test-case histories scored at once for the all-users average


@dataclass(frozen=True)
class ScaleExplanation:
    """How a ``multiscale`` model splits its attention between time scales for one user."""

    user: str
    scale_names: tuple[str, ...]
    weights: tuple[
        float, ...
    ]  # this user's gate weights after the whole history (0 for an empty scale)
    average_weights: tuple[float, ...]  # mean gate weights over every test-case history
    top_items: dict[
        str, list[Recommendation]
    ]  # per scale, what it alone ranks highest ([] if empty)
    png: Path


@dataclass(frozen=True)
class InterestSummary:
    index: int
    name: str  # "interest N" for a pooled interest, "recent" for the state at the latest event
    top_items: list[Recommendation]  # the items this interest scores highest
    drawn_from: list[
        Recommendation
    ]  # history events it draws most from; ``score`` is the attention weight
    share_of_top: (
        float  # share of the user's overall top-k list that this interest ranks (its max wins)
    )


@dataclass(frozen=True)
class InterestReport:
    """The K interests of one user after their whole (visible) history."""

    user: str
    interests: list[InterestSummary]
    history: list[
        str
    ]  # original item ids of the events the model reads among the last ``max_len``, oldest first
    weights_over_time: list[
        list[float]
    ]  # (len(history), K): each interest's attention over the events
    png: Path


def _load(run_dir: str | Path | Run, cls: type[Recommender], command: str) -> Run:
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir)
    _model_of(run, cls, command)
    return run


def _model_of(run: Run, cls: type[Recommender], command: str) -> Any:
    """The run's model when it is a ``cls``; a one-line error naming the command otherwise."""
    if not isinstance(run.model, cls):
        raise ChronorecError(
            f"{run.path}: `{command}` needs a '{cls.name}' run; "
            f"this run's model is '{run.model.name}'"
        )
    return run.model


def _user_batch(run: Run, user_id: str) -> SeqBatch:
    """The user's whole recorded history, as :func:`chronorec.recommend` starts from it."""
    u = run.data.user_index(user_id)
    if u is None:
        raise ChronorecError(f"unknown user '{user_id}' in dataset {run.data.path}")
    return user_batch(run.data, [u], run.config.max_len)


def _items(data: SequenceData, ids: list[int], scores: list[float]) -> list[Recommendation]:
    return [
        Recommendation(str(data.item_ids[i]), float(s), data.title(i)) for i, s in zip(ids, scores)
    ]


def _top(data: SequenceData, scores: torch.Tensor, k: int) -> list[Recommendation]:
    """Top-``k`` of one score row ``(I + 1,)``, padding excluded."""
    scores = mask_padding_and_seen(scores[None].clone(), None)[0]
    top = scores.topk(min(k, data.num_items))
    return _items(data, top.indices.tolist(), top.values.tolist())


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


@dataclass(frozen=True)
class ScaleView:
    """A ``multiscale`` model's time scales after one history."""

    scale_names: tuple[str, ...]
    weights: tuple[float, ...]  # gate weights at the moment of prediction (0 for an empty scale)
    top_items: dict[
        str, list[Recommendation]
    ]  # per scale, what it alone ranks highest ([] if empty)


@torch.inference_mode()
def scale_view(run: Run, history: SeqBatch, k: int = 5) -> ScaleView:
    """Gate weights and per-scale top-``k`` items
    of a ``multiscale`` run after ``history`` (a batch of one)."""
    model, data = _model_of(run, MultiScale, "explain"), run.data
    batch = model.readable(history)
    weights = model.scale_weights(batch)[0]  # (S,)
    by_scale = model.score_by_scale(batch)[0]  # (S, I + 1)
    nonempty = model.scale_states(batch)[2][0, -1]  # (S,)
    top_items = {
        name: _top(data, by_scale[s], k) if nonempty[s] else []
        for s, name in enumerate(model.scale_names)
    }
    return ScaleView(model.scale_names, tuple(weights.tolist()), top_items)


@torch.inference_mode()
def average_scale_weights(run: Run) -> tuple[tuple[float, ...], int]:
    """Mean gate weights over every test-case history of a ``multiscale`` run,
    and how many there are."""
    model, data, config = _model_of(run, MultiScale, "explain"), run.data, run.config
    cases = model.readable(eval_batch(data, make_split(data, config.split).test, config.max_len)[0])
    total = torch.zeros(len(model.scale_names))
    for lo in range(0, len(cases.items), AVERAGE_BATCH):
        total += model.scale_weights(cases[lo : lo + AVERAGE_BATCH]).sum(0)
    return tuple((total / max(len(cases.items), 1)).tolist()), len(cases.items)


def explain_user(
    run_dir: str | Path | Run, user_id: str, png: str | Path | None = None, k: int = 5
) -> ScaleExplanation:
    """Gate weights and per-scale top-``k`` items of a ``multiscale`` run
    for ``user_id`` (original id).

    Also writes a bar chart of the average gate weight per scale over all test-case histories, with
    this user's weights beside it, to ``png`` (default: ``<run_dir>/scale_weights.png``).
    """
    run = _load(run_dir, MultiScale, "explain")
    view = scale_view(run, _user_batch(run, str(user_id)), k)
    average, cases = average_scale_weights(run)
    path = Path(png) if png is not None else run.path / "scale_weights.png"
    _plot_scale_weights(
        view.scale_names, list(average), list(view.weights), str(user_id), cases, path
    )
    return ScaleExplanation(
        str(user_id), view.scale_names, view.weights, average, view.top_items, path
    )


def _plot_scale_weights(
    names: tuple[str, ...],
    average: list[float],
    user: list[float],
    user_id: str,
    cases: int,
    path: Path,
) -> None:
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 3, 3.5))
    xs = range(len(names))
    for shift, values, color, label in (
        (-0.2, average, "tab:blue", f"mean over {cases} users"),
        (0.2, user, "tab:orange", f"user {user_id}"),
    ):
        bars = ax.bar([x + shift for x in xs], values, width=0.4, color=color, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize="small")
    ax.set_xticks(list(xs), names)
    ax.set_ylim(0, 1.1)  # room for the value labels
    ax.set_ylabel("gate weight")
    ax.set_title("weight of each time scale at the moment of prediction")
    ax.legend()
    save_figure(fig, path)


@dataclass(frozen=True)
class InterestView:
    """An ``interests`` model's interests after one history."""

    interests: list[InterestSummary]
    history: list[int]  # internal ids of the events the model reads, oldest first
    weights_over_time: list[
        list[float]
    ]  # (len(history), K): each pooled interest's attention over the events


@torch.inference_mode()
def interest_view(run: Run, history: SeqBatch, k: int = 5) -> InterestView:
    """Each interest of an ``interests`` run after ``history`` (a batch of one): its top-``k``
    items, the events it draws on, and its share of the overall top-``k``."""
    model, data = _model_of(run, Interests, "interests"), run.data
    ranker = run.ranker()
    batch = ranker.read(history)
    vectors = ranker.queries(batch)[0]  # (K, D)
    weights = model.interest_weights_over_time(batch)[0]  # (T, K)
    per_interest = ranker.scores_for(
        vectors, batch.items.expand(len(vectors), -1)
    )  # (K, I + 1): each alone
    winners = per_interest[:, _top_ids(ranker.scores(batch)[0], k)].argmax(
        0
    )  # which interest ranks each top item
    valid = batch.items[0] != 0
    events, weights = batch.items[0][valid], weights[valid]  # (n,), (n, K)
    summaries = []
    for j in range(per_interest.shape[0]):
        if j < weights.shape[1]:
            name, strongest = f"interest {j + 1}", weights[:, j].topk(min(3, len(events)))
            drawn_from = _items(data, events[strongest.indices].tolist(), strongest.values.tolist())
        else:  # the recent interest is the trunk state at the latest event, not a pooling of events
            name, drawn_from = "recent", _items(data, events[-1:].tolist(), [1.0])
        share = float((winners == j).float().mean()) if len(winners) else 0.0
        summaries.append(
            InterestSummary(j + 1, name, _top(data, per_interest[j], k), drawn_from, share)
        )
    return InterestView(summaries, events.tolist(), weights.tolist())


def interest_report(
    run_dir: str | Path | Run, user_id: str, k: int = 5, png: str | Path | None = None
) -> InterestReport:
    """Each interest of an ``interests`` run for ``user_id``:
    its top-``k`` items and the events it draws on.

    Also writes a timeline of each interest's attention over the user's visible history to ``png``
    (default: ``<run_dir>/interests_<user>.png``).
    """
    run = _load(run_dir, Interests, "interests")
    view = interest_view(run, _user_batch(run, str(user_id)), k)
    path = Path(png) if png is not None else run.path / f"interests_{_safe(str(user_id))}.png"
    pooled = view.interests[: len(view.weights_over_time[0]) if view.weights_over_time else 0]
    labels = [f"{s.name}: {s.top_items[0].title or s.top_items[0].item_id}" for s in pooled]
    _plot_interest_timeline(view.weights_over_time, labels, str(user_id), path)
    item_ids = [str(run.data.item_ids[i]) for i in view.history]
    return InterestReport(str(user_id), view.interests, item_ids, view.weights_over_time, path)


def _top_ids(scores: torch.Tensor, k: int) -> torch.Tensor:
    scores = mask_padding_and_seen(scores[None].clone(), None)[0]
    return scores.topk(min(k, scores.numel() - 1)).indices


def _plot_interest_timeline(
    weights: list[list[float]], labels: list[str], user_id: str, path: Path
) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    steps = range(1, len(weights) + 1)
    for j, label in enumerate(labels):
        ax.plot(steps, [row[j] for row in weights], marker=".", label=label)
    ax.set_xlabel("event in the history (oldest first)")
    ax.set_ylabel("attention weight")
    ax.set_title(f"user {user_id}: what each interest is drawn from")
    ax.legend(fontsize="small", loc="upper left")
    save_figure(fig, path)


def _names(items: list[Recommendation]) -> str:
    return ", ".join(r.title or r.item_id for r in items) or "-"


def format_scale_explanation(expl: ScaleExplanation) -> Table:
    """Rich table: one row per scale with the user's weight,
    the all-users mean and the scale's top items."""
    table = Table(title=f"time scales for user {expl.user}")
    for col, justify in (
        ("scale", "left"),
        ("weight", "right"),
        ("mean weight", "right"),
        ("top items", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, w, a in zip(expl.scale_names, expl.weights, expl.average_weights):
        top = _names(expl.top_items[name]) if expl.top_items[name] else "(empty)"
        table.add_row(name, f"{w:.3f}", f"{a:.3f}", top)
    return table


def format_interest_report(report: InterestReport) -> Table:
    """Rich table: one row per interest with its share of the top list,
    strongest items and source events."""
    table = Table(title=f"interests of user {report.user} ({len(report.history)} events)")
    for col, justify in (
        ("interest", "right"),
        ("share of top", "right"),
        ("strongest items", "left"),
        ("drawn from", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for s in report.interests:
        table.add_row(s.name, f"{s.share_of_top:.0%}", _names(s.top_items), _names(s.drawn_from))
    return table


__all__ = [
    "InterestReport",
    "InterestSummary",
    "ScaleExplanation",
    "explain_user",
    "format_interest_report",
    "format_scale_explanation",
    "interest_report",
]
