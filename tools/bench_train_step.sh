#!/usr/bin/env bash
# qres's CPU training step against the same net, optimizer and batch in Python PyTorch (the torch
# that tools/setup.sh installs), in turns, on this machine. Prints a table with the ratio.
#   tools/bench_train_step.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build -c opt //qres/bench:train_step_bench >/dev/null 2>&1
bench=bazel-bin/qres/bench/train_step_bench
printf '| net | batch | optimizer | PyTorch ms/step | qres ms/step | qres speed-up |\n|---|---|---|---|---|---|\n'
for config in "CNN 100 Adam" "CNN 100 SGD" "LeNet 100 Adam" "LeNet 128 SGD"; do
  read -r net batch algo <<<"$config"
  args=(--net="$net" --batch="$batch" --algo="$algo" --steps=60)
  # Alternate the two, five rounds each, and keep each one's best median: other load on the
  # machine then costs both alike.
  best_py=1e9; best_qres=1e9
  for round in 1 2 3 4 5; do
    py=$(python3 tools/bench_train_step.py "${args[@]}" 2>/dev/null)
    qres=$("$bench" "${args[@]}")
    best_py=$(python3 -c "print(min($best_py, $py))")
    best_qres=$(python3 -c "print(min($best_qres, $qres))")
  done
  python3 -c "print(f'| $net | $batch | $algo | {$best_py:.3f} | {$best_qres:.3f} | {$best_py / $best_qres:.2f}x |')"
done
