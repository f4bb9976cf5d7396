"""Bounded input: ids of printable characters (any of them usable in a path, percent-encoded),
timestamps no further ahead than the allowed clock skew, 422 for every malformed body, and
metrics whose label values come from a fixed set whatever clients send."""

from __future__ import annotations

import re
import time
import urllib.parse

import pytest

pytest.importorskip("fastapi", reason="the `serve` extra is not installed")
pytest.importorskip("prometheus_client", reason="the `serve` extra is not installed")

from fastapi.testclient import TestClient

from tests.serve.conftest import API_KEY

KEY = {"X-API-Key": API_KEY}


def quoted(user_id: str) -> str:
    return urllib.parse.quote(user_id, safe="")


@pytest.mark.parametrize(
    "user_id", ["team/alice", "a/events", "x/recommendations", "/lead", "50%?#&+ é"]
)
def test_any_printable_id_can_be_written_read_and_deleted(client: TestClient, user_id: str) -> None:
    event = {"user_id": user_id, "item_id": "i4", "timestamp": 1_700_000_000}
    assert client.post("/v1/events", json=event, headers=KEY).status_code == 200
    path = f"/v1/users/{quoted(user_id)}"
    listed = client.get(f"{path}/events", headers=KEY)
    assert listed.status_code == 200 and listed.json()["user_id"] == user_id
    assert [e["item_id"] for e in listed.json()["events"]] == ["i4"]
    recs = client.get(f"{path}/recommendations", headers=KEY).json()
    assert recs["user_id"] == user_id and recs["fallback"] is False
    deleted = client.delete(path, headers=KEY)
    assert deleted.status_code == 200 and deleted.json() == {
        "user_id": user_id,
        "deleted_events": 1,
    }
    assert client.get(f"{path}/events", headers=KEY).json()["events"] == []


def test_an_id_ending_like_a_route_names_its_own_user(client: TestClient) -> None:
    client.post("/v1/events", json={"user_id": "a", "item_id": "i1"}, headers=KEY)
    client.post("/v1/events", json={"user_id": "a/events", "item_id": "i2"}, headers=KEY)
    events = client.get(f"/v1/users/{quoted('a/events')}/events", headers=KEY).json()["events"]
    assert [(e["user_id"], e["item_id"]) for e in events] == [("a/events", "i2")]
    assert client.get(f"/v1/items/{quoted('no/such')}/similar", headers=KEY).status_code == 404


@pytest.mark.parametrize("bad", ["nul\x00id", "new\nline", "tab\tid", "del\x7f", "sep\u2028x"])
def test_ids_with_control_characters_or_line_breaks_are_refused(
    client: TestClient, bad: str
) -> None:
    for body in (
        {"user_id": bad, "item_id": "i1"},
        {"user_id": "u", "item_id": bad},
        {"user_id": "u", "item_id": "i1", "event_type": bad},
        {"user_id": "u", "item_id": "i1", "event_id": bad},
    ):
        r = client.post("/v1/events", json=body, headers=KEY)
        assert r.status_code == 422 and "printable" in r.json()["error"], body
    for url in (f"/v1/users/{quoted(bad)}/recommendations", f"/v1/users/{quoted(bad)}/events"):
        r = client.get(url, headers=KEY)
        assert r.status_code == 422 and "printable" in r.json()["error"]
    assert client.delete(f"/v1/users/{quoted(bad)}", headers=KEY).status_code == 422
    assert client.get("/healthz").json()["events_stored"] == 0


def test_a_timestamp_beyond_the_clock_skew_is_refused(client: TestClient) -> None:
    soon, later = time.time() + 60, time.time() + 3600  # the app allows 300 s
    events = [{"user_id": "u3", "item_id": "i1", "timestamp": t} for t in (soon, later)]
    r = client.post("/v1/events", json={"events": events}, headers=KEY)
    assert r.status_code == 422
    assert (
        r.json()["error"] == "body.events.1.timestamp: more than 300 s ahead of the server's clock"
    )
    assert client.get("/healthz").json()["events_stored"] == 0
    r = client.post("/v1/events", json=events[0], headers=KEY)
    assert r.status_code == 200
    session = {"items": [{"item_id": "i1", "timestamp": later}]}
    assert client.post("/v1/recommendations", json=session, headers=KEY).status_code == 422
    # The schema says so too: its maximum is the latest timestamp taken now.
    schema = client.get("/openapi.json").json()["components"]["schemas"]["EventIn"]
    assert soon < schema["properties"]["timestamp"]["anyOf"][0]["maximum"] < later


@pytest.mark.parametrize(
    "body",
    [b'{"user_id": "\xff\xfe", "item_id": "i1"}', b"\xc3\x28", b'{"user_id": "u", "item_id": 1'],
    ids=["invalid-utf8-in-a-string", "invalid-utf8", "truncated"],
)
def test_every_malformed_body_is_a_422(client: TestClient, body: bytes) -> None:
    headers = {**KEY, "content-type": "application/json"}
    r = client.post("/v1/events", content=body, headers=headers)
    assert r.status_code == 422, r.text
    assert set(r.json()) == {"error", "detail"} and r.json()["error"].startswith("body")


def series(client: TestClient) -> set[str]:
    text = client.get("/metrics").text
    return {line.split(" ")[0] for line in text.splitlines() if line.startswith("chronorec_http")}


def test_metric_labels_come_from_a_fixed_set_whatever_clients_send(client: TestClient) -> None:
    def requests(n: int) -> None:
        client.request(f"M{n}", f"/v1/users/u{n}/recommendations")
        client.request(f"M{n}", f"/made/up/{n}")
        client.get(f"/no/such/path/{n}?q={n}")
        client.get(f"/v1/users/user-{n}/recommendations", headers=KEY)
        client.get(f"/v1/users/{quoted(f'x/{n}')}/recommendations", headers=KEY)

    requests(0)  # every series there is to create, once
    series(client)
    before = series(client)
    for n in range(1, 200):  # made-up methods, paths and ids: not one new series
        requests(n)
    after = series(client)
    assert after == before
    routes = set(re.findall(r'route="([^"]*)"', " ".join(after)))
    assert routes <= {"/v1/users/{user_id}/recommendations", "/metrics", "unmatched"}
    assert set(re.findall(r'method="([^"]*)"', " ".join(after))) <= {"GET", "other"}
