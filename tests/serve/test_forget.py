"""Forgetting for real: after ``DELETE /v1/users/{id}`` neither the store's files nor the server's
log hold a byte of the id or of its events; a delete of an id nobody knows changes nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="the `serve` extra is not installed")
pytest.importorskip("fastapi", reason="the `serve` extra is not installed")

from fastapi.testclient import TestClient

from tests.serve.conftest import API_KEY, Server

KEY = {"X-API-Key": API_KEY}


def test_deleting_an_unknown_id_is_a_404_that_changes_nothing(client: TestClient) -> None:
    client.post("/v1/events", json={"user_id": "u3", "item_id": "i1"}, headers=KEY)
    store = client.app.state.store  # type: ignore[attr-defined]
    before = client.get("/v1/users/u3/recommendations", headers=KEY).json()
    r = client.delete("/v1/users/u3-typo", headers=KEY)
    assert r.status_code == 404 and "unknown user" in r.json()["error"]
    assert not store.is_forgotten("u3-typo") and store.count() == 1
    assert client.get("/v1/users/u3/recommendations", headers=KEY).json() == before
    # A training user with no posted events is known: forgotten once, then unknown.
    assert client.delete("/v1/users/u5", headers=KEY).json() == {
        "user_id": "u5",
        "deleted_events": 0,
    }
    assert client.delete("/v1/users/u5", headers=KEY).status_code == 404


def files_holding(folder: Path, prefix: str, secrets: list[bytes]) -> dict[str, list[bytes]]:
    """Which of ``secrets`` each file ``prefix*`` in ``folder`` holds (those holding none left
    out)."""
    found = {}
    for path in folder.glob(f"{prefix}*"):
        data = path.read_bytes()
        held = [s for s in secrets if s in data]
        if held:
            found[path.name] = held
    return found


@pytest.mark.slow
def test_no_byte_of_a_forgotten_user_stays_in_the_files_or_the_log(
    run_dir: Path, tmp_path: Path
) -> None:
    user = f"forget-me-{uuid.uuid4().hex[:8]}"
    items = [f"private-item-{uuid.uuid4().hex[:8]}-{n}" for n in range(30)]
    secrets = [user.encode(), *(item.encode() for item in items)]
    db, log = tmp_path / "events.sqlite", tmp_path / "server.log"
    server = Server(run_dir, db, log_file=log, log_level="info")
    with server, httpx.Client(base_url=server.url, headers=KEY, timeout=30) as http:
        for n, item in enumerate(items):  # spread over many pages, among other users' events
            own = {"user_id": user, "item_id": item, "event_id": f"{user}-{n}"}
            others = [{"user_id": f"other-{n}-{m}", "item_id": f"i{m}"} for m in range(40)]
            assert http.post("/v1/events", json={"events": [own, *others]}).status_code == 200
        http.post("/v1/events", json={"user_id": user, "item_id": "i3"})
        assert http.get(f"/v1/users/{user}/recommendations").json()["fallback"] is False
        assert len(http.get(f"/v1/users/{user}/events").json()["events"]) == 31
        assert files_holding(tmp_path, "events.sqlite", secrets)  # the test can see them
        r = http.delete(f"/v1/users/{user}")
        assert r.status_code == 200 and r.json()["deleted_events"] == 31
        # Checked while the server still runs: its own checkpoint, not the one at shutdown.
        assert files_holding(tmp_path, "events.sqlite", secrets) == {}
        assert http.get(f"/v1/users/{user}/recommendations").json()["fallback"] is True
        assert http.get("/healthz").json()["events_stored"] == 30 * 40
    logged = log.read_bytes()
    assert b"/v1/users/{user_id}/recommendations" in logged  # the access log is there ...
    assert [s for s in secrets if s in logged] == []  # ... and names no id or item
