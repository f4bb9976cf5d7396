"""Fixtures for the service: a tiny trained run on synthetic data, apps on fresh databases,
event stores of every kind (SQLite, PostgreSQL), real servers."""

from __future__ import annotations

import contextlib
import glob
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import torch

import chronorec
from chronorec.runs.checkpoint import load_model, save_model
from tests.conftest import synthetic_sequences, write_prepared

if TYPE_CHECKING:
    from typing_extensions import Self

# fastapi, httpx and the rest come with the `serve` extra: imported where used, so that the tests
# of the store, index and engine run without them (the HTTP tests skip themselves).

API_KEY = "test-key"
POSTGRES_ENV = "CHRONOREC_TEST_POSTGRES_URL"
_POSTGRES_SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "postgres.sh"


def train_run(root: Path, model: str = "sasrec", **params: object) -> Path:
    """A one-epoch run on the synthetic ring data (60 users, 40 items)."""
    data = write_prepared(root / "data", synthetic_sequences())
    model_params = (
        {"dim": 16, **params} if model in ("sasrec", "gru4rec", "chrono") else dict(params)
    )
    chronorec.train(
        data, out=root / "run", model=model, epochs=1, model_params=model_params, progress=False
    )
    return root / "run"


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_run(tmp_path_factory.mktemp("serve"))


def perturb_checkpoint(run_dir: Path, seed: int) -> None:
    """Write a different checkpoint into ``run_dir`` (as a retrain would), atomically."""
    model, _ = load_model(run_dir)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    save_model(run_dir, model)


@pytest.fixture
def client(run_dir: Path, tmp_path: Path) -> Iterator[Any]:
    """A TestClient of an app with an API key and its own empty event database."""
    from fastapi.testclient import TestClient

    from chronorec.serve.app import create_app

    app = create_app(
        run_dir,
        db=tmp_path / "events.sqlite",
        api_key=API_KEY,
        max_batch=50,
        max_body_bytes=64 * 1024,
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for this session: ``$CHRONOREC_TEST_POSTGRES_URL`` (CI sets it: then a
    missing driver or server fails the tests), else one started with ``.ci/postgres.sh`` when
    PostgreSQL is installed, else the PostgreSQL tests are skipped."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        import psycopg  # noqa: F401 - with the URL set, a missing driver is a failure, not a skip

        yield url
        return
    pytest.importorskip("psycopg", reason="the `postgres` extra is not installed")
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.skip(f"PostgreSQL is not installed and {POSTGRES_ENV} is not set")
    started = subprocess.run(
        ["bash", str(_POSTGRES_SCRIPT), "start"], capture_output=True, text=True, check=True
    )
    exported = dict(re.findall(r"export (\w+)='([^']*)'", started.stdout))
    try:
        yield exported[POSTGRES_ENV]
    finally:
        folder = exported["CHRONOREC_TEST_POSTGRES_DIR"]
        subprocess.run(["bash", str(_POSTGRES_SCRIPT), "stop", folder], capture_output=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of a new, empty database on the test server, dropped afterwards."""
    import psycopg

    name = f"chronorec_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield urllib.parse.urlsplit(postgres_server)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty event store of each kind, by URL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/events.sqlite"
    return str(request.getfixturevalue("postgres_url"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``chronorec.serve.command`` in a child process on a free loopback port.

    Its output (the log) goes to ``log_file`` when given. ``args`` are added to the command line,
    ``env`` to the environment.
    """

    def __init__(
        self,
        run_dir: Path,
        db: Path | str,
        api_key: str | None = API_KEY,
        *,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        log_file: Path | None = None,
        log_level: str = "warning",
    ) -> None:
        self.run_dir, self.db, self.api_key = run_dir, db, api_key
        self.args, self.env, self.log_file, self.log_level = list(args), env, log_file, log_level
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 60.0) -> Self:
        self.launch()
        self._wait_until_up(timeout)
        return self

    def launch(self) -> None:
        """Start the process without waiting for it to answer (see :func:`start_together`)."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "CHRONOREC_API_KEY": self.api_key or "", **(self.env or {})}
        command = [
            sys.executable,
            "-m",
            "chronorec.serve.command",
            str(self.run_dir),
            "--port",
            str(port),
            "--db",
            str(self.db),
            "--log-level",
            self.log_level,
            *self.args,
        ]
        output = open(self.log_file, "ab") if self.log_file else None  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(command, env=env, stdout=output, stderr=output)
        finally:
            if output is not None:
                output.close()  # the child has its own copy

    def _wait_until_up(self, timeout: float) -> None:
        import httpx

        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not come up")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key} if self.api_key else {}


@contextlib.contextmanager
def start_together(*servers: Server, timeout: float = 60.0) -> Iterator[None]:
    """Start ``servers`` at once (their start-ups overlap), stop them all afterwards."""
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server._wait_until_up(timeout)
        yield
    finally:
        for server in servers:
            server.stop()
