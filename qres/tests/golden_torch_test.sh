#!/bin/bash
# The cases that follow torch.optim through ATen (Adam, AdamW form=torch, NAdam, RAdam, ASGD):
# torch.optim itself writes their trajectories here and now, on this CPU and under this test's
# environment (golden_torch_test_aten_default: ATen's scalar kernels), and golden_test's
# binary checks qres against them bit for bit. Their bits depend on the CPU, so none are checked in.
set -euo pipefail
golden_test="$1"
python="$2"
out="${TEST_TMPDIR:-$(mktemp -d)}/torch_cases"
"$python" tools/golden/make_golden.py --torch_cases "$out" >/dev/null
QRES_GOLDEN_DIR="$out" exec "$golden_test"
