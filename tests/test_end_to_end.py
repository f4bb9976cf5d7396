"""End to end on the real MovieLens-100K: prepare from the raw files,
train briefly, beat popularity."""

from __future__ import annotations

import pytest

import chronorec
from chronorec.data import registry


@pytest.mark.slow
def test_briefly_trained_sasrec_beats_pop_on_movielens(real_data_root, tmp_path):
    prepared = registry.prepare_known("ml-100k", tmp_path / "ml-100k", data_root=real_data_root)
    assert (prepared.interactions, prepared.users, prepared.items) == (100_000, 943, 1_682)
    common = dict(out=None, progress=False, max_len=50, device="cpu")
    pop = chronorec.train(prepared.out, **{**common, "out": tmp_path / "pop"}, model="pop")
    sas = chronorec.train(
        prepared.out,
        **{**common, "out": tmp_path / "sas"},
        model="sasrec",
        epochs=6,
        batch_size=128,
    )
    assert sas.valid["NDCG@10"] > pop.valid["NDCG@10"] * 1.5
    assert sas.test["NDCG@10"] > pop.test["NDCG@10"]
    recs = chronorec.recommend(tmp_path / "sas", user="196", k=5)
    assert len(recs) == 5 and all(r.title for r in recs)  # titles from u.item
