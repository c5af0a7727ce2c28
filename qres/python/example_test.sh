#!/bin/bash
# examples/python/torch_nn02.py trains a tiny MNIST for 2 epochs with the built package and writes
# the seed's three files; a missing data folder is one line.
set -euo pipefail
source qres/tests/test_lib.sh
python="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"  # absolute: the test changes folder
root="$PWD"
work=$(fresh_work_dir example)
mkdir -p "$work/data" && "$python" qres/tests/tiny_mnist.py "$work/data" 64 16
cd "$work"
PYTHONPATH="$root/qres/python" "$python" "$root/examples/python/torch_nn02.py" -d MNIST -e 2 -n CNN -qp 2 -m QtAdamW \
  --data_dir="$work/data" >"$work/out" 2>&1 || fail "the example failed: $(cat "$work/out")"
[[ $(grep -c "^\[Epoch :    [12]\] cost = .*QP Index: " "$work/out") -eq 2 ]] || fail "two epoch lines: $(cat "$work/out")"
for file in torch_nn02CNNQtAdamW.pt error_CNNQtAdamW2.pickle operation_CNNQtAdamW2.txt; do
  [[ -s "$work/$file" ]] || fail "$file was not written"
done
"$python" -c "import pickle; costs = pickle.load(open('error_CNNQtAdamW2.pickle', 'rb')); assert len(costs) == 2, costs" \
  || fail "the error trend should hold 2 costs"
if PYTHONPATH="$root/qres/python" "$python" "$root/examples/python/torch_nn02.py" --data_dir="$work/nowhere" \
    >/dev/null 2>"$work/err"; then
  fail "no data should fail"
fi
grep -q "^torch_nn02.py: no train-images-idx3-ubyte\[.gz\] in --data_dir=$work/nowhere$" "$work/err" \
  || fail "no data: $(cat "$work/err")"
finish "the Python example trains and writes the seed's files"
