"""Self-supervised pre-training of sequence models: cloze, contrastive and auto-encoder objectives.

Pre-train with :func:`pretrain` (``chronorec pretrain``), then fine-tune with ``chronorec train
--init RUN_DIR``, which copies every weight whose name and shape match.
"""

from chronorec.pretrain.objectives import OBJECTIVES, ObjectiveConfig, build_objective
from chronorec.pretrain.runner import PretrainConfig, PretrainResult, pretrain

__all__ = [
    "OBJECTIVES",
    "ObjectiveConfig",
    "PretrainConfig",
    "PretrainResult",
    "build_objective",
    "pretrain",
]
