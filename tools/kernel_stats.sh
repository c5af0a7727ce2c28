#!/usr/bin/env bash
# What can be measured of the fused CUDA step's kernels without a GPU (issue 14): global loads,
# fence instructions and lines in each kernel's PTX, and ptxas's registers, spills and shared
# memory, for qres/optim/cuda/kernels.cu compiled as bazel/cuda.bzl compiles it (-c opt).
#   tools/kernel_stats.sh
set -euo pipefail
cd "$(dirname "$0")/.."
nvcc="${QRES_CUDA_DIR:-/usr/local/cuda}/bin/nvcc"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
flags=(-std=c++17 -O3 -fmad=false -Xcompiler -fPIC -DNDEBUG -I. -arch=sm_90)
"$nvcc" "${flags[@]}" -ptx qres/optim/cuda/kernels.cu -o "$work/kernels.ptx"
"$nvcc" "${flags[@]}" -Xptxas -v -c qres/optim/cuda/kernels.cu -o "$work/kernels.o" 2>"$work/ptxas.txt"
python3 - "$work" <<'PY'
import re, sys
work = sys.argv[1]
ptx = open(f"{work}/kernels.ptx").read()
ptxas = open(f"{work}/ptxas.txt").read()
print("| kernel | ld.global in PTX | fences in PTX | PTX lines | registers | spill stores/loads (bytes) | shared memory (bytes) |")
print("|---|---|---|---|---|---|---|")
for m in re.finditer(r"\.entry (\S+)\((.*?)\n\}\n", ptx, re.S):
    mangled, body = m.group(1), m.group(0)
    name = re.search(r"(Direction|Apply|Resolve)Kernel", mangled).group(0)
    info = ptxas[ptxas.index(f"Compiling entry function '{mangled}'"):]
    registers = re.search(r"Used (\d+) registers", info).group(1)
    spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", info).groups()
    smem = re.search(r"registers, used \d+ barriers(?:, (\d+) bytes smem)?", info).group(1) or "0"
    print(f"| {name} | {len(re.findall(r'ld[.]global', body))} | {len(re.findall(r'membar|fence[.]', body))} | "
          f"{len(body.splitlines())} | {registers} | {spills[0]}/{spills[1]} | {smem} |")
PY
