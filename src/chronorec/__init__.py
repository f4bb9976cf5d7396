"""chronorec: learn from user behaviour sequences and recommend what each user wants next.

The public API mirrors the command line::

    import chronorec
    chronorec.prepare("u.data", out="data/ml-100k", items="u.item")
    result = chronorec.train("data/ml-100k", model="sasrec", out="runs/sasrec")
    chronorec.evaluate("runs/sasrec", "test").metrics["NDCG@10"]
    chronorec.recommend("runs/sasrec", user="196", k=10)
"""

from __future__ import annotations

from chronorec.api import benchmark, compare, evaluate, prepare, recommend, train
from chronorec.data.dataset import load_dataset
from chronorec.training.config import TrainConfig
from chronorec.version import __version__

__all__ = [
    "prepare",
    "train",
    "evaluate",
    "compare",
    "recommend",
    "benchmark",
    "TrainConfig",
    "load_dataset",
    "__version__",
]
