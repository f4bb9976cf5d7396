"""scripts/main.sh: the schedules it runs, the folders it writes, and a log a person can read."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_readme import readme_block, run_main_job

FAST = "--lr 2e-3 --lr-schedule cosine --warmup-epochs 2 --epochs 45"
FULL = "--lr 1e-3 --lr-schedule constant --epochs 200 --patience 20"


def recorded_calls(tmp_path: Path, *args: str, **env: str) -> tuple[int, list[str]]:
    """Run main.sh with a stand-in `chronorec` that only records its arguments."""
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "chronorec").write_text('#!/usr/bin/env bash\necho "$*" >> "$CALLS"\n')
    (venv_bin / "chronorec").chmod(0o755)
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "main.sh", tmp_path / "scripts" / "main.sh")
    calls = tmp_path / "calls.txt"
    environment = {
        **os.environ,
        "CHRONOREC_VENV": str(tmp_path / "venv"),
        "CALLS": str(calls),
        **env,
    }
    proc = subprocess.run(
        ["bash", "scripts/main.sh", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
    )
    return proc.returncode, calls.read_text().splitlines() if calls.exists() else []


def test_the_fast_schedule_by_default_and_the_full_one_a_flag_away(tmp_path):
    code, calls = recorded_calls(tmp_path / "fast")
    assert code == 0
    assert calls[0] == "datasets fetch ml-100k --out data/ml-100k"
    assert calls[1] == (
        f"benchmark data/ml-100k --models pop,markov,gru4rec,sasrec --max-len 50 "
        f"{FAST} --out results/ml-100k.json"
    )
    code, calls = recorded_calls(tmp_path / "full", "--full")
    assert code == 0 and f"--max-len 50 {FULL} --out" in calls[1]
    code, calls = recorded_calls(tmp_path / "env", MODELS="pop,sasrec", EPOCHS="3")
    assert code == 0 and "--models pop,sasrec" in calls[1] and "--epochs 3 --out" in calls[1]
    code, calls = recorded_calls(tmp_path / "typo", "--fulll")
    assert code == 2 and calls == []


def test_the_readme_documents_the_schedule_the_script_runs():
    setup = readme_block("## Set-up on a fresh machine", "bash")
    assert "bash scripts/main.sh" in setup and "bash scripts/main.sh --full" in setup
    tour = " ".join(readme_block("## A quick tour", "bash").split())
    assert "--lr 2e-3 --lr-schedule cosine --warmup-epochs 2" in tour and "--epochs 45" in tour


@pytest.mark.slow
def test_the_main_job_writes_the_documented_folders_and_a_readable_log(tmp_path, real_data_root):
    proc = run_main_job(tmp_path, real_data_root, MODELS="pop,sasrec", EPOCHS="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "data/ml-100k/manifest.json").is_file()
    assert (tmp_path / "results/ml-100k.json").is_file()
    for model in ("pop", "sasrec"):
        assert (tmp_path / f"results/ml-100k-runs/{model}-seed0/metrics.json").is_file()
    # A log, not a terminal: whole lines, the model named, every epoch numbered.
    assert "…" not in proc.stdout and "…" not in proc.stderr
    assert "training sasrec on ml-100k" in proc.stderr.splitlines()
    assert any(line.startswith("epoch 1/1  loss ") for line in proc.stderr.splitlines())
    header = next(line for line in proc.stdout.splitlines() if "valid HR@10" in line)
    assert "test MRR@10" in header and "params" in header
    assert "sasrec" in proc.stdout and "wrote results/ml-100k.json" in proc.stdout
