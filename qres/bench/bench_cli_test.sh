#!/bin/bash
# The benchmarks' bad flags: a non-zero exit and one line on stderr naming the flag and value.
set -uo pipefail
optimizer_bench="$1"
host_bench="$2"
train_bench="$3"
err="${TEST_TMPDIR:-$(mktemp -d)}/err"
failures=0
expect_error() {
  local want="$1"; shift
  if "$@" >/dev/null 2>"$err"; then echo "FAIL: $* succeeded"; failures=$((failures + 1)); return; fi
  if [[ $(wc -l <"$err") -ne 1 ]] || ! grep -qF -- "$want" "$err"; then
    echo "FAIL: $*: expected one line with '$want', got: $(cat "$err")"; failures=$((failures + 1))
  fi
}
expect_error "optimizer_step_bench: --rounds=0: must be at least 1" "$optimizer_bench" --rounds=0
expect_error "optimizer_step_bench: --steps=-3: must be at least 1" "$optimizer_bench" --steps=-3
expect_error "optimizer_step_bench: --set=vgg: use resnet32, resnet50 or 134m" "$optimizer_bench" --set=vgg
expect_error "optimizer_step_bench: --device=tpu: use cpu or cuda" "$optimizer_bench" --device=tpu
expect_error "optimizer_step_bench: --only=Lion matches no candidate" "$optimizer_bench" --only=Lion
expect_error "fused_step_host_bench: --steps=0: must be at least 1" "$host_bench" --steps=0
expect_error "train_step_bench: --batch=0: must be at least 1" "$train_bench" --batch=0
expect_error "train_step_bench: --device=tpu: use cpu or cuda" "$train_bench" --device=tpu
expect_error "train_step_bench: --momentum=-0.5 must be >= 0" "$train_bench" --momentum=-0.5
expect_error "train_step_bench: unknown net 'VGG'" "$train_bench" --net=VGG
expect_error "train_step_bench: net CNN options (--net_params): unknown key 'layers'" "$train_bench" --net=CNN \
  --net_params=layers=5
expect_error "train_step_bench: unknown algorithm 'Lion'" "$train_bench" --algo=Lion
# A good command line prints one figure: the median milliseconds per step.
if ! "$train_bench" --net=ResNet --net_params=layers=1 --channels=3 --size=8 --batch=2 --algo=SGD \
    --momentum=0.9 --steps=2 2>"$err" | grep -qE '^[0-9]+\.[0-9]{4}$'; then
  echo "FAIL: train_step_bench did not print a time: $(cat "$err")"; failures=$((failures + 1))
fi
if [[ $failures -ne 0 ]]; then echo "$failures failure(s)"; exit 1; fi
echo "all bench flag checks passed"
