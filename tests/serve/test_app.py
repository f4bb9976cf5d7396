"""The HTTP API through FastAPI's TestClient: shapes, freshness, a status code for every bad
input, and docs that need no network."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the `serve` extra is not installed")
pytest.importorskip("prometheus_client", reason="the `serve` extra is not installed")

from fastapi.testclient import TestClient

from tests.serve.conftest import API_KEY, train_run

KEY = {"X-API-Key": API_KEY}


def recs(client: TestClient, user: str, **params: object) -> dict:
    r = client.get(f"/v1/users/{user}/recommendations", params=params, headers=KEY)
    assert r.status_code == 200, r.text
    return r.json()


def test_recommendation_shape_and_fallback(client: TestClient) -> None:
    body = recs(client, "u3", k=4)
    assert (
        body["user_id"] == "u3"
        and body["fallback"] is False
        and body["model_version"].startswith("sasrec-")
    )
    assert len(body["recommendations"]) == 4
    first = body["recommendations"][0]
    assert (
        set(first) == {"item_id", "score", "title"}
        and first["title"] == f"title {first['item_id']}"
    )
    unknown = recs(client, "nobody", k=3)
    assert unknown["fallback"] is True and len(unknown["recommendations"]) == 3


def test_posted_event_changes_the_next_recommendation(client: TestClient) -> None:
    before = recs(client, "u3", k=10)["recommendations"]
    r = client.post(
        "/v1/events", json={"user_id": "u3", "item_id": "i11", "event_type": "click"}, headers=KEY
    )
    assert r.status_code == 200 and r.json() == {"stored": 1, "unknown_items": 0, "duplicates": 0}
    assert recs(client, "u3", k=10)["recommendations"] != before


def test_batch_listing_newest_first_and_unknown_items(client: TestClient) -> None:
    events = [
        {"user_id": "new", "item_id": "i1", "timestamp": 100},
        {"user_id": "new", "item_id": "i2", "timestamp": 300},
        {"user_id": "new", "item_id": "zzz", "timestamp": 200},
    ]
    r = client.post("/v1/events", json={"events": events}, headers=KEY)
    assert r.json() == {"stored": 3, "unknown_items": 1, "duplicates": 0}
    listed = client.get("/v1/users/new/events", params={"limit": 2}, headers=KEY).json()
    assert listed["user_id"] == "new" and [e["item_id"] for e in listed["events"]] == ["i2", "zzz"]
    assert listed["events"][0] == {
        "user_id": "new",
        "item_id": "i2",
        "timestamp": 300.0,
        "event_type": None,
        "event_id": None,
    }
    assert recs(client, "new")["fallback"] is False  # a new user with known items gets the model
    assert "chronorec_unknown_item_events_total 1.0" in client.get("/metrics").text


def test_numeric_ids_are_refused_not_turned_into_strings(client: TestClient) -> None:
    # 42 and 42.0 would be two users: an id is a JSON string, "42".
    for body in ({"user_id": 42, "item_id": "i3"}, {"user_id": "u", "item_id": 4.0}):
        r = client.post("/v1/events", json=body, headers=KEY)
        assert r.status_code == 422 and "valid string" in r.json()["error"]
    r = client.post("/v1/recommendations", json={"items": [3]}, headers=KEY)
    assert r.status_code == 422
    assert client.get("/healthz").json()["events_stored"] == 0


def test_session_and_similar(client: TestClient) -> None:
    session = ["i1", {"item_id": "i2", "timestamp": 1_700_000_000, "event_type": "click"}, "nope"]
    r = client.post(
        "/v1/recommendations",
        json={"items": session, "k": 5, "exclude_seen": True},
        headers=KEY,
    )
    body = r.json()
    assert (
        r.status_code == 200
        and body["user_id"] is None
        and body["unknown_items"] == 1
        and not body["fallback"]
    )
    assert not {"i1", "i2"} & {x["item_id"] for x in body["recommendations"]}
    r = client.get("/v1/items/i1/similar", params={"k": 3}, headers=KEY)
    assert r.status_code == 200 and len(r.json()["similar"]) == 3
    assert client.get("/v1/items/nope/similar", headers=KEY).status_code == 404


def test_delete_forgets_the_user(client: TestClient) -> None:
    client.post("/v1/events", json={"user_id": "u3", "item_id": "i1"}, headers=KEY)
    assert client.delete("/v1/users/u3").status_code == 401
    assert recs(client, "u3")["fallback"] is False
    r = client.delete("/v1/users/u3", headers=KEY)
    assert r.status_code == 200 and r.json() == {"user_id": "u3", "deleted_events": 1}
    assert recs(client, "u3")["fallback"] is True  # a training user too: as if unknown
    assert client.get("/v1/users/u3/events", headers=KEY).json()["events"] == []


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}], ids=["missing", "wrong"])
def test_writes_need_the_key_and_a_refused_write_changes_nothing(
    client: TestClient, headers: dict
) -> None:
    r = client.post("/v1/events", json={"user_id": "u3", "item_id": "i1"}, headers=headers)
    assert r.status_code == 401 and "X-API-Key" in r.json()["error"]
    assert client.get("/v1/users/u3/events", headers=KEY).json()["events"] == []
    assert client.post("/admin/reload", headers=headers).status_code == 401
    assert client.delete("/v1/users/u3", headers=headers).status_code == 401


BAD_REQUESTS = [
    ("post", "/v1/events", {"content": b"{not json"}, 422, "JSON"),
    (
        "post",
        "/v1/events",
        {"json": {"events": [{"user_id": "u"}]}},
        422,
        "events.0.item_id: Field required",
    ),
    ("post", "/v1/events", {"json": {"events": []}}, 422, "at least 1"),
    (
        "post",
        "/v1/events",
        {"json": {"user_id": "u", "item_id": "i", "timestamp": -5}},
        422,
        "timestamp",
    ),
    (
        "post",
        "/v1/events",
        {"json": {"user_id": "u", "item_id": "i", "timestamp": "soon"}},
        422,
        "timestamp",
    ),
    ("post", "/v1/events", {"json": {"user_id": "", "item_id": "i"}}, 422, "user_id"),
    (
        "post",
        "/v1/events",
        {"json": {"user_id": "u", "item_id": "i", "colour": "red"}},
        422,
        "colour",
    ),
    ("post", "/v1/events", {"json": [1, 2]}, 422, "body"),
    ("get", "/v1/users/u3/recommendations?k=0", {}, 422, "query.k"),
    ("get", "/v1/users/u3/recommendations?k=abc", {}, 422, "query.k"),
    ("get", "/v1/users/u3/recommendations?k=100000", {}, 422, "query.k"),
    ("get", "/v1/users/u3/recommendations?exclude_seen=maybe", {}, 422, "exclude_seen"),
    ("get", "/v1/users/u3/events?limit=0", {}, 422, "limit"),
    ("get", "/v1/items/i1/similar?k=-1", {}, 422, "query.k"),
    (
        "post",
        "/v1/recommendations",
        {"json": {"items": [{"item_id": "i1", "timestamp": -1}]}},
        422,
        "timestamp",
    ),
    ("post", "/v1/recommendations", {"json": {"items": "i1"}}, 422, "items"),
    (
        "post",
        "/v1/events",
        {"json": {"events": [{"user_id": "u", "item_id": "i"}] * 51}},
        413,
        "limit is 50",
    ),
    ("post", "/v1/recommendations", {"json": {"items": ["i1"] * 51}}, 413, "limit is 50"),
    ("post", "/v1/events", {"content": b"[" + b"1," * 40_000 + b"1]"}, 413, "larger than"),
]


@pytest.mark.parametrize("method,url,kwargs,status,message", BAD_REQUESTS)
def test_bad_input_gets_its_status_and_says_what_is_wrong(
    client: TestClient, method: str, url: str, kwargs: dict, status: int, message: str
) -> None:
    r = getattr(client, method)(url, headers={**KEY, "content-type": "application/json"}, **kwargs)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert (
        client.get("/healthz").json()["events_stored"] == 0
    )  # nothing stored by a refused request


def test_chunked_body_over_the_limit_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1024  # no Content-Length: the server counts while reading

    r = client.post(
        "/v1/events", content=chunks(), headers={**KEY, "content-type": "application/json"}
    )
    assert r.status_code == 413


def test_health_metrics_and_docs(client: TestClient) -> None:
    recs(client, "u3")
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["events_stored"] == 0
    text = client.get("/metrics").text
    assert (
        'chronorec_http_requests_total{method="GET",route="/v1/users/{user_id}/recommendations",status="200"}'
        in text
    )
    assert "chronorec_http_request_seconds_bucket" in text and "chronorec_events_stored 0.0" in text
    assert f'version="{health["model_version"]}"' in text
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["EventBatch"]["properties"]["events"]["maxItems"] == 50
    paths = schema["paths"]
    assert {
        "/v1/events",
        "/v1/users/{user_id}/recommendations",
        "/v1/recommendations",
        "/v1/users/{user_id}/events",
        "/v1/items/{item_id}/similar",
        "/v1/items/{item_id}",
        "/v1/users/{user_id}",
        "/healthz",
        "/metrics",
        "/admin/reload",
    } <= set(paths)


def test_reload_endpoint(client: TestClient, run_dir: Path) -> None:
    version = client.get("/healthz").json()["model_version"]
    r = client.post("/admin/reload", headers=KEY)
    assert r.status_code == 200 and r.json() == {
        "previous_version": version,
        "model_version": version,
        "run": str(run_dir),
    }


def test_reload_to_another_run_folder_and_a_bad_one(
    client: TestClient, run_dir: Path, tmp_path: Path
) -> None:
    other = train_run(tmp_path / "other", model="markov")
    version = client.get("/healthz").json()["model_version"]
    r = client.post("/admin/reload", json={"run": str(other)}, headers=KEY)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["previous_version"] == version and body["model_version"].startswith("markov-")
    assert body["run"] == str(other)
    assert client.post("/admin/reload", json={}, headers=KEY).json()["run"] == str(other)
    for missing in (tmp_path / "nothing", tmp_path, "x" * 300):
        r = client.post("/admin/reload", json={"run": str(missing)}, headers=KEY)
        assert r.status_code == 404 and "still serving markov-" in r.json()["error"]
    assert client.get("/healthz").json()["model_version"] == body["model_version"]
    for bad in ({"run": ""}, {"run": 3}, {"run": "a\x00b"}, {"path": str(run_dir)}):
        assert client.post("/admin/reload", json=bad, headers=KEY).status_code == 422
    assert client.post("/admin/reload", json={"run": str(run_dir)}).status_code == 401


def test_put_item_stores_it_and_says_whether_it_is_recommendable(client: TestClient) -> None:
    r = client.put("/v1/items/new%2F1", json={"title": "New one", "categories": ["A", "B"]})
    assert r.status_code == 401
    r = client.put(
        "/v1/items/new%2F1", json={"title": "New one", "categories": ["A", "B"]}, headers=KEY
    )
    assert r.status_code == 200, r.text
    # A run without text features scores it once a refresh has trained on it.
    assert r.json() == {"item_id": "new/1", "known": False, "recommendable": False}
    r = client.put("/v1/items/i3", json={"title": "Three", "categories": None}, headers=KEY)
    assert r.json() == {"item_id": "i3", "known": True, "recommendable": True}
    store = client.app.state.store  # type: ignore[attr-defined]
    assert [(i.item_id, i.categories) for i in store.items()] == [("new/1", "A|B"), ("i3", None)]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "x" * 1001},
        {"title": "two\nlines"},
        {"title": 5},
        {"title": "T", "categories": "A"},
        {"title": "T", "categories": ["A|B"]},
        {"title": "T", "categories": [""]},
        {"title": "T", "categories": ["c"] * 51},
        {"title": "T", "genres": ["A"]},
    ],
)
def test_a_malformed_item_is_a_422_and_stores_nothing(client: TestClient, body: dict) -> None:
    r = client.put("/v1/items/x", json=body, headers=KEY)
    assert r.status_code == 422, r.text
    assert client.app.state.store.items() == []  # type: ignore[attr-defined]


def test_event_bodies_are_never_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "private-item-7f3a"
    client.post("/v1/events", json={"user_id": "u3", "item_id": secret}, headers=KEY)
    client.post("/v1/events", json={"user_id": "u3", "item_id": secret, "bogus": 1}, headers=KEY)
    client.delete("/v1/users/u3", headers=KEY)
    assert caplog.records and secret not in caplog.text


def test_docs_load_their_assets_from_the_server_itself(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        r = client.get(page)
        assert r.status_code == 200
        hosts = set(re.findall(r"https?://([^/\"'\s]+)", r.text))
        assert hosts <= {"testserver"}, f"{page} loads from {hosts}"
        assets = re.findall(r"(?:src|href)=\"([^\"]+)\"", r.text)
        assert any(a.endswith(".js") for a in assets)
        assert page == "/redoc" or any(a.endswith(".css") for a in assets)
        for asset in assets:
            got = client.get(asset)
            assert got.status_code == 200 and len(got.content) > 1000, asset


@pytest.mark.parametrize(
    "url,body,hints",
    [
        (
            "/v1/events",
            {"user": "1", "item": "2"},
            [
                "did you mean user_id?",
                "did you mean item_id?",
                "expected user_id, item_id, optional timestamp, event_type",
            ],
        ),
        ("/v1/events", {"events": [{"userid": "1", "item_id": "2"}]}, ["did you mean user_id?"]),
        ("/v1/events", {"event": [{"user_id": "1", "item_id": "2"}]}, ["did you mean events?"]),
        ("/v1/recommendations", {"item": ["i1"]}, ["did you mean items?", "expected items,"]),
    ],
)
def test_misnamed_fields_get_the_expected_names(
    client: TestClient, url: str, body: dict, hints: list[str]
) -> None:
    r = client.post(url, json=body, headers=KEY)
    assert r.status_code == 422
    problem = r.json()
    assert set(problem) == {"error", "detail"} and "Field required" not in problem["error"]
    for hint in hints:
        assert hint in problem["error"]
    assert all(set(d) == {"loc", "msg", "type"} for d in problem["detail"])
