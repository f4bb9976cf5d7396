"""Training-curve plot: loss and validation NDCG@10 per epoch."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

from chronorec._io import atomic_path  # noqa: E402


def save_figure(fig: Any, path: str | Path) -> None:
    """Write a matplotlib figure as PNG atomically and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def plot_training_curve(history: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Two panels sharing the epoch axis: training loss, and validation NDCG@10 with the best
    epoch marked."""
    epochs = [h["epoch"] for h in history if h.get("loss") is not None]
    losses = [h["loss"] for h in history if h.get("loss") is not None]
    val = [(h["epoch"], h["valid"]["NDCG@10"]) for h in history if "valid" in h]
    fig, (ax_loss, ax_val) = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
    ax_loss.plot(epochs, losses, color="tab:blue")
    ax_loss.set_ylabel("training loss")
    if val:
        xs, ys = zip(*val)
        ax_val.plot(xs, ys, color="tab:green", marker=".", markersize=3)
        best = max(range(len(ys)), key=ys.__getitem__)
        ax_val.axvline(xs[best], color="grey", linestyle="--", linewidth=1)
        ax_val.annotate(
            f"best {ys[best]:.4f} @ {xs[best]}",
            (xs[best], ys[best]),
            textcoords="offset points",
            xytext=(5, -12),
        )
    ax_val.set_ylabel("valid NDCG@10")
    ax_val.set_xlabel("epoch")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
