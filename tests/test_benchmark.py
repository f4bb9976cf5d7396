"""``chronorec.benchmark``: named variants of one model, per-seed results,
and reuse of finished runs."""

import json

import pytest

import chronorec
from chronorec.cli import parse_variant
from chronorec.errors import ChronorecError
from chronorec.training.config import TrainConfig


def test_variants_are_trained_with_their_settings_and_finished_runs_are_reused(
    ring_dataset, tmp_path
):
    out = tmp_path / "board.json"
    common = dict(epochs=2, max_len=10, batch_size=16, threads=1, device="cpu", progress=False)
    variants = {"tiny-sasrec": ("sasrec", {"dim": 8, "layers": 1, "heads": 1})}
    first = chronorec.benchmark(
        ring_dataset.path, ["pop", "tiny-sasrec"], out, seeds=2, variants=variants, **common
    )
    entry = first.report["models"]["tiny-sasrec"]
    assert entry["model"] == "sasrec" and entry["settings"] == variants["tiny-sasrec"][1]
    assert (
        len(entry["per_seed"]) == 2 and entry["per_seed"][0]["test"] != entry["per_seed"][1]["test"]
    )
    run_dir = tmp_path / "board-runs" / "tiny-sasrec-seed0"
    assert json.loads((run_dir / "model.json").read_text())["params"]["dim"] == 8
    stamp = (run_dir / "metrics.json").stat().st_mtime_ns
    again = chronorec.benchmark(
        ring_dataset.path, ["pop", "tiny-sasrec"], out, seeds=2, variants=variants, **common
    )
    assert (run_dir / "metrics.json").stat().st_mtime_ns == stamp  # reused, not retrained
    assert again.report["models"]["tiny-sasrec"]["test"] == entry["test"]
    (
        run_dir / "metrics.json"
    ).unlink()  # as if stopped after its last checkpoint: resumed, not restarted
    resumed = chronorec.benchmark(
        ring_dataset.path, ["tiny-sasrec"], out, seeds=2, variants=variants, **common
    )
    assert resumed.report["models"]["tiny-sasrec"]["per_seed"] == entry["per_seed"]
    assert len(json.loads((run_dir / "history.json").read_text())) == 2
    stamp = (run_dir / "metrics.json").stat().st_mtime_ns
    changed = chronorec.benchmark(
        ring_dataset.path,
        ["tiny-sasrec"],
        out,
        seeds=1,
        variants=variants,
        **{**common, "epochs": 3},
    )
    assert (
        run_dir / "metrics.json"
    ).stat().st_mtime_ns != stamp  # a different configuration retrains
    assert changed.report["models"]["tiny-sasrec"]["epochs"] == 3


def test_variant_syntax():
    assert parse_variant("no-time=chrono time_bias=false size=tiny") == (
        "no-time",
        ("chrono", {"time_bias": False, "size": "tiny"}),
    )
    for bad in ("", "chrono", "=chrono", "label="):
        with pytest.raises(ChronorecError, match="--variant expects"):
            parse_variant(bad)


def test_variant_training_options_apply_to_that_entry_only(ring_dataset, tmp_path):
    common = dict(
        epochs=2, max_len=10, batch_size=16, threads=1, device="cpu", progress=False, lr=1e-3
    )
    variants = {
        "fast": ("sasrec", {"lr": 5e-3, "dim": 8, "heads": 1}),
        "plain": ("sasrec", {"dim": 8, "heads": 1}),
    }
    board = chronorec.benchmark(
        ring_dataset.path, ["fast", "plain"], tmp_path / "b.json", variants=variants, **common
    )
    configs = {
        label: TrainConfig.load(tmp_path / "b-runs" / f"{label}-seed0" / "config.toml")
        for label in variants
    }
    assert configs["fast"].lr == 5e-3 and configs["plain"].lr == 1e-3
    assert configs["fast"].model_params == configs["plain"].model_params == {"dim": 8, "heads": 1}
    assert board.report["models"]["fast"]["settings"] == variants["fast"][1]
    for protocol in ("max_len=20", "split=temporal", "exclude_seen=true"):
        key = protocol.split("=")[0]
        with pytest.raises(
            ChronorecError, match=f"variant bad: {key} must be the same for every model"
        ):
            chronorec.benchmark(
                ring_dataset.path,
                ["bad"],
                tmp_path / "c.json",
                variants=dict([parse_variant(f"bad=sasrec {protocol}")]),
                **common,
            )
