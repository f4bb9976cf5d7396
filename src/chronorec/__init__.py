"""chronorec: learn from user behaviour sequences and recommend what each user wants next.

The public API mirrors the command line::

    import chronorec
    chronorec.prepare("u.data", out="data/ml-100k", items="u.item")
    result = chronorec.train("data/ml-100k", model="sasrec", out="runs/sasrec")
    chronorec.evaluate("runs/sasrec", "test").metrics["NDCG@10"]
    chronorec.recommend("runs/sasrec", user="196", k=10)
"""

from __future__ import annotations

__version__ = "0.1.0"

# The functions deliberately shadow the subpackages of the same name (``chronorec.train`` the function,
# ``chronorec.train.trainer`` the module): the API reads naturally and the modules stay importable.
from chronorec.api import benchmark, compare, evaluate, prepare, recommend, train  # noqa: E402
from chronorec.data.dataset import load_dataset  # noqa: E402
from chronorec.train.config import TrainConfig  # noqa: E402

__all__ = ["prepare", "train", "evaluate", "compare", "recommend", "benchmark", "TrainConfig", "load_dataset", "__version__"]
