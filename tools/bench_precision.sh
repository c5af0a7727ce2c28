#!/usr/bin/env bash
# qres's CPU training step in each precision against PyTorch's on this machine, in turns: eager
# fp32, eager bf16 autocast + channels_last, and torch.compile + bf16 + channels_last (the fastest a
# PyTorch user switches on). AdamW, synthetic batches, ms per step (each figure the best of the
# rounds' medians: other load on the machine costs every contender alike). Prints a Markdown table
# with qres's fastest mode against PyTorch's fastest.
#   tools/bench_precision.sh [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
bazel build -c opt //qres/bench:train_step_bench >/dev/null 2>&1
bench=bazel-bin/qres/bench/train_step_bench
python=python3
min() { "$python" -c "import sys; print(min(float(x) for x in sys.argv[1:]))" "$@"; }
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
  "flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o 'avx512_bf16\|amx_bf16\|avx512f\|avx2' | sort -u | tr '\n' ' ')"
printf '| net, batch | qres fp32 | qres bf16 | PyTorch eager fp32 | PyTorch bf16 + channels_last | torch.compile + bf16 + channels_last | qres best / PyTorch best |\n'
printf '|---|---|---|---|---|---|---|\n'
for config in "CNN 100 1 28 -" "LeNet 128 1 28 -" "ResNet 128 3 32 layers=3" "ResNet 128 1 28 layers=5"; do
  read -r net batch channels size params <<<"$config"
  [[ $params == - ]] && params=""
  args=(--net="$net" --batch="$batch" --channels="$channels" --size="$size" --net_params="$params" --algo=AdamW)
  steps=40; [[ $net == ResNet ]] && steps=20
  q32=(); q16=(); p32=(); p16=(); pc=()
  for _ in $(seq "$rounds"); do
    q32+=("$("$bench" "${args[@]}" --steps=$steps)")
    p32+=("$("$python" tools/bench_train_step.py "${args[@]}" --steps=$steps 2>/dev/null)")
    q16+=("$("$bench" "${args[@]}" --steps=$steps --precision=bf16 --channels_last)")
    p16+=("$("$python" tools/bench_train_step.py "${args[@]}" --steps=$steps --precision=bf16 --channels_last 2>/dev/null)")
    pc+=("$("$python" tools/bench_train_step.py "${args[@]}" --steps=$steps --precision=bf16 --channels_last --compile 2>/dev/null)")
  done
  "$python" - "$net" "$batch" "$channels" "$size" "$params" "$(min "${q32[@]}")" "$(min "${q16[@]}")" \
    "$(min "${p32[@]}")" "$(min "${p16[@]}")" "$(min "${pc[@]}")" <<'PY'
import sys
net, batch, channels, size, params, *ms = sys.argv[1:]
q32, q16, p32, p16, pc = map(float, ms)
name = {"layers=3": "ResNet-20", "layers=5": "ResNet-32"}.get(params, net)
print(f"| {name} {channels}x{size}x{size}, {batch} | {q32:.1f} | {q16:.1f} | {p32:.1f} | {p16:.1f} | {pc:.1f} | "
      f"{min(p32, p16, pc) / min(q32, q16):.2f}x |")
PY
done
