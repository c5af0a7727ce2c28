#!/bin/bash
# qres.optim from Python (tests/optim_test.py), with the package as Bazel built it. The script is
# not beside the package's source folder: Python puts the script's real folder first on its path.
set -euo pipefail
python="$1"
PYTHONPATH="$PWD/qres/python" exec "$python" qres/python/tests/optim_test.py
