#!/bin/bash
# A run's outputs at rest are one set at every instant a kill can land: train is SIGKILLed right
# after each of its renames in turn. After each kill, report reads the run as its checkpoint has it
# (the metrics, error trend and log are never behind the checkpoint, which is renamed last), and
# --resume ends with the uninterrupted run's model and metrics, bit for bit.
set -uo pipefail
train="$1"
report="$2"
python="$3"
shim="$PWD/qres/tests/kill_at_rename.so"
source qres/tests/test_lib.sh
work=$(fresh_work_dir kill)
mkdir -p "$work/data" && "$python" qres/tests/tiny_mnist.py "$work/data" 48 16
run=(-d MNIST --data_dir="$work/data" -n CNN -m QtAdamW -e 3 -b 16 --tensorboard=off --progress=off --threads=1)
"$train" "${run[@]}" --out_dir="$work/whole" >/dev/null 2>&1 || fail "the uninterrupted run failed"

epochs_in() {  # the epochs each of a folder's files holds: metrics error log
  "$python" - "$1" <<'PY'
import pickle, sys
d = sys.argv[1]
metrics = sum(1 for l in open(f"{d}/metrics_CNNQtAdamW3.jsonl") if l.strip())
error = len(pickle.load(open(f"{d}/error_CNNQtAdamW3.pickle", "rb")))
log = sum(1 for l in open(f"{d}/operation_CNNQtAdamW3.txt") if l.startswith("[Epoch :"))
print(metrics, error, log)
PY
}

kills=0
for k in $(seq 1 40); do
  dir="$work/k$k"
  QRES_KILL_AT_RENAME=$k LD_PRELOAD="$shim" "$train" "${run[@]}" --out_dir="$dir" >/dev/null 2>&1
  code=$?
  ((code == 0)) && break  # past the run's last rename
  ((code == 137)) || { fail "kill at rename $k: exit $code, not 137 (SIGKILL)"; break; }
  kills=$((kills + 1))
  [[ -f "$dir/checkpoint_CNNQtAdamW3.pt" ]] || continue  # killed before the first epoch's set
  # What report reads: the checkpoint's epochs. The other files hold at least as many.
  # A finished run is compared; an unfinished one is named with the checkpoint's epoch count.
  if "$report" --out="$work/r$k" "$dir" >"$work/r$k.out" 2>&1 && ! grep -q "not finished" "$work/r$k.out"; then
    held=3
  else
    held=$(grep -o "([0-9]* of 3 epochs)" "$work/r$k.out" | tr -dc '0-9\n' | head -c 1)
  fi
  [[ -n "$held" ]] || { fail "kill at rename $k: report read no epochs: $(cat "$work/r$k.out")"; continue; }
  read -r metrics error log <<<"$(epochs_in "$dir")"
  ((metrics >= held && error >= held && log >= held)) \
    || fail "kill at rename $k: the checkpoint holds $held epochs, metrics $metrics, error $error, log $log"
  "$train" "${run[@]}" --out_dir="$dir" --resume >/dev/null 2>"$work/resume$k.err" \
    || { fail "kill at rename $k: --resume failed: $(cat "$work/resume$k.err")"; continue; }
  cmp -s "$dir/torch_nn02CNNQtAdamW3.pt" "$work/whole/torch_nn02CNNQtAdamW3.pt" || fail "kill at rename $k: another model"
  diff <(cut -d, -f1-6 "$dir/metrics_CNNQtAdamW3.jsonl") <(cut -d, -f1-6 "$work/whole/metrics_CNNQtAdamW3.jsonl") >/dev/null \
    || fail "kill at rename $k: other metrics"
done
# Three epochs of four renames each, then the model and the log.
((kills >= 14)) || fail "only $kills renames were killed at"
finish "a kill at each of $kills renames leaves one set, and --resume ends where the whole run does"
