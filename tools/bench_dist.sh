#!/usr/bin/env bash
# Data-parallel scaling on this machine: dist_step_bench on 1 rank and on 2 ranks (torchrun, Gloo
# on loopback, one thread each) for the CNN and ResNet-20, with the gradients summed during
# backward (c10d's Reducer, 25 MiB buckets) and in one allreduce after backward; and one allreduce
# of all the gradients through qres's c10d beside the same size through Python's torch.distributed.
# Three rounds in turns, each figure's best. Prints a Markdown table.
#   tools/bench_dist.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build -c opt //qres/bench:dist_step_bench >/dev/null 2>&1
bench=bazel-bin/qres/bench/dist_step_bench
export OMP_NUM_THREADS=1
free_port() { python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
launch() {  # launch N args...: torchrun on N ranks of this machine
  local n="$1"; shift
  python3 -m torch.distributed.run --nproc_per_node="$n" --master_addr=127.0.0.1 --master_port="$(free_port)" "$@" 2>/dev/null
}
field() { awk -v key="$1" '{for (i = 1; i < NF; i++) if ($i == key) print $(i + 1)}'; }

printf '| net | global batch | 1 rank img/s | 2 ranks img/s (overlapped) | efficiency | 2 ranks img/s (after backward) | allreduce of all gradients: qres ms | PyTorch ms |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for config in "CNN 100 1 28 -" "ResNet-20 128 3 32 layers=3"; do
  read -r name batch channels size net_params <<<"$config"
  net=${name%%-*}
  args=(--net="$net" --batch="$batch" --channels="$channels" --size="$size" --steps=30)
  [[ "$net_params" != "-" ]] && args+=(--net_params="$net_params")
  # Three rounds in turns, keeping each figure's best: other load on this 2-core machine (and where
  # the scheduler puts the Gloo threads) then costs every variant alike.
  best='{"one": 0, "two": 0, "after": 0, "qres_ms": 1e9, "python_ms": 1e9}'
  for round in 1 2 3; do
    one=$(launch 1 --no-python "$bench" "${args[@]}")
    two=$(launch 2 --no-python "$bench" "${args[@]}")
    after=$(launch 2 --no-python "$bench" "${args[@]}" --bucket_mb=0)
    numel=$(field params <<<"$two")
    python_ms=$(launch 2 tools/bench_dist_allreduce.py --numel="$numel")
    best=$(python3 -c "
import json; b = json.loads('$best')
b['one'] = max(b['one'], $(field images_per_s <<<"$one")); b['two'] = max(b['two'], $(field images_per_s <<<"$two"))
b['after'] = max(b['after'], $(field images_per_s <<<"$after"))
b['qres_ms'] = min(b['qres_ms'], $(field allreduce_ms <<<"$two"), $(field allreduce_ms <<<"$after"))
b['python_ms'] = min(b['python_ms'], $python_ms); print(json.dumps(b))")
  done
  python3 -c "
import json; b = json.loads('$best')
print(f\"| $name | $batch | {b['one']:.0f} | {b['two']:.0f} | {b['two'] / (2 * b['one']):.0%} | {b['after']:.0f} | \"
      f\"{b['qres_ms']:.3f} | {b['python_ms']:.3f} |\")"
done
