#!/usr/bin/env bash
# The browser for the web page's tests (tests/page): Debian's Chromium, and Playwright for Python
# driving it through its own executable (no browser is downloaded; Playwright's `install` step is
# never run).
#
#   bash .ci/chromium.sh [PYTHON]   # PYTHON: the interpreter of the test environment
#                                   # (default .venv/bin/python)
#
# Installs the `chromium` package with apt-get when no `chromium` is on the PATH, and the
# `playwright` package into PYTHON's environment when it cannot import it. Prints nothing else
# on standard output; the tests find Chromium on the PATH (or at $CHRONOREC_CHROMIUM).
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }

python="${1:-.venv/bin/python}"

if ! command -v chromium >/dev/null 2>&1; then
    log "installing Debian's chromium package"
    if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >&2
fi

if ! "$python" -c "import playwright.sync_api" >/dev/null 2>&1; then
    log "installing Playwright for Python into $python's environment"
    "$python" -m pip install -q "playwright>=1.45" >&2
fi

log "ready: $(chromium --version 2>/dev/null | head -n 1)"
