"""Who may do what: writes need the API key; a user's events need it or the read key; so do
recommendations unless the server leaves them open; keys come from the environment or a file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the `serve` extra is not installed")

from fastapi.testclient import TestClient

from chronorec.errors import ChronorecError
from chronorec.serve.app import create_app
from chronorec.serve.command import API_KEY_ENV, READ_KEY_ENV, resolve_key
from tests.serve.conftest import API_KEY

READ_KEY = "read-only-key"
READS = [
    ("get", "/v1/users/u3/events", {}),
    ("get", "/v1/users/u3/recommendations", {}),
    ("get", "/v1/items/i1/similar", {}),
    ("post", "/v1/recommendations", {"json": {"items": ["i1"]}}),
]
RECOMMENDATIONS = READS[1:]


@pytest.fixture
def app_with(run_dir: Path, tmp_path: Path) -> Iterator:
    clients: list[TestClient] = []

    def make(**options: object) -> TestClient:
        app = create_app(run_dir, db=tmp_path / f"events-{len(clients)}.sqlite", **options)
        clients.append(TestClient(app).__enter__())
        return clients[-1]

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def status(client: TestClient, method: str, url: str, kwargs: dict, key: str | None) -> int:
    headers = {"X-API-Key": key} if key else {}
    return int(getattr(client, method)(url, headers=headers, **kwargs).status_code)


@pytest.mark.parametrize("method,url,kwargs", READS)
def test_reads_need_the_api_key_or_the_read_key(app_with, method: str, url: str, kwargs: dict):
    client = app_with(api_key=API_KEY, read_key=READ_KEY)
    assert status(client, method, url, kwargs, None) == 401
    assert status(client, method, url, kwargs, "wrong") == 401
    assert status(client, method, url, kwargs, READ_KEY) == 200
    assert status(client, method, url, kwargs, API_KEY) == 200


def test_the_read_key_does_not_write(app_with) -> None:
    client = app_with(api_key=API_KEY, read_key=READ_KEY)
    event = {"user_id": "u3", "item_id": "i1"}
    assert status(client, "post", "/v1/events", {"json": event}, READ_KEY) == 401
    assert status(client, "delete", "/v1/users/u3", {}, READ_KEY) == 401
    assert status(client, "post", "/admin/reload", {}, READ_KEY) == 401
    assert status(client, "post", "/v1/events", {"json": event}, API_KEY) == 200


def test_with_only_an_api_key_reads_need_it(app_with) -> None:
    client = app_with(api_key=API_KEY)
    for method, url, kwargs in READS:
        assert status(client, method, url, kwargs, None) == 401
        assert status(client, method, url, kwargs, API_KEY) == 200


def test_open_recommendations_leave_a_users_events_closed(app_with) -> None:
    client = app_with(api_key=API_KEY, open_recommendations=True)
    for method, url, kwargs in RECOMMENDATIONS:
        assert status(client, method, url, kwargs, None) == 200
    assert status(client, "get", "/v1/users/u3/events", {}, None) == 401


def test_a_server_without_keys_is_open_and_health_is_always_open(app_with) -> None:
    client = app_with()
    for method, url, kwargs in READS:
        assert status(client, method, url, kwargs, None) == 200
    closed = app_with(api_key=API_KEY)
    for url in ("/healthz", "/metrics", "/docs", "/openapi.json"):
        assert status(closed, "get", url, {}, None) == 200


def test_keys_come_from_the_argument_a_file_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    monkeypatch.delenv(f"{API_KEY_ENV}_FILE", raising=False)
    assert resolve_key(None, None, API_KEY_ENV) is None
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file\n")
    assert resolve_key(None, key_file, API_KEY_ENV) == "from-a-file"
    assert resolve_key("given", key_file, API_KEY_ENV) == "given"
    monkeypatch.setenv(READ_KEY_ENV, "from-the-environment")
    assert resolve_key(None, None, READ_KEY_ENV) == "from-the-environment"
    monkeypatch.setenv(f"{API_KEY_ENV}_FILE", str(key_file))
    assert resolve_key(None, None, API_KEY_ENV) == "from-a-file"
    monkeypatch.setenv(API_KEY_ENV, "from-the-environment")
    assert resolve_key(None, None, API_KEY_ENV) == "from-the-environment"


@pytest.mark.parametrize("content,message", [(None, "cannot read"), ("\n", "is empty")])
def test_a_bad_key_file_is_one_clear_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    key_file = tmp_path / "key"
    if content is not None:
        key_file.write_text(content)
    with pytest.raises(ChronorecError, match=message) as caught:
        resolve_key(None, key_file, API_KEY_ENV)
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_a_server_takes_its_key_from_a_file_and_never_shows_it(
    run_dir: Path, tmp_path: Path
) -> None:
    httpx = pytest.importorskip("httpx")
    from tests.serve.conftest import Server

    key_file = tmp_path / "api-key"
    key_file.write_text("key-from-a-file-7f3a\n")
    server = Server(
        run_dir, tmp_path / "events.sqlite", api_key=None, args=["--api-key-file", str(key_file)]
    )
    with server:
        assert server.proc is not None
        command_line = Path(f"/proc/{server.proc.pid}/cmdline").read_bytes()
        assert b"key-from-a-file" not in command_line  # ps shows the file's name only
        url = f"{server.url}/v1/users/u3/recommendations"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"X-API-Key": "key-from-a-file-7f3a"}).status_code == 200
