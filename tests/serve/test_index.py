"""Top-K indexes: the exact one matches torch.topk; the approximate one reaches its recall target."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chronorec.serve.index import ApproxIndex, ExactIndex, build_index


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Vectors around 100 centres with varied norms, a padding row 0 first (like learned item embeddings)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(100, dim))
    x = centres[rng.integers(0, 100, n)] * 0.5 + rng.normal(size=(n, dim)) * 0.5
    x *= rng.lognormal(0, 0.3, (n, 1))
    return np.vstack([np.zeros((1, dim)), x]).astype(np.float32)


def test_exact_matches_full_topk_and_skips_padding_and_exclusions() -> None:
    vectors = clustered(500, 8, 0)
    q = np.random.default_rng(1).normal(size=8).astype(np.float32)
    index = ExactIndex(vectors)
    scores, ids = index.search(q, 10)
    full = torch.from_numpy(vectors[1:] @ q)
    assert ids.tolist() == (full.topk(10).indices + 1).tolist()
    np.testing.assert_allclose(scores, full.topk(10).values.numpy(), rtol=1e-5)
    _, ids2 = index.search(q, 10, exclude=frozenset(ids[:3].tolist()))
    assert not set(ids[:3].tolist()) & set(ids2.tolist()) and 0 not in ids2


def test_exact_returns_fewer_when_exclusions_leave_fewer() -> None:
    index = ExactIndex(clustered(5, 4, 0))
    _, ids = index.search(np.ones(4, dtype=np.float32), 10, exclude=frozenset({1, 2}))
    assert sorted(ids.tolist()) == [3, 4, 5]


def test_build_index_switches_at_the_threshold() -> None:
    assert isinstance(build_index(clustered(50, 4, 0), approx_above=50), ExactIndex)


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
    exact = ExactIndex(vectors)
    recall = np.mean(
        [
            len(set(index.search(q, 10)[1].tolist()) & set(exact.search(q, 10)[1].tolist())) / 10
            for q in queries
        ]
    )
    assert recall >= 0.98
    _, ids = index.search(
        queries[0], 10, exclude=frozenset(exact.search(queries[0], 3)[1].tolist())
    )
    assert (
        len(ids) == 10
        and 0 not in ids
        and not set(ids.tolist()) & set(exact.search(queries[0], 3)[1].tolist())
    )
