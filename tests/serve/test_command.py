"""``chronorec serve`` without the `serve` extra: one line naming the install command, exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from chronorec.errors import ChronorecError
from chronorec.serve.command import SERVE_EXTRA_MISSING, serve


@pytest.mark.parametrize("module", ["fastapi", "uvicorn", "prometheus_client", "fastapi_offline"])
def test_serve_without_the_extra_says_how_to_install_it(
    module: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import of it fails, as when not installed
    with pytest.raises(ChronorecError) as caught:
        serve(tmp_path)
    assert str(caught.value) == SERVE_EXTRA_MISSING
    assert "pip install 'chronorec[serve]'" in SERVE_EXTRA_MISSING


def test_the_cli_turns_it_into_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from chronorec import cli

    monkeypatch.setitem(sys.modules, "uvicorn", None)
    monkeypatch.setattr(sys, "argv", ["chronorec", "serve", str(tmp_path)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == f"chronorec: error: {SERVE_EXTRA_MISSING}" and "Traceback" not in err
