#!/bin/bash
# The wheel installs with pip (which checks its RECORD) into a fresh virtual environment that sees
# the system's torch, and qres imports and steps from there, away from the source tree.
set -euo pipefail
source qres/tests/test_lib.sh
wheel="$1"
python="$2"
work=$(fresh_work_dir wheel)
"$python" -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install --no-deps --no-index --ignore-installed --quiet "$wheel" || fail "pip refused the wheel"
cd "$work"
"$work/venv/bin/python" - "$work/venv" <<'PY' || fail "the installed package does not step"
import sys
import torch
import qres
assert qres.__file__.startswith(sys.argv[1]), qres.__file__
p = torch.nn.Parameter(torch.ones(3))
optimizer = qres.optim.QtAdamW([p], lr=0.1, qp=2)
p.grad = torch.tensor([1.0, -1.0, 0.5])
optimizer.step()
assert not torch.equal(p.detach(), torch.ones(3)), p
print("stepped:", p.detach().tolist(), "index", optimizer.index)
PY
finish "the wheel installs and steps"
