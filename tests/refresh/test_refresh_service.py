"""The loop closed end to end: serve a run, post events that bring new items, `chronorec refresh`
from the service's store with `--reload`, and the new items are recommended."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import chronorec
from chronorec.cli import app
from tests.conftest import synthetic_sequences, write_prepared
from tests.serve.conftest import API_KEY, Server

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

NEW_ITEMS = ["new-0", "new-1", "new-2"]


def walk_into_new_items(server: Server) -> None:
    """Many users, old and new, who go from i5 to the new items, one after the other."""
    now = time.time() - 3600
    events = []
    for u in range(60):
        user = f"u{u}" if u < 30 else f"fresh-user-{u}"
        for n, item in enumerate(["i4", "i5", *NEW_ITEMS]):
            events.append({"user_id": user, "item_id": item, "timestamp": now + 60 * u + n})
    for lo in range(0, len(events), 50):
        answer = httpx.post(
            f"{server.url}/v1/events", json={"events": events[lo : lo + 50]}, headers=server.headers
        )
        assert answer.status_code in (200, 201, 202), answer.text


def top_items(server: Server, user: str, k: int = 10) -> list[str]:
    answer = httpx.get(
        f"{server.url}/v1/users/{user}/recommendations", params={"k": k}, headers=server.headers
    )
    assert answer.status_code == 200, answer.text
    return [r["item_id"] for r in answer.json()["recommendations"]]


@pytest.mark.slow
def test_refresh_from_the_store_then_reload_recommends_the_new_items(tmp_path: Path) -> None:
    data = write_prepared(tmp_path / "data", synthetic_sequences())
    run = tmp_path / "run"
    chronorec.train(data, out=run, epochs=3, model_params={"dim": 16}, progress=False)
    db = tmp_path / "events.sqlite"
    with Server(run, db) as server:
        walk_into_new_items(server)
        # A user who just took i4 and i5: the frozen model cannot know what came next.
        httpx.post(
            f"{server.url}/v1/events",
            json={"events": [{"user_id": "probe", "item_id": i} for i in ("i4", "i5")]},
            headers=server.headers,
        )
        assert not set(top_items(server, "probe")) & set(NEW_ITEMS)
        version = httpx.get(f"{server.url}/healthz").json().get("model_version")

        out = tmp_path / "refreshed"
        result = CliRunner().invoke(
            app,
            [
                "refresh",
                str(run),
                "--events",
                str(db),
                "--out",
                str(out),
                "--epochs",
                "15",
                "--lr",
                "0.01",
                "--reload",
                server.url,
                "--api-key",
                API_KEY,
                "--no-progress",
            ],
        )
        assert result.exit_code == 0, result.output
        assert httpx.get(f"{server.url}/healthz").json().get("model_version") != version
        # The probe's history is read again under the new model: new-0 follows i5 now.
        assert "new-0" in top_items(server, "probe", k=5)
        # Events already merged into the new run's data are not read twice from the store.
        fresh = httpx.get(
            f"{server.url}/v1/users/fresh-user-40/recommendations", headers=server.headers
        )
        assert fresh.status_code == 200 and not fresh.json()["fallback"]
