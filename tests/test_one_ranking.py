"""Evaluation, the Python API, the command line and the HTTP service rank through one ranker: for
200 users of a run trained on MovieLens-100K they return the same top-10, in the same order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chronorec
from chronorec.data.split import EvalCases, make_split
from chronorec.evaluation.harness import evaluate_cases
from chronorec.runs.load import load_run

pytestmark = pytest.mark.slow

USERS = 200


@pytest.fixture(scope="module")
def trained(real_data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("one-ranking")
    ml = real_data_root / "ml-100k" / "original"
    data = chronorec.prepare(ml / "u.data", out=root / "data", items=ml / "u.item").out
    chronorec.train(
        data, out=root / "run", model="sasrec", epochs=2, progress=False, model_params={"dim": 32}
    )
    return root / "run"


@pytest.fixture(scope="module")
def client(trained: Path, tmp_path_factory: pytest.TempPathFactory):
    from fastapi.testclient import TestClient

    from chronorec.serve.app import create_app

    app = create_app(trained, db=tmp_path_factory.mktemp("db") / "events.sqlite")
    with TestClient(app) as c:
        yield c


def _same_ranking(got: list[str], want: list[str], scores: list[float]) -> bool:
    """Equal lists, or equal up to the order of items whose scores tie to float precision."""
    if got == want:
        return True
    if sorted(got) != sorted(want):
        return False
    return all(
        g == w or abs(scores[n] - scores[n + 1 if n + 1 < len(scores) else n]) < 1e-5
        for n, (g, w) in enumerate(zip(got, want))
    )


def test_harness_and_service_sessions_agree_on_test_histories(trained: Path, client) -> None:
    run = load_run(trained)
    data = run.data
    test = make_split(data, run.config.split).test
    cases = EvalCases(test.users[:USERS], test.targets[:USERS])
    top = evaluate_cases(run.model, data, cases, max_len=run.config.max_len).top_items[:, :10]
    for row, (u, end) in enumerate(zip(cases.users, cases.targets)):
        lo = max(int(data.offsets[u]), int(end) - run.config.max_len)
        session = [
            {"item_id": str(data.item_ids[i]), "timestamp": float(t)}
            for i, t in zip(data.items[lo:end].tolist(), data.timestamps[lo:end].tolist())
        ]
        body = client.post("/v1/recommendations", json={"items": session, "k": 10}).json()
        got = [r["item_id"] for r in body["recommendations"]]
        want = [str(data.item_ids[i]) for i in top[row].tolist()]
        assert _same_ranking(got, want, [r["score"] for r in body["recommendations"]]), (
            u,
            got,
            want,
        )


def test_api_cli_and_service_agree_after_the_whole_history(trained: Path, client) -> None:
    run = load_run(trained)
    users = [str(u) for u in run.data.user_ids[1 : USERS + 1]]
    for user in users:
        api = [r.item_id for r in chronorec.recommend(run, user, k=10)]
        body = client.get(f"/v1/users/{user}/recommendations", params={"k": 10}).json()
        served = [r["item_id"] for r in body["recommendations"]]
        assert not body["fallback"]
        assert _same_ranking(served, api, [r["score"] for r in body["recommendations"]]), user
    for user in users[:3]:  # the command line prints what the API returns
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "chronorec",
                "recommend",
                str(trained),
                "--user",
                user,
                "-k",
                "10",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert [r["item_id"] for r in json.loads(out)["recommendations"]] == [
            r.item_id for r in chronorec.recommend(run, user, k=10)
        ]


def test_unknown_users_get_popular_items_everywhere(trained: Path, client) -> None:
    run = load_run(trained)
    api = chronorec.recommend(run, "no-such-user", k=5)
    body = client.get("/v1/users/no-such-user/recommendations", params={"k": 5}).json()
    assert api.fallback and body["fallback"]
    assert [r.item_id for r in api] == [r["item_id"] for r in body["recommendations"]]
    counts = np.bincount(run.data.items, minlength=run.data.num_items + 1)
    assert counts[run.data.item_index(api[0].item_id)] == counts[1:].max()
