#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install, prepare the real MovieLens-100K, train every
# baseline with early stopping, evaluate with full ranking, print the leaderboard.
# Uses a local copy of the data when CHRONOREC_DATA points at one, otherwise downloads it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${CHRONOREC_VENV:-.venv}"
[ -x "$venv/bin/chronorec" ] || {
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q torch==2.13.0   # CPU build; on a GPU machine install the CUDA build instead
  "$venv/bin/pip" install -q -e .
}
models="${MODELS:-pop,markov,gru4rec,sasrec}"
"$venv/bin/chronorec" datasets fetch ml-100k --out data/ml-100k
"$venv/bin/chronorec" benchmark data/ml-100k --models "$models" --max-len 50 --out results/ml-100k.json
