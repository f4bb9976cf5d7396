"""Render a `chronorec benchmark` JSON leaderboard as a Markdown table (mean ± std over seeds).

python benchmarks/to_markdown.py results/ml-100k.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cell(model: dict, split: str, metric: str) -> str:
    mean = model[split][metric]
    std = model.get(f"{split}_std", {}).get(metric, 0.0)
    return f"{mean:.4f}" + (f" ± {std:.4f}" if std else "")


EVENT_METRICS = ("EventType/accuracy", "EventType/macroF1")


def to_markdown(report: dict) -> str:
    metrics = ("HR@10", "NDCG@10", "MRR@10")
    # Models with an event-type head (on data with event types) also report how well it predicts.
    events = [k for k in EVENT_METRICS if any(k in m["test"] for m in report["models"].values())]
    header = [
        "model",
        *(f"valid {m}" for m in metrics),
        *(f"test {m}" for m in metrics),
        *(f"test {k.split('/')[1]} (event type)" for k in events),
        "train s",
        "epochs",
        "params",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, m in report["models"].items():
        row = [
            f"`{name}`",
            *(cell(m, "valid", k) for k in metrics),
            *(cell(m, "test", k) for k in metrics),
            *(cell(m, "test", k) if k in m["test"] else "-" for k in events),
            f"{m['train_seconds']:.0f}",
            f"{m['epochs']:.0f}",
            f"{m['params']:,}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(to_markdown(json.loads(Path(sys.argv[1]).read_text())))
