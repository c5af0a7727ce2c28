#!/bin/sh
# Fails when tools/golden/make_golden.py would now write different golden files than those checked
# in (the script or torch changed without regenerating them).
set -eu
python="$1"
exec "$python" tools/golden/make_golden.py --check qres/tests/golden
