"""The README's quick tour and Python example, run from the main job's output folders.

The main job (scripts/main.sh) runs first with a one-epoch schedule; then every command of the
tour runs as written, in the folder the main job wrote, with two changes only: `--epochs N` becomes
`--epochs 1` and the service listens on a free port. Then the Python example runs there too.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

README = REPO / "README.md"
VENV_BIN = Path(sys.executable).parent  # `chronorec` and the tools beside this interpreter
ASSIGNMENT = re.compile(r"(export\s+)?[A-Za-z_]\w*=\S")


def readme_block(heading: str, language: str) -> str:
    """The first ```language block after the README line that starts with ``heading``."""
    text = README.read_text()
    start = text.index("\n" + heading)
    match = re.compile(rf"^```{language}\n(.*?)^```", re.S | re.M).search(text, start)
    assert match, f"no {language} block after {heading}"
    return match.group(1)


def shell_commands(block: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and blank lines left
    out (a comment after a command stays; bash ignores it)."""
    commands, current = [], ""
    for line in block.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1].rstrip() + " "
            continue
        commands.append(current)
        current = ""
    return commands


def run_main_job(root: Path, data_root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/main.sh, copied into ``root`` so that it writes there, run with this virtualenv."""
    (root / "scripts").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "scripts" / "main.sh", root / "scripts" / "main.sh")
    environment = {
        **os.environ,
        "CHRONOREC_DATA": str(data_root),
        "CHRONOREC_VENV": sys.prefix,
        **env,
    }
    return subprocess.run(
        ["bash", "scripts/main.sh"], cwd=root, env=environment, capture_output=True, text=True
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the service stopped:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"the service did not answer in time:\n{log.read_text()[-3000:]}")


def shortened(command: str, port: int) -> str:
    """One epoch instead of many, the free port, and curl failing on an HTTP error status."""
    command = re.sub(r"--epochs \d+", "--epochs 1", command)
    command = re.sub(r"\b8000\b", str(port), command)
    return re.sub(r"^curl -s\b", "curl -sS --fail-with-body", command)


@pytest.fixture(scope="module")
def main_job(tmp_path_factory: pytest.TempPathFactory, real_data_root: Path) -> Path:
    root = tmp_path_factory.mktemp("main-job")
    proc = run_main_job(root, real_data_root, EPOCHS="1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def test_the_readme_tour_and_python_example_run_from_the_main_jobs_folders(
    main_job: Path, real_data_root: Path
) -> None:
    # One test, not two: with pytest-xdist a second test could land on another worker and run
    # the main job again.
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "CHRONOREC_DATA": str(real_data_root),
    }
    port, log = free_port(), main_job / "serve.log"
    preamble = ["set -euo pipefail"]  # the tour's variables, set before each command
    server = None
    try:
        for command in shell_commands(readme_block("## A quick tour", "bash")):
            command = shortened(command, port)
            if ASSIGNMENT.match(command):
                preamble.append(command)
            elif command.startswith("chronorec serve"):
                script = "\n".join([*preamble, "exec " + command])
                with log.open("w") as out:
                    server = subprocess.Popen(
                        ["bash", "-c", script],
                        cwd=main_job,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                wait_until_serving(port, server, log)
            else:
                script = "\n".join([*preamble, command])
                proc = subprocess.run(
                    ["bash", "-c", script], cwd=main_job, env=env, capture_output=True, text=True
                )
                assert proc.returncode == 0, (
                    f"{command}\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
                )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
    assert server is not None, "the tour starts the service"

    code = re.sub(r"epochs=\d+", "epochs=1", readme_block("## The Python API", "python"))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=main_job, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
