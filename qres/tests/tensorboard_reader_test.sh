#!/bin/bash
# train's TensorBoard event files, read back with the tensorboard package's own reader: the tags,
# steps and values equal the run's metrics file; a folder that cannot be written is a one-line
# warning, never a failed run; runs that share a folder keep their own files.
set -uo pipefail
train="$1"
python="$2"
source qres/tests/test_lib.sh
work=$(fresh_work_dir tensorboard)
mkdir -p "$work/data"

# A tiny MNIST (64 training images, 16 test images) in the official gzipped IDX format.
"$python" qres/tests/tiny_mnist.py "$work/data" 64 16

# 64 images in batches of 16: 4 steps per epoch, 3 epochs; step scalars every 3 steps.
args=(-d MNIST --data_dir="$work/data" -m QtAdamW -qp 2 -e 3 -b 16 -l 0.01 --scheduler=exp
      --scheduler_params=gamma=0.5 --tensorboard_every=3 --threads=1)
"$train" "${args[@]}" --out_dir="$work/out" >/dev/null 2>"$work/err" || fail "train failed: $(cat "$work/err")"

"$python" - "$work/out" <<'PY' || fail "the event files do not match the metrics"
import glob, json, math, sys
from tensorboard.backend.event_processing import event_accumulator
out = sys.argv[1]
runs = glob.glob(f"{out}/tensorboard/*")
assert len(runs) == 1 and runs[0].endswith("/CNNQtAdamW3"), runs
acc = event_accumulator.EventAccumulator(runs[0], size_guidance={event_accumulator.SCALARS: 0})
acc.Reload()
metrics = [json.loads(line) for line in open(f"{out}/metrics_CNNQtAdamW3.jsonl")]
def check(tag, want, abs_tol=1e-9):  # event values are float32; the metrics print a few digits
    got = [(e.step, e.value) for e in acc.Scalars(tag)]
    assert [s for s, _ in got] == [s for s, _ in want], (tag, got, want)
    for (_, g), (_, w) in zip(got, want):
        assert math.isclose(g, w, rel_tol=1e-6, abs_tol=abs_tol), (tag, got, want)
for tag, key in (("epoch/loss", "loss"), ("epoch/train_accuracy", "train_accuracy"),
                 ("epoch/test_accuracy", "test_accuracy"), ("epoch/lr", "lr"),
                 ("epoch/quant_index", "quant_index")):
    check(tag, [(m["epoch"], m[key]) for m in metrics])
check("epoch/images_per_second", [(m["epoch"], m["images_per_second"]) for m in metrics], abs_tol=0.051)
check("step/lr", [(3, 0.01), (6, 0.005), (9, 0.0025), (12, 0.0025)])
for tag in ("step/loss", "step/quant_index"):
    assert [e.step for e in acc.Scalars(tag)] == [3, 6, 9, 12], tag
assert set(acc.Tags()["scalars"]) == {"epoch/loss", "epoch/train_accuracy", "epoch/test_accuracy", "epoch/lr",
                                      "epoch/quant_index", "epoch/images_per_second", "step/loss", "step/lr",
                                      "step/quant_index"}, acc.Tags()["scalars"]
PY

# Where no folder can be made: one warning line, and the run still finishes with its outputs.
touch "$work/a_file"
if "$train" "${args[@]}" --out_dir="$work/out2" --tensorboard="$work/a_file/tb" >/dev/null 2>"$work/err"; then
  [[ $(wc -l <"$work/err") -eq 1 ]] && grep -q "^train: warning: no TensorBoard files: $work/a_file/tb/CNNQtAdamW3_[0-9a-f]\{8\}: cannot create it" \
    "$work/err" || fail "expected one warning line, got: $(cat "$work/err")"
  [[ -f "$work/out2/torch_nn02CNNQtAdamW3.pt" ]] || fail "the run without TensorBoard files wrote no model"
else
  fail "an unwritable --tensorboard failed the run: $(cat "$work/err")"
fi
"$train" "${args[@]}" --out_dir="$work/out3" --tensorboard=off >/dev/null 2>&1 || fail "--tensorboard=off failed"
[[ ! -e "$work/out3/tensorboard" ]] || fail "--tensorboard=off still wrote event files"
"$train" "${args[@]}" --out_dir="$work/out4" --tensorboard=OFF >/dev/null 2>&1 || fail "--tensorboard=OFF failed"
[[ ! -e OFF && ! -e "$work/out4/tensorboard" ]] || fail "--tensorboard=OFF wrote event files (a folder OFF)"

# One --tensorboard folder shared by runs of one name in two out_dirs (as a sweep's seeds are): each
# keeps its own event files; a run started over (--overwrite) replaces only its own.
shared=(-d MNIST --data_dir="$work/data" -m SGD -e 1 -b 16 --threads=1 --tensorboard="$work/shared")
"$train" "${shared[@]}" --out_dir="$work/seed1" --seed=1 >/dev/null 2>&1 || fail "shared, seed 1 failed"
"$train" "${shared[@]}" --out_dir="$work/seed2" --seed=2 >/dev/null 2>&1 || fail "shared, seed 2 failed"
runs=("$work"/shared/CNNSGD1_*)
[[ ${#runs[@]} -eq 2 ]] || fail "two out_dirs, one TensorBoard folder: ${#runs[@]} run folder(s): ${runs[*]}"
for run in "${runs[@]}"; do
  [[ $(ls "$run" | grep -c "^events.out.tfevents.") -eq 1 ]] || fail "$run lost its event file: $(ls "$run")"
done
before=$(ls "$work"/shared/CNNSGD1_*/)
"$train" "${shared[@]}" --out_dir="$work/seed1" --seed=1 --overwrite >/dev/null 2>&1 || fail "shared, seed 1 again failed"
[[ $(ls "$work"/shared/CNNSGD1_* | grep -c "^events.out.tfevents.") -eq 2 ]] || fail "after --overwrite: $(ls "$work"/shared/*)"
[[ "$(ls "$work"/shared/CNNSGD1_*/)" != "$before" ]] || fail "the overwritten run kept its old event file"

finish "TensorBoard files check out"
