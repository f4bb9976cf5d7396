"""Paired comparisons: per-case metrics, the bootstrap interval, and `compare` on trained runs."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

import chronorec
from chronorec import api
from chronorec.errors import ChronorecError
from chronorec.evaluation.metrics import metrics_from_ranks, parse_metric, per_case_metric
from chronorec.evaluation.paired import paired_bootstrap
from chronorec.runs.checkpoint import WEIGHTS_FILE
from chronorec.runs.ranks import RANKS_FILE
from tests.conftest import synthetic_sequences, write_prepared


def test_per_case_metric_by_hand():
    ranks = torch.tensor([0, 1, 4, 10])
    assert per_case_metric(ranks, "NDCG", 10).tolist() == [
        1.0,
        1 / math.log2(3),
        1 / math.log2(6),
        0.0,
    ]
    assert per_case_metric(ranks, "MRR", 5).tolist() == [1.0, 0.5, 0.2, 0.0]
    assert per_case_metric(ranks, "HR", 2).tolist() == [1.0, 1.0, 0.0, 0.0]
    assert metrics_from_ranks(ranks, (10,))["NDCG@10"] == pytest.approx(
        per_case_metric(ranks, "NDCG", 10).mean().item()
    )


@pytest.mark.parametrize("name", ["NDCG", "NDCG@0", "AUC@10", "NDCG@x"])
def test_parse_metric_rejects_unknown(name):
    with pytest.raises(ChronorecError, match="unknown metric"):
        parse_metric(name)


def test_identical_models_differ_by_exactly_zero():
    values = torch.rand(500, generator=torch.Generator().manual_seed(0))
    result = paired_bootstrap(values, values.clone())
    assert (result.difference, result.ci_low, result.ci_high) == (0.0, 0.0, 0.0)
    assert not result.significant and result.better == result.worse == 0


def test_interval_is_paired_and_covers_the_true_shift():
    g = torch.Generator().manual_seed(1)
    baseline = torch.rand(1000, generator=g)  # users differ a lot ...
    candidate = (
        baseline + 0.01 + 0.02 * (torch.rand(1000, generator=g) - 0.5)
    )  # ... the models little
    result = paired_bootstrap(baseline, candidate, resamples=1000, seed=3)
    assert result.significant and result.ci_low < 0.01 < result.ci_high
    assert (
        result.ci_high - result.ci_low < 0.002
    )  # unpaired, the spread between users alone gives ~.05
    assert result.relative == pytest.approx(result.difference / baseline.double().mean().item())
    assert (
        paired_bootstrap(baseline, candidate, resamples=1000, seed=3) == result
    )  # seeded: reproducible
    swapped = paired_bootstrap(candidate, baseline, resamples=1000, seed=3)
    assert (
        swapped.difference == pytest.approx(-result.difference) and swapped.better == result.worse
    )


def test_bootstrap_rejects_mismatched_cases():
    with pytest.raises(ChronorecError, match="equal-length"):
        paired_bootstrap(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ChronorecError, match="resamples"):
        paired_bootstrap(torch.zeros(3), torch.zeros(3), resamples=0)


def test_compare_trained_runs(tmp_path):
    data = write_prepared(tmp_path / "ring", synthetic_sequences())
    runs = {m: tmp_path / m for m in ("pop", "markov")}
    for model, out in runs.items():
        chronorec.train(data, out=out, model=model, progress=False)
    rows = chronorec.compare([runs["pop"], [runs["markov"], runs["markov"]]], "test")
    pop, markov = rows
    assert pop.paired is None and markov.model == "markov" and len(markov.run_dirs) == 2
    assert pop.mean == pytest.approx(chronorec.evaluate(runs["pop"], "test").metrics["NDCG@10"])
    assert markov.mean == pytest.approx(
        chronorec.evaluate(runs["markov"], "test").metrics["NDCG@10"]
    )
    assert (
        markov.paired.significant and markov.paired.difference > 0
    )  # the ring is a first-order chain

    other = write_prepared(tmp_path / "other", synthetic_sequences(seed=5))
    chronorec.train(other, out=tmp_path / "elsewhere", model="pop", progress=False)
    with pytest.raises(ChronorecError, match="data is"):
        chronorec.compare([runs["pop"], tmp_path / "elsewhere"])
    with pytest.raises(ChronorecError, match="at least two"):
        chronorec.compare([runs["pop"]])


def test_compare_uses_ranks_stored_by_training_until_data_or_weights_change(tmp_path, monkeypatch):
    data = write_prepared(tmp_path / "ring", synthetic_sequences())
    runs = [tmp_path / m for m in ("pop", "markov")]
    for run in runs:
        chronorec.train(data, out=run, model=run.name, progress=False)
        assert (run / RANKS_FILE).is_file()
    expected = [row.mean for row in chronorec.compare(runs, "valid")]
    calls = []
    real = api.evaluate_cases
    monkeypatch.setattr(api, "evaluate_cases", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    assert [row.mean for row in chronorec.compare(runs, "valid")] == expected and calls == []
    # Other weights: the stored ranks no longer describe the model, so that run is evaluated again.
    weights = runs[0] / WEIGHTS_FILE
    save_file(
        {name: tensor.flip(0).contiguous() for name, tensor in load_file(weights).items()}, weights
    )
    rows = chronorec.compare(runs, "valid")
    assert len(calls) == 1 and rows[0].mean == pytest.approx(
        chronorec.evaluate(runs[0], "valid").metrics["NDCG@10"]
    )
    assert rows[0].mean != expected[0]
    calls.clear()
    chronorec.train(
        data, out=runs[1], model="pop", progress=False
    )  # retrained: stores its own ranks
    chronorec.train(data, out=runs[0], model="pop", progress=False)
    rows = chronorec.compare(runs, "valid")
    assert calls == [] and rows[1].paired.difference == 0.0
    # Other data under the same path: every run is evaluated again, with the new data's cases.
    write_prepared(data, synthetic_sequences(seed=3))
    rows = chronorec.compare(runs, "valid")
    assert len(calls) == 2 and rows[0].mean == pytest.approx(
        chronorec.evaluate(runs[0], "valid").metrics["NDCG@10"]
    )
