"""The approximate top-K index reaches its recall target;
small catalogues get none (exact ranking)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chronorec.scoring.index import ApproxIndex, build_index


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Vectors around 100 centres with varied norms,
    a padding row 0 first (like learned item embeddings)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(100, dim))
    x = centres[rng.integers(0, 100, n)] * 0.5 + rng.normal(size=(n, dim)) * 0.5
    x *= rng.lognormal(0, 0.3, (n, 1))
    return np.vstack([np.zeros((1, dim)), x]).astype(np.float32)


def test_build_index_switches_at_the_threshold() -> None:
    assert build_index(clustered(50, 4, 0), approx_above=50) is None


def test_approximate_recall_against_exact() -> None:
    pytest.importorskip("faiss")
    vectors = clustered(30_000, 16, 2)
    rng = np.random.default_rng(3)
    calibration = (
        vectors[1:][rng.choice(30_000, 256, replace=False)]
        + rng.normal(size=(256, 16)).astype(np.float32) * 0.3
    )
    index = build_index(
        vectors, approx_above=10_000, calibration_queries=calibration, target_recall=0.99
    )
    assert isinstance(index, ApproxIndex) and index.calibration_recall >= 0.99
    queries = (
        vectors[1:][rng.choice(30_000, 200, replace=False)]
        + rng.normal(size=(200, 16)).astype(np.float32) * 0.3
    )
    matrix = torch.from_numpy(vectors[1:])

    def exact(q: np.ndarray, k: int) -> set[int]:
        return set((matrix @ torch.from_numpy(q)).topk(k).indices.add(1).tolist())

    recall = np.mean(
        [len(set(index.search(q, 10)[1].tolist()) & exact(q, 10)) / 10 for q in queries]
    )
    assert recall >= 0.98
    _, ids = index.search(queries[0], 10, exclude=frozenset(exact(queries[0], 3)))
    assert len(ids) == 10 and 0 not in ids and not set(ids.tolist()) & exact(queries[0], 3)
