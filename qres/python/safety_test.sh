#!/bin/bash
# qres/python/tests/safety_test.py with the package as Bazel built it.
set -euo pipefail
python="$1"
export TORCHINDUCTOR_CACHE_DIR="${TEST_TMPDIR:-$(mktemp -d)}/inductor"
PYTHONPATH="$PWD/qres/python" exec "$python" qres/python/tests/safety_test.py
