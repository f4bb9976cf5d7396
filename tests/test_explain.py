"""Explanations of trained ``multiscale`` and ``interests`` runs: content, PNGs,
tables and clear errors."""

from pathlib import Path

import pytest
from rich.console import Console

from chronorec.data.dataset import load_dataset
from chronorec.errors import ChronorecError
from chronorec.explain import (
    explain_user,
    format_interest_report,
    format_scale_explanation,
    interest_report,
)
from chronorec.models import MODELS
from chronorec.models.interests import Interests
from chronorec.models.multiscale import MultiScale
from chronorec.runs.training import train_run
from chronorec.training.config import TrainConfig
from tests.conftest import synthetic_sequences, write_prepared

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One tiny trained run per model on the ring data
    (a few epochs: content, not quality, is tested)."""
    root = tmp_path_factory.mktemp("explain")
    data = load_dataset(write_prepared(root / "ring", synthetic_sequences(num_users=30)))
    common = dict(
        data=str(data.path), max_len=10, batch_size=16, epochs=3, lr=5e-3, threads=1, device="cpu"
    )
    small = {"dim": 16, "layers": 1, "heads": 1}
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(MODELS, "multiscale", MultiScale)
        mp.setitem(MODELS, "interests", Interests)
        for name, extra in (("multiscale", {}), ("interests", {"num_interests": 3})):
            config = TrainConfig(model=name, model_params={**small, **extra}, **common)
            train_run(config, root / name, show_progress=False)
        yield {"multiscale": root / "multiscale", "interests": root / "interests"}


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    monkeypatch.setitem(MODELS, "multiscale", MultiScale)
    monkeypatch.setitem(MODELS, "interests", Interests)


def _render(table) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def test_explain_user_weights_top_items_and_average_chart(runs):
    expl = explain_user(runs["multiscale"], "u3", k=4)
    assert expl.user == "u3" and expl.scale_names == ("session", "day", "week", "all")
    assert sum(expl.weights) == pytest.approx(1.0, abs=1e-5)
    assert sum(expl.average_weights) == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= w <= 1.0 for w in expl.weights + expl.average_weights)
    for name, w in zip(expl.scale_names, expl.weights):
        items = expl.top_items[name]
        assert len(items) == (4 if w > 0 else 0)  # an empty scale has no weight and no items
        assert all(r.title == f"title {r.item_id}" for r in items)
        assert [r.score for r in items] == sorted((r.score for r in items), reverse=True)
    assert expl.png == runs[
        "multiscale"
    ] / "scale_weights.png" and expl.png.read_bytes().startswith(PNG_MAGIC)
    text = _render(format_scale_explanation(expl))
    assert all(name in text for name in expl.scale_names) and "title i" in text


def test_explain_user_png_elsewhere(runs, tmp_path):
    expl = explain_user(runs["multiscale"], "u0", png=tmp_path / "w.png")
    assert expl.png == tmp_path / "w.png" and expl.png.read_bytes().startswith(PNG_MAGIC)


def test_interest_report_items_timeline_and_chart(runs):
    report = interest_report(runs["interests"], "u5", k=3)
    user_events = len(synthetic_sequences(num_users=30)["u5"])
    assert len(report.history) == min(
        user_events, 10
    )  # the visible history: the last max_len events
    # Three pooled interests, then the recent one (the state at the latest event).
    assert [(s.index, s.name) for s in report.interests] == [
        (1, "interest 1"),
        (2, "interest 2"),
        (3, "interest 3"),
        (4, "recent"),
    ]
    assert len(report.weights_over_time) == len(report.history)
    assert [r.item_id for r in report.interests[-1].drawn_from] == report.history[-1:]
    for summary in report.interests:
        assert len(summary.top_items) == 3
        assert all(r.title and r.title.startswith("title i") for r in summary.top_items)
        assert 1 <= len(summary.drawn_from) <= 3 and all(
            r.item_id in report.history for r in summary.drawn_from
        )
    for j in range(3):
        assert sum(row[j] for row in report.weights_over_time) == pytest.approx(1.0, abs=1e-5)
    assert sum(s.share_of_top for s in report.interests) == pytest.approx(1.0)
    assert report.png == runs[
        "interests"
    ] / "interests_u5.png" and report.png.read_bytes().startswith(PNG_MAGIC)
    text = _render(format_interest_report(report))
    assert "interests of user u5" in text and "title i" in text


def test_wrong_kind_of_run_and_unknown_user_are_clear_errors(runs, tmp_path):
    with pytest.raises(ChronorecError, match="'multiscale' run; this run's model is 'interests'"):
        explain_user(runs["interests"], "u0")
    with pytest.raises(ChronorecError, match="'interests' run; this run's model is 'multiscale'"):
        interest_report(runs["multiscale"], "u0")
    with pytest.raises(ChronorecError, match="unknown user 'nobody'"):
        explain_user(runs["multiscale"], "nobody")
    with pytest.raises(ChronorecError, match="unknown user 'nobody'"):
        interest_report(runs["interests"], "nobody")
    with pytest.raises(ChronorecError, match="not a run folder"):
        explain_user(tmp_path, "u0")
