"""Fixtures for the web page: briefly trained MovieLens-100K runs, real servers, a real browser.

The browser is Debian's Chromium driven by Playwright for Python (``.ci/chromium.sh`` installs
both); the tests skip only when no Chromium is installed. Screenshots go to
``$CHRONOREC_SCREENSHOTS`` when set, else to a pytest temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

import chronorec
from chronorec.data import registry
from tests.page.browser import PageServer, Watched, chromium_path, open_page

# Tiny and quick: one epoch with sampled negatives trains each model in seconds on two cores.
TRAINING = {
    "epochs": 1,
    "max_len": 20,
    "batch_size": 256,
    "loss": "sampled",
    "negatives": 64,
    "model_params": {"dim": 16, "layers": 1},
    "progress": False,
}


@pytest.fixture(scope="session")
def page_runs(
    tmp_path_factory: pytest.TempPathFactory, real_data_root: Path, worker_id: str
) -> dict[str, Path]:
    """MovieLens-100K prepared, and a multiscale and an interests run trained on it: once per
    test session, shared by the workers of ``pytest -n`` (the first one trains, under a lock)."""
    base = tmp_path_factory.getbasetemp()
    root = (base if worker_id == "master" else base.parent) / "page-runs"
    root.mkdir(exist_ok=True)
    with FileLock(str(root / ".lock")):
        runs = {model: root / model for model in ("multiscale", "interests")}
        if not all((run / "metrics.json").is_file() for run in runs.values()):
            prepared = registry.prepare_known(
                "ml-100k", root / "ml-100k", data_root=real_data_root, download=False
            )
            for model, run in runs.items():
                chronorec.train(prepared.out, out=run, model=model, **TRAINING)
    return runs


def _serve(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    server = PageServer(run_dir, tmp_path_factory.mktemp("page-server"))
    try:
        yield server.wait()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def multiscale_server(
    page_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PageServer]:
    yield from _serve(page_runs["multiscale"], tmp_path_factory)


@pytest.fixture(scope="session")
def interests_server(
    page_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PageServer]:
    yield from _serve(page_runs["interests"], tmp_path_factory)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (.ci/chromium.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("CHRONOREC_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp("screenshots")


def _watch(browser: Any, server: PageServer) -> Iterator[Watched]:
    """A tab on ``server``; afterwards, no error logged and nothing asked of another host."""
    watched = open_page(browser, server)
    yield watched
    watched.page.context.close()
    assert watched.errors == []
    assert watched.foreign_requests() == []


@pytest.fixture
def tab(browser: Any, multiscale_server: PageServer) -> Iterator[Watched]:
    yield from _watch(browser, multiscale_server)


@pytest.fixture
def interests_tab(browser: Any, interests_server: PageServer) -> Iterator[Watched]:
    yield from _watch(browser, interests_server)
