"""Fixtures for the service: a tiny trained run on synthetic data, apps on fresh databases, real servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import chronorec
from chronorec.runs.checkpoint import load_model, save_model
from tests.conftest import synthetic_sequences, write_prepared

# fastapi, httpx and the rest come with the `serve` extra: imported where used, so that the tests
# of the store, index and engine run without them (the HTTP tests skip themselves).

API_KEY = "test-key"


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``chronorec.serve.command`` in a child process on a free loopback port."""

    def __init__(self, run_dir: Path, db: Path, api_key: str | None = API_KEY) -> None:
        self.run_dir, self.db, self.api_key = run_dir, db, api_key
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 60.0) -> Server:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "CHRONOREC_API_KEY": self.api_key or ""}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chronorec.serve.command",
                str(self.run_dir),
                "--port",
                str(port),
                "--db",
                str(self.db),
                "--log-level",
                "warning",
            ],
            env=env,
        )
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
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

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key} if self.api_key else {}
