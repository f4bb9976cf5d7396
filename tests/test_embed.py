"""`embed` and `nearest`: files keep the original ids,
user vectors are the model's last state, atomic writes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from chronorec.data.batches import history_batch
from chronorec.embed import embed, history_ends, nearest, parse_timestamp, read_embeddings
from chronorec.errors import ChronorecError
from chronorec.pretrain import pretrain
from chronorec.runs.load import load_run
from tests.pretrain.realdata import prepared_ml100k


@pytest.fixture
def run(ring_dataset, tmp_path):
    pretrain(
        ring_dataset.path,
        "cloze",
        "sasrec",
        tmp_path / "run",
        epochs=1,
        model_params={"dim": 16, "layers": 1, "heads": 1},
        max_len=10,
        batch_size=16,
        device="cpu",
        progress=False,
    )
    return tmp_path / "run"


def _expected_user_vector(
    model, data, u: int, end: int, max_len: int, query_time: int | None = None
) -> np.ndarray:
    lo = data.offsets[u]
    batch = history_batch(
        [data.items[lo:end].tolist()], [data.timestamps[lo:end].tolist()], None, max_len
    )
    if query_time is not None:
        batch.query_time = torch.tensor([query_time])
    with torch.inference_mode():
        return model.encode(batch)[0, -1].numpy()


def test_embedding_files_round_trip_with_original_ids(run, tmp_path):
    result = embed(run, tmp_path / "emb")
    loaded = load_run(run)
    config, model, data = loaded.config, loaded.model, loaded.data
    user_ids, users = read_embeddings(tmp_path / "emb" / "users.parquet")
    item_ids, items = read_embeddings(tmp_path / "emb" / "items.parquet")
    assert sorted(user_ids) == sorted(data.user_ids[1:].tolist()) and result.users == data.num_users
    assert item_ids == data.item_ids[1:].tolist() and items.shape == (data.num_items, 16)
    assert users.dtype == np.float32 and users.shape == (data.num_users, 16)
    frame = pl.read_parquet(tmp_path / "emb" / "items.parquet")
    assert frame.schema["embedding"] == pl.List(pl.Float32)
    assert frame["title"].to_list() == [data.title(i) for i in range(1, data.num_items + 1)]
    assert np.allclose(items, model.item_vectors()[1:].detach().numpy())
    for k in (0, 7, len(user_ids) - 1):
        u = data.user_index(user_ids[k])
        expected = _expected_user_vector(model, data, u, data.offsets[u + 1], config.max_len)
        assert np.allclose(users[k], expected, atol=1e-5)
    assert not list((tmp_path / "emb").glob(".*tmp"))


def test_as_of_uses_only_earlier_events(run, tmp_path, ring_dataset):
    firsts = ring_dataset.timestamps[ring_dataset.offsets[1:-1]]  # each user's first event
    moment = int(np.median(firsts))  # about half the users have no history yet
    embed(run, tmp_path / "emb", as_of=moment)
    loaded = load_run(run)
    config, model, data = loaded.config, loaded.model, loaded.data
    user_ids, users = read_embeddings(tmp_path / "emb" / "users.parquet")
    ends = history_ends(data, moment)
    has_history = [
        data.user_ids[u] for u in range(1, data.num_users + 1) if ends[u] > data.offsets[u]
    ]
    assert sorted(user_ids) == sorted(has_history) and 0 < len(user_ids) < data.num_users
    for k, uid in enumerate(user_ids):
        u = data.user_index(uid)
        assert (data.timestamps[data.offsets[u] : ends[u]] < moment).all()
        assert ends[u] == data.offsets[u + 1] or data.timestamps[ends[u]] >= moment
        expected = _expected_user_vector(model, data, u, ends[u], config.max_len, moment)
        assert np.allclose(users[k], expected, atol=1e-5)


def test_nearest_ranks_by_cosine_and_skips_the_item(run):
    loaded = load_run(run)
    model, data = loaded.model, loaded.data
    out = nearest(run, "i5", k=4)
    assert len(out) == 4 and "i5" not in [s.item_id for s in out]
    assert [s.score for s in out] == sorted((s.score for s in out), reverse=True)
    v = torch.nn.functional.normalize(model.item_vectors().detach(), dim=1)
    i5, first = data.item_index("i5"), data.item_index(out[0].item_id)
    assert abs(float(v[i5] @ v[first]) - out[0].score) < 1e-5
    assert out[0].title == data.title(first)
    with pytest.raises(ChronorecError, match="unknown item"):
        nearest(run, "nope")


def test_timestamps_parse_as_unix_seconds_or_iso():
    assert parse_timestamp("1700000000") == 1_700_000_000
    assert parse_timestamp("2023-11-14T22:13:20Z") == 1_700_000_000
    assert parse_timestamp("2023-11-14T22:13:20") == 1_700_000_000  # naive is UTC
    with pytest.raises(ChronorecError, match="ISO-8601"):
        parse_timestamp("yesterday")


def test_embed_needs_a_run_folder(tmp_path):
    with pytest.raises(ChronorecError, match="not a run folder"):
        embed(tmp_path, tmp_path / "emb")


def test_real_movielens_embeddings_keep_movielens_ids(real_data_root, tmp_path):
    data = prepared_ml100k(real_data_root, tmp_path / "ml-100k")
    pretrain(
        data,
        "autoencoder",
        "gru4rec",
        tmp_path / "run",
        epochs=1,
        model_params={"dim": 8},
        max_len=10,
        max_users=50,
        device="cpu",
        progress=False,
    )
    embed(tmp_path / "run", tmp_path / "emb")
    users = pl.read_parquet(tmp_path / "emb" / "users.parquet")
    items = pl.read_parquet(tmp_path / "emb" / "items.parquet")
    assert users.height == 943 and set(users["user_id"]) == {str(u) for u in range(1, 944)}
    star_wars = items.filter(pl.col("item_id") == "50")
    assert star_wars["title"][0].startswith("Star Wars") and len(star_wars["embedding"][0]) == 8
