"""The tuner: a tiny study on real data writes a config that `chronorec train` loads; the test
split is never read; pruning reports each validated epoch; resuming counts finished trials."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import chronorec
from chronorec.data.dataset import load_dataset
from chronorec.training.config import TrainConfig

optuna = pytest.importorskip("optuna")
tune_module = pytest.importorskip("chronorec.tune")


class Poisoned:
    """Stands for the test cases: any use of it fails the test."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the tuner read the test split ({name})")

    def __len__(self) -> int:
        raise AssertionError("the tuner read the test split (len)")


@pytest.fixture(scope="module")
def beauty_sample(real_data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 400 users of the S3Rec Beauty sequences, prepared."""
    root = tmp_path_factory.mktemp("tune-data")
    source = real_data_root / "amazon-beauty" / "s3rec" / "Beauty.txt"
    lines = source.read_text().splitlines()[:400]
    sample = root / "beauty-400.txt"
    sample.write_text("\n".join(lines) + "\n")
    return chronorec.prepare(sample, out=root / "data", format="sequences").out


def test_tiny_study_writes_a_loadable_config_without_reading_test(
    beauty_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_split = tune_module.make_split

    def split_without_test(data, name):
        return dataclasses.replace(real_split(data, name), test=Poisoned())

    monkeypatch.setattr(tune_module, "make_split", split_without_test)
    base = TrainConfig(data=str(beauty_sample), epochs=2, patience=2, threads=1, exclude_seen=True)
    out = tmp_path / "study"
    result = tune_module.tune(base, out, trials=2, show_progress=False, fixed=frozenset({"dim"}))
    assert result.trials == 2 and 0.0 <= result.best_value <= 1.0
    assert (out / "study.sqlite3").is_file() and (out / "search.png").stat().st_size > 1000
    loaded = TrainConfig.load(out / "best.toml")
    assert loaded == result.best_config and loaded.exclude_seen and "dim" not in loaded.model_params
    # Resuming the same study with the same number of trials runs nothing new.
    again = tune_module.tune(base, out, trials=2, show_progress=False, fixed=frozenset({"dim"}))
    assert again.trials == 2 and again.best_value == result.best_value
    # The best config trains as is, on other data too (the positional data replaces the file's).
    run = chronorec.train(
        beauty_sample, out=tmp_path / "run", config=loaded.with_overrides(epochs=1), progress=False
    )
    assert run.test["NDCG@10"] >= 0.0


def test_pruned_trial_stops_training(beauty_sample: Path) -> None:
    data = load_dataset(beauty_sample)
    split = tune_module.make_split(data, "loo")
    study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(upper=-1.0)
    )
    trial = study.ask()
    config = TrainConfig(data=str(beauty_sample), epochs=5, threads=1, model_params={"dim": 16})
    with pytest.raises(optuna.TrialPruned):
        tune_module.validation_score(config, data, split, [tune_module.ReportToTrial(trial)])
    assert list(study.trials[0].intermediate_values) == [1]  # pruned after the first epoch


def test_suggested_configs_are_valid_for_every_model() -> None:
    for model in ("sasrec", "chrono", "multiscale", "interests", "lstm-attn", "gru4rec"):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
        for _ in range(3):
            config = tune_module.suggest_config(study.ask(), TrainConfig(data="d", model=model))
            assert config.validate() is config


PRESETS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_presets_train_on_other_data(preset: Path, beauty_sample: Path, tmp_path: Path) -> None:
    config = TrainConfig.load(preset)
    assert config.exclude_seen and config.patience == 50
    run = chronorec.train(
        beauty_sample, out=tmp_path / "run", config=config.with_overrides(epochs=1), progress=False
    )
    assert TrainConfig.load(tmp_path / "run" / "config.toml").data == str(beauty_sample.resolve())
    assert run.epochs == 1


def test_tune_command_writes_the_study_folder(beauty_sample: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from chronorec.cli import app

    out = tmp_path / "cli-study"
    args = ["tune", str(beauty_sample), "--model", "sasrec", "--trials", "1", "--epochs", "1"]
    args += ["--set", "dim=16", "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "best validation NDCG@10" in result.output
    assert TrainConfig.load(out / "best.toml").model_params["dim"] == 16
