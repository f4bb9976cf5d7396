"""Fixtures for the ingest tests: small hand-written logs and the location of the real datasets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_root(real_data_root: Path) -> Path:
    """The real datasets (located by ``tests/conftest.py``); the tests skip if absent."""
    return real_data_root


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write a file under tmp_path/in (text is written as UTF-8) and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """Output dataset folder inside its own parent, so leftovers in the parent are easy to spot."""
    return tmp_path / "outs" / "ds"


@pytest.fixture
def assert_no_output() -> Callable[[Path], None]:
    """A check that neither the dataset folder nor any temporary beside it exists."""

    def _check(out: Path) -> None:
        assert not out.exists()
        if out.parent.exists():
            assert list(out.parent.iterdir()) == []

    return _check
