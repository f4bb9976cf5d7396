"""Full-ranking evaluation: one harness for every model."""

from chronorec.evaluation.harness import EvalResult, evaluate_cases
from chronorec.evaluation.metrics import metrics_from_ranks

__all__ = ["EvalResult", "evaluate_cases", "metrics_from_ranks"]
