#!/bin/bash
# bazel run //qres/python:install: installs the wheel into the python3 that has torch (the one
# tools/setup.sh installed it into), replacing an earlier qres.
set -euo pipefail
wheel="$1"
python="$2"
"$python" -m pip install --no-deps --force-reinstall --no-index --quiet --root-user-action=ignore "$wheel"
"$python" -c "import qres, torch; print('qres installed:', qres.__file__, '(torch ' + torch.__version__ + ')')"
