"""The page's data endpoints (``/page/api``), its files, and what a key opens: no browser needed.

A multiscale model trained for one epoch on synthetic ring data with two event types.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chronorec
from tests.conftest import synthetic_sequences, write_prepared

pytest.importorskip("fastapi")

API_KEY, READ_KEY = "write-key", "read-key"
KEY = {"X-API-Key": API_KEY}


@pytest.fixture(scope="module")
def typed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("page-api")
    sequences = synthetic_sequences()
    rng = np.random.default_rng(0)
    types = {u: [int(t) for t in rng.integers(1, 3, len(seq))] for u, seq in sequences.items()}
    data = write_prepared(root / "data", sequences, types, ["view", "buy"])
    params = {"dim": 16, "layers": 1}
    chronorec.train(
        data, out=root / "run", model="multiscale", epochs=1, model_params=params, progress=False
    )
    return root / "run"


def client_for(run_dir: Path, db: Path, **keys: Any) -> Any:
    from fastapi.testclient import TestClient

    from chronorec.serve.app import create_app

    return TestClient(create_app(run_dir, db=db, **keys))


@pytest.fixture
def client(typed_run: Path, tmp_path: Path) -> Iterator[Any]:
    with client_for(typed_run, tmp_path / "events.sqlite", api_key=API_KEY) as c:
        yield c


def test_the_page_and_its_files_are_served_and_nothing_else(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "page/assets/js/app.js" in page.text
    assert (
        client.get("/page/assets/js/app.js").headers["content-type"].startswith("text/javascript")
    )
    assert client.get("/page/assets/vendor/uPlot.iife.min.js").status_code == 200
    assert client.get("/page/assets/../__init__.py").status_code == 404
    assert client.get("/page/assets/%2e%2e/__init__.py").status_code == 404
    assert client.get("/page/assets/nothing.js").status_code == 404
    assert not any(path.startswith("/page") for path in client.get("/openapi.json").json()["paths"])


def test_no_page_file_names_another_host() -> None:
    from chronorec.serve.page import STATIC

    for path in STATIC.rglob("*"):
        if path.suffix in (".html", ".js", ".css") and "vendor" not in path.parts:
            text = path.read_text()
            # The SVG namespace is a name, not a request.
            assert "http" not in text.replace("http://www.w3.org/2000/svg", ""), path


def test_overview_counts_types_and_card(client: Any) -> None:
    overview = client.get("/page/api/overview").json()
    dataset, model = overview["dataset"], overview["model"]
    assert (dataset["users"], dataset["items"]) == (60, 40)
    assert [t["name"] for t in dataset["event_types"]] == ["view", "buy"]
    assert sum(t["events"] for t in dataset["event_types"]) == dataset["events"]
    histogram = dataset["events_over_time"]
    assert [s["name"] for s in histogram["series"]] == ["view", "buy"]
    assert sum(sum(s["counts"]) for s in histogram["series"]) == dataset["events"]
    assert len(histogram["x"]) == len(histogram["series"][0]["counts"]) <= 240
    assert model["model"] == "multiscale" and model["parameters"] > 0
    assert model["curve"][0]["epoch"] == 1 and "NDCG@10" in model["test"]
    assert model["session_gap_seconds"] == 30 * 60
    assert overview["service"]["event_types"] == ["view", "buy"]


def test_access_says_what_a_key_opens(typed_run: Path, tmp_path: Path) -> None:
    keys = {"api_key": API_KEY, "read_key": READ_KEY}
    with client_for(typed_run, tmp_path / "events.sqlite", **keys) as c:
        opens = {
            key: c.get("/page/api/access", headers={"X-API-Key": key} if key else {}).json()
            for key in (API_KEY, READ_KEY, "wrong", None)
        }
    everything = {"keys": True, "write": True, "read": True, "recommendations": True}
    assert opens[API_KEY] == everything
    assert opens[READ_KEY] == {**everything, "write": False}
    assert opens["wrong"] == opens[None] == {**everything, "write": False, "read": False,
                                             "recommendations": False}  # fmt: skip


def test_whatever_names_users_needs_a_reading_key(client: Any) -> None:
    for path in ("/page/api/users", "/page/api/users/u1/history", "/page/api/feed",
                 "/page/api/items/i1/users"):  # fmt: skip
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=KEY).status_code == 200, path
    for path in ("/page/api/overview", "/page/api/live", "/page/api/items?q=i1",
                 "/page/api/items/i1/view", "/page/api/scales"):  # fmt: skip
        assert client.get(path).status_code == 200, path


def test_user_history_marks_what_the_model_reads_and_posted_events(client: Any) -> None:
    view = client.get("/page/api/users/u1/history", headers=KEY).json()
    total = view["total_events"]
    assert view["in_training_data"] and total == len(view["events"])
    assert {e["event_type"] for e in view["events"]} <= {"view", "buy"}
    assert sum(e["in_window"] for e in view["events"]) == min(total, view["max_len"])
    posted = {"user_id": "u1", "item_id": "i3", "event_type": "buy"}
    assert client.post("/v1/events", json=posted, headers=KEY).status_code == 200
    view = client.get("/page/api/users/u1/history", headers=KEY).json()
    last = view["events"][-1]
    assert view["total_events"] == total + 1
    assert (last["item_id"], last["event_type"], last["posted"], last["in_window"]) == (
        "i3", "buy", True, True)  # fmt: skip
    scales = view["scales"]
    assert len(scales["names"]) == len(scales["weights"]) == len(scales["top_items"])
    assert abs(sum(scales["weights"]) - 1) < 1e-4 and view["interests"] is None
    average = client.get("/page/api/scales").json()["average"]
    assert average["names"] == scales["names"] and average["cases"] == 60


def test_unknown_user_has_no_history_and_no_explanation(client: Any) -> None:
    view = client.get("/page/api/users/nobody/history", headers=KEY).json()
    assert (view["in_training_data"], view["total_events"], view["scales"]) == (False, 0, None)


def test_an_id_with_a_slash_is_read_percent_encoded(client: Any) -> None:
    client.post("/v1/events", json={"user_id": "team/alice", "item_id": "i2"}, headers=KEY)
    view = client.get("/page/api/users/team%2Falice/history", headers=KEY).json()
    assert view["user_id"] == "team/alice" and view["events"][0]["item_id"] == "i2"
    assert view["scales"] is not None  # the model reads i2


def test_feed_lists_the_latest_events_after_a_sequence_number(client: Any) -> None:
    assert client.get("/page/api/feed", headers=KEY).json() == {"events": []}
    events = [{"user_id": f"u{n}", "item_id": f"i{n}", "event_type": "view"} for n in range(3)]
    client.post("/v1/events", json={"events": events}, headers=KEY)
    feed = client.get("/page/api/feed?limit=2", headers=KEY).json()["events"]
    assert [e["user_id"] for e in feed] == ["u2", "u1"]
    assert feed[0]["title"] == "title i2"
    later = client.get(f"/page/api/feed?after={feed[0]['seq']}", headers=KEY).json()["events"]
    assert later == []
    users = client.get("/page/api/items/i1/users", headers=KEY).json()["recent"]
    assert users[0] == {**users[0], "user_id": "u1", "posted": True}
    assert len(users) == 10 and not any(u["posted"] for u in users[1:])


def test_item_view_and_search(client: Any) -> None:
    item = client.get("/page/api/items/i5/view?k=3").json()
    assert item["title"] == "title i5" and item["events"] > 0
    assert item["read_by_model"] and 1 <= item["popularity_rank"] <= 40
    assert len(item["nearest_by_vector"]) == 3
    assert all(n["item_id"] != "i5" for n in item["nearest_by_vector"])
    assert sum(sum(s["counts"]) for s in item["events_over_time"]["series"]) == item["events"]
    assert client.get("/page/api/items/nope/view").status_code == 404
    found = client.get("/page/api/items?q=i1&limit=5").json()["items"]
    assert found[0]["item_id"] == "i1"  # the exact id first
    assert all("i1" in f["item_id"] for f in found)
    assert len(client.get("/page/api/items?limit=7").json()["items"]) == 7  # the most popular


def test_live_counts_api_requests_but_not_the_page(client: Any) -> None:
    first = client.get("/page/api/live").json()
    assert first["requests_per_second"] is None and first["requests"] == 0
    for _ in range(3):
        client.get("/v1/users/u1/recommendations", headers=KEY)
    client.get("/page/api/overview")
    live = client.get("/page/api/live").json()
    assert live["requests"] == 3 and live["errors"] == 0
    assert live["requests_per_second"] > 0 and live["p50_ms"] <= live["p99_ms"]


def test_quantile_interpolates_within_buckets_as_prometheus_does() -> None:
    from chronorec.serve.page.live import quantile

    buckets = ((0.1, 50.0), (0.2, 100.0), (float("inf"), 100.0))
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.75, buckets) == pytest.approx(0.15)
    assert quantile(0.99, ((0.1, 0.0), (float("inf"), 10.0))) == 0.1  # beyond the last bound
    assert quantile(0.5, ((0.1, 0.0), (float("inf"), 0.0))) is None
