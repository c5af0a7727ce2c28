#!/bin/bash
# qres.optim from Python (tests/optim_test.py), with the package as Bazel built it. The script is
# not beside the package's source folder: Python puts the script's real folder first on its path.
set -euo pipefail
python="$1"
# torch.compile's kernels cache in the test's own folder: the two CPU variants of this test must not
# share one (a header built for one ATen CPU capability breaks the other's build).
export TORCHINDUCTOR_CACHE_DIR="${TEST_TMPDIR:-$(mktemp -d)}/inductor"
PYTHONPATH="$PWD/qres/python" exec "$python" qres/python/tests/optim_test.py
