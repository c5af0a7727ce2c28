#!/bin/bash
# The benchmarks' bad flags: a non-zero exit and one line on stderr naming the flag and value; and a
# good command line of train_step_bench and of dist_step_bench (a world of one rank) prints its figures.
set -uo pipefail
optimizer_bench="$1"
host_bench="$2"
train_bench="$3"
dist_bench="$4"
python="$5"
source qres/tests/test_lib.sh
err="$(fresh_work_dir bench)/err"
expect_error() {
  local want="$1"; shift
  if "$@" >/dev/null 2>"$err"; then fail "$* succeeded"; return; fi
  if [[ $(wc -l <"$err") -ne 1 ]] || ! grep -qF -- "$want" "$err"; then
    fail "$*: expected one line with '$want', got: $(cat "$err")"
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
expect_error "train_step_bench: --cuda_graphs needs --device=cuda and a --config=cuda build" "$train_bench" --cuda_graphs
# A good command line prints one figure: the median milliseconds per step.
if ! "$train_bench" --net=ResNet --net_params=layers=1 --channels=3 --size=8 --batch=2 --algo=SGD \
    --momentum=0.9 --steps=2 2>"$err" | grep -qE '^[0-9]+\.[0-9]{4}$'; then
  fail "train_step_bench did not print a time: $(cat "$err")"
fi
expect_error "dist_step_bench: --threads=0: must be at least 1" "$dist_bench" --threads=0
expect_error "dist_step_bench: start it with torchrun --no-python (RANK and WORLD_SIZE are not set)" "$dist_bench"
expect_error "dist_step_bench: --batch=15 does not split over 2 ranks" \
  env RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1234 "$dist_bench" --batch=15
# A world of one rank prints its line.
if ! RANK=0 WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=$(free_port) timeout 60 "$dist_bench" --net=CNN --batch=4 --steps=5 \
    2>"$err" | grep -qE '^ranks 1 step_ms [0-9.]+ images_per_s [0-9.]+ allreduce_ms [0-9.]+ params 50186$'; then
  fail "dist_step_bench did not print its line: $(cat "$err")"
fi
finish "all bench flag checks passed"
