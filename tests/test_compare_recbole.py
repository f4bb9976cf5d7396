"""The RecBole comparison's data conversion and checks (no RecBole needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmarks.compare_recbole import (
    loo_expectations,
    metrics_from_ranks,
    parse_epoch_seconds,
    ratios,
    seconds_to_reach,
    split_mismatches,
    write_recbole_dataset,
)
from chronorec.data.dataset import load_dataset
from chronorec.evaluation import metrics as chronorec_metrics
from tests.conftest import write_prepared

# Equal timestamps everywhere: only the source order (chronorec's tie-break) fixes the sequence.
SEQUENCES = {
    "a": [("x", 5), ("y", 5), ("z", 5), ("x", 5), ("w", 7)],
    "b": [("z", 1), ("y", 1)],
    "c": [("w", 3)],
    "d": [("y", 2), ("x", 2), ("w", 2)],
}


def _dataset(tmp_path: Path):
    return load_dataset(write_prepared(tmp_path / "ties", SEQUENCES))


def test_converted_timestamps_fix_chronorec_order(tmp_path: Path) -> None:
    data = _dataset(tmp_path)
    folder = write_recbole_dataset(data, tmp_path / "recbole", "cr-ties")
    header, *rows = (folder / "cr-ties.inter").read_text().splitlines()
    assert header == "user_id:token\titem_id:token\ttimestamp:float"
    table = np.array([[float(v) for v in row.split("\t")] for row in rows])
    # RecBole sorts by timestamp within a user:
    # the converted one must reproduce chronorec's sequence.
    for u in range(1, data.num_users + 1):
        mine = table[table[:, 0] == u]
        assert np.all(np.diff(mine[:, 2]) > 0)
        order = np.argsort(mine[:, 2], kind="stable")
        assert (
            mine[order, 1].astype(int).tolist()
            == data.items[data.offsets[u] : data.offsets[u + 1]].tolist()
        )
    items = (folder / "cr-ties.item").read_text().split()
    assert items == ["item_id:token", *(str(i) for i in range(1, data.num_items + 1))]


def test_loo_expectations_follow_chronorec_split(tmp_path: Path) -> None:
    data = _dataset(tmp_path)
    expected = loo_expectations(data, max_len=3)
    for u, uid in enumerate(data.user_ids[1:], 1):
        seq = data.items[data.offsets[u] : data.offsets[u + 1]].tolist()
        assert expected["test"][u] == (seq[-1] if len(seq) >= 2 else 0), uid
        assert expected["valid"][u] == (seq[-2] if len(seq) >= 3 else 0), uid
        history = expected["test_history"][u]
        assert history[history != 0].tolist() == (seq[:-1][-3:] if len(seq) >= 2 else [])


def test_split_mismatches_reports_every_difference(tmp_path: Path) -> None:
    expected = loo_expectations(_dataset(tmp_path), max_len=3)

    def as_found(exp: dict[str, np.ndarray]) -> dict[str, dict]:
        found = {
            part: {u: int(i) for u, i in enumerate(exp[part]) if i} for part in ("valid", "test")
        }
        found["test_history"] = {
            u: row[row != 0].tolist()
            for u, row in enumerate(exp["test_history"])
            if u in found["test"]
        }
        return found

    assert split_mismatches(expected, as_found(expected)) == []
    found = as_found(expected)
    found["test"][2] += 1
    del found["valid"][1]
    found["test_history"][4] = found["test_history"][4][::-1]
    problems = split_mismatches(expected, found)
    assert len(problems) == 3
    assert any("user 2: test target" in p for p in problems) and any(
        "user 1: valid target" in p for p in problems
    )
    assert any("user 4: test history" in p for p in problems)


def test_parse_epoch_seconds_reads_coloured_log_lines() -> None:
    lines = [
        "\x1b[1;32mepoch 0 training\x1b[0m [\x1b[1;34mtime\x1b[0m: 380.59s, "
        "\x1b[1;34mtrain loss\x1b[0m: 4746.5407]",
        "\x1b[1;32mepoch 0 evaluating\x1b[0m [\x1b[1;34mtime\x1b[0m: 1.07s, "
        "\x1b[1;34mvalid_score\x1b[0m: 0.051704]",
        "epoch 1 training [time: 12.00s, train loss: 1.0]",
        "valid result: ndcg@10 : 0.05",
    ]
    assert parse_epoch_seconds(lines) == ([380.59, 12.0], [1.07])


def test_metrics_match_chronorec_definitions() -> None:
    ranks = np.array([0, 3, 9, 10, 500])
    ours = metrics_from_ranks(ranks, 10)
    theirs = chronorec_metrics.metrics_from_ranks(torch.from_numpy(ranks), (10,))
    assert ours == {k: theirs[k] for k in ours}


def test_time_to_the_other_sides_best() -> None:
    curve = [[10.0, 0.02], [20.0, 0.05], [30.0, 0.04], [40.0, 0.06]]
    assert seconds_to_reach(curve, 0.05) == 20.0
    assert seconds_to_reach(curve, 0.045) == 20.0
    assert seconds_to_reach(curve, 0.07) is None

    def run(
        name: str, side: str, per_epoch: float, best_s: float, best: float, curve: list
    ) -> dict:
        return {
            "name": name,
            "side": side,
            "model": "sasrec",
            "seconds_per_epoch": per_epoch,
            "seconds_to_best": best_s,
            "cpu_seconds_per_epoch": per_epoch / 2,
            "cpu_seconds_to_best": best_s / 2,
            "valid": {"NDCG@10": best},
            "valid_curve": curve,
        }

    peer = run(
        "recbole sasrec",
        "recbole",
        100.0,
        4000.0,
        0.06,
        [[100.0, 0.03], [2000.0, 0.05], [4000.0, 0.06]],
    )
    mine = run("chronorec sasrec", "chronorec", 5.0, 100.0, 0.055, [[50.0, 0.04], [100.0, 0.055]])
    pair = ratios([peer, mine])["recbole sasrec / chronorec sasrec"]
    assert pair["seconds_per_epoch"] == 20.0 and pair["seconds_to_best"] == 40.0
    assert pair["cpu_seconds_per_epoch"] == 20.0 and pair["cpu_seconds_to_best"] == 40.0
    assert pair["recbole_seconds_to_chronorec_best"] == 4000.0  # 0.05 < 0.055 at 2000 s
    assert pair["chronorec_seconds_to_recbole_best"] is None
