#!/bin/bash
# PyTorch's optimizer conventions on qres.optim (tests/conventions_test.py), with the package as
# Bazel built it.
set -euo pipefail
python="$1"
PYTHONPATH="$PWD/qres/python" exec "$python" qres/python/tests/conventions_test.py
