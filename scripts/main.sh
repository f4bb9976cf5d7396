#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install, prepare the real MovieLens-100K, train the
# baselines with early stopping, evaluate with full ranking, print the leaderboard.
#
#   bash scripts/main.sh          fast schedule: lr 2e-3, 2 warm-up epochs, cosine decay over 45
#                                 epochs (see README for the time it takes)
#   bash scripts/main.sh --full   full-accuracy schedule: lr 1e-3, up to 200 epochs, stop after 20
#                                 without a better validation NDCG@10 (several times longer)
#
# Writes, under the repository: data/ml-100k (the prepared dataset), results/ml-100k.json (the
# leaderboard) and results/ml-100k-runs/MODEL-seed0 (one run folder per model).
# Environment: CHRONOREC_DATA (a folder of local dataset copies; without it MovieLens-100K is
# downloaded), MODELS (comma-separated, default pop,markov,gru4rec,sasrec), EPOCHS (length of the
# fast schedule, default 45), CHRONOREC_VENV (the virtualenv, created if missing; default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  "") schedule=(--lr 2e-3 --lr-schedule cosine --warmup-epochs 2 --epochs "${EPOCHS:-45}") ;;
  --full) schedule=(--lr 1e-3 --lr-schedule constant --epochs 200 --patience 20) ;;
  *) echo "usage: bash scripts/main.sh [--full]" >&2; exit 2 ;;
esac

venv="${CHRONOREC_VENV:-.venv}"
[ -x "$venv/bin/chronorec" ] || {
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q torch==2.13.0   # CPU build; on a GPU machine install the CUDA build instead
  "$venv/bin/pip" install -q -e ".[serve]"    # serve: the README's tour ends with `chronorec serve`
}
models="${MODELS:-pop,markov,gru4rec,sasrec}"
"$venv/bin/chronorec" datasets fetch ml-100k --out data/ml-100k
"$venv/bin/chronorec" benchmark data/ml-100k --models "$models" --max-len 50 "${schedule[@]}" \
  --out results/ml-100k.json
