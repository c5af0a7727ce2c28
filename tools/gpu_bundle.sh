#!/usr/bin/env bash
# Builds everything the GPU machine runs, here (no GPU needed), into gpu_bundle/ (git-ignored,
# under the 64 MiB a device call carries), with gpu_bundle/run.sh to run there:
#   tools/gpu_bundle.sh
#   then, with the device tool: carry ["gpu_bundle"], command "bash gpu_bundle/run.sh",
#   timeout_s 580 (run.sh stops its checks 520 s in). A rerun of some sections only:
#   SECTIONS="step optimizer" bash gpu_bundle/run.sh 250 (the section names are in run.sh).
#   On the H200 (2026-11-28) the machine started in about 30 s and the checks of then took about
#   200 s; the graph checks and torch.compile's contenders (issue 24) have not run there yet.
# run.sh prints the python3, torch and card it found and stops if torch or the GPU is not what the
# binaries need; then, most important first: the small CUDA-vs-CPU equivalence test, the large one,
# the stream tests, graph mode under CUDA graphs, the Python package on CUDA against CPU,
# GraphedStep against eager steps, train with CUDA graphs against without (bit for bit, and a
# graphed run stopped and resumed), the training step against PyTorch (eager
# fp32, eager AMP bf16 channels-last, torch.compile reduce-overhead), the optimizer step against
# PyTorch's fused AdamW and a device copy, the step's host side, an NCCL world on the machine's
# GPUs (dist_check, then train through torchrun), compute-sanitizer on the kernels, and short GPU
# training runs. $OUT/summary.txt has one line per check (passed / failed / skipped and why);
# $OUT/benchmarks.md has the tables for docs/BENCHMARKS.md; the logs are packed into
# $OUT/logs.tar.gz (the device tool brings back 8 files at most).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(//qres/tools:train //qres/tools:test //qres/optim/cuda:optimizer_cuda_test //qres/train/cuda:step_graph_cuda_test
         //qres/bench:optimizer_step_bench //qres/bench:fused_step_host_bench
         //qres/bench:train_step_bench //qres/dist:dist_check)
bazel build -c opt --config=cuda "${targets[@]}" //qres/python:qres/_C.so

out=gpu_bundle
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/data"
for target in "${targets[@]}"; do
  binary="bazel-bin/${target#//}"
  binary="${binary/://}"
  install -m 755 "$binary" "$out/bin/"
  strip "$out/bin/$(basename "$binary")"
done
# Shared libraries that are neither glibc's nor torch's: libunwind, liblzma and Debian's Abseil.
for library in $(ldd "$out"/bin/* bazel-bin/qres/python/qres/_C.so 2>/dev/null | awk '/libabsl_|libunwind|liblzma/ {print $3}' | sort -u); do
  cp -L "$library" "$out/lib/"
done
install -m 755 tools/bench_train_step.py "$out/bin/"
# The Python package (its operators built with the fused CUDA step) and its CUDA check.
mkdir -p "$out/python/qres"
install -m 644 qres/python/qres/__init__.py qres/python/qres/optim.py "$out/python/qres/"
install -m 755 bazel-bin/qres/python/qres/_C.so "$out/python/qres/"
strip "$out/python/qres/_C.so"
install -m 644 qres/python/tests/cuda_check.py "$out/python/"
# Fashion-MNIST: the whole test set, the first 12000 training images (the full set would not fit
# beside the binaries; the training runs check the GPU path, not the accuracy).
python3 - /usr/share/datasets/fashion-mnist "$out/data" 12000 <<'PY'
import gzip, shutil, struct, sys
source, target, train_count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
    shutil.copy(f"{source}/{name}", f"{target}/{name}")
for name, item_bytes in (("train-images-idx3-ubyte.gz", 28 * 28), ("train-labels-idx1-ubyte.gz", 1)):
    with gzip.open(f"{source}/{name}") as f:
        magic, count = struct.unpack(">II", f.read(8))
        dims = f.read(8 if item_bytes > 1 else 0)
        body = f.read(train_count * item_bytes)
    with gzip.open(f"{target}/{name}", "wb") as f:
        f.write(struct.pack(">II", magic, train_count) + dims + body)
PY
echo "$(python3 -c 'import torch; print(torch.__version__.split("+")[0])')" >"$out/torch_version"

cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs on the GPU machine (see tools/gpu_bundle.sh): bash run.sh [SECONDS, default 520]. Logs, the
# summary and the benchmark tables go to $OUT.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$here/out}"
logs="$(mktemp -d)/logs"  # every log and training output, packed into $OUT/logs.tar.gz at the end
mkdir -p "$OUT" "$logs"
summary="$OUT/summary.txt"
tables="$OUT/benchmarks.md"
: >"$summary"
: >"$tables"
deadline=$((SECONDS + ${1:-520}))  # all checks together; a hang cannot use up the machine's time
note() { printf '%-8s %s\n' "$1" "$2" | tee -a "$summary"; }

# What this run is on; stop when it is not what the binaries were built for.
torch_dir="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$torch_dir/lib:$here/lib"
export QRES_REQUIRE_GPU=1  # the GPU tests fail, not skip, without a GPU
python3 - "$(cat "$here/torch_version")" <<'PY' | tee "$OUT/machine.txt"
import sys, torch
print("python3:", sys.executable)
print("torch:", torch.__version__, "(the binaries link", sys.argv[1] + ")")
print("torch.cuda.is_available():", torch.cuda.is_available())
print("card:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
sys.exit(0 if torch.cuda.is_available() and torch.__version__.split("+")[0] == sys.argv[1] else 1)
PY
if ((PIPESTATUS[0] != 0)); then note failed "machine: torch version or GPU not as the binaries need"; exit 1; fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee -a "$OUT/machine.txt"
if ldd "$here"/bin/* "$here"/python/qres/_C.so | grep "not found"; then note failed "machine: libraries missing (ldd)"; exit 1; fi
note passed "machine: $(python3 -c 'import torch; print(torch.cuda.get_device_name(0))'), LD_LIBRARY_PATH and ldd"

# check NAME LIMIT LOG COMMAND...: COMMAND under the smaller of LIMIT and the time left; with
# expect=TEXT before it, the log must also hold TEXT.
check() {
  local name=$1 limit=$2 log=$3; shift 3
  local left=$((deadline - SECONDS))
  if ((left < 10)); then note skipped "$name: out of time"; return 2; fi
  local seconds=$((limit < left ? limit : left)) start=$SECONDS
  timeout "$seconds" "$@" </dev/null >"$logs/$log" 2>&1
  local status=$?
  if ((status == 0)) && [[ -n "${expect:-}" ]] && ! grep -qF "$expect" "$logs/$log"; then
    note failed "$name: ran, but its log does not say '$expect' ($log)"; return 1
  fi
  if ((status == 0)); then note passed "$name ($((SECONDS - start)) s)"
  elif ((status == 124)); then note failed "$name: timed out after $seconds s ($log)"
  else note failed "$name: exit $status ($log)"; fi
  return $status
}
# SECTIONS="graphs step" bash run.sh ... runs those sections only (a rerun of what the first run
# had no time for): equivalence python graphs step optimizer nccl sanitizer train.
section() { [[ -z "${SECTIONS:-}" || " $SECTIONS " == *" $1 "* ]]; }
status=0
test="$here/bin/optimizer_cuda_test"
if section equivalence; then
check "small equivalence: fused CUDA step = CPU optimizer, 18 cases x 8 steps" 60 equivalence_small.log \
  "$test" --gtest_filter='*SmallEqualsTheCpuOptimizer*:OptimizerCudaLogTest.*' || status=1
check "large equivalence: 18 cases x 100 steps, up to 2.5 M elements" 120 equivalence_large.log \
  "$test" --gtest_filter='*.EqualsTheCpuOptimizerBitForBit/*' || status=1
check "streams: steps alternating between two streams, two optimizers on two streams" 60 streams.log \
  "$test" --gtest_filter='OptimizerCudaStreamTest.*' || status=1
check "graph mode: the fused step replayed from CUDA graphs = CPU optimizer, 20 cases x 30 steps" 90 \
  graph_mode.log "$test" --gtest_filter='*GraphModeReplays*' || status=1
fi

if section python; then
expect="same: AdamW" check "Python: qres.optim on CUDA = on CPU, 5 cases x 20 steps" 90 python_cuda.log \
  env PYTHONPATH="$here/python" python3 "$here/python/cuda_check.py" || status=1
fi

if section graphs; then
# CUDA graphs (issue 24, never run on a GPU before): train --cuda_graphs=on against off, with
# deterministic cuDNN, must write the same model and losses byte for byte (each 1 epoch of 12k:
# 120 steps of 100, or 93 of 128 and a partial one); two eager runs first show that the GPU repeats
# itself at all. Then a graphed run stopped by SIGINT and resumed ends as one that was not.
check "graphs: GraphedStep on this GPU = eager, CNN, 4 optimizers x fp32/bf16, 14 batches" 90 graphed_step.log \
  "$here/bin/step_graph_cuda_test" || status=1
graph_flags=(-g 1 --deterministic --dataset=FashionMNIST --data_dir="$here/data" --tensorboard=off)
same_run() {  # NAME DIR_A DIR_B: the two runs' model and error trend are the same bytes
  if cmp -s "$2"/torch_nn02*.pt "$3"/torch_nn02*.pt && cmp -s "$2"/error_*.pickle "$3"/error_*.pickle; then
    note passed "$1"
  else
    note failed "$1: the model or the losses differ"; return 1
  fi
}
graph_case() {  # NAME TRAIN_FLAGS...
  local name=$1; shift
  local dir="$logs/graphs/$name"
  check "graphs: $name, eager" 60 "graphs_${name}_off.log" "$here/bin/train" "${graph_flags[@]}" --epochs=1 \
    --cuda_graphs=off --out_dir="$dir/off" "$@" || return 1
  expect="CUDA graphs         :" check "graphs: $name, graphed" 60 "graphs_${name}_on.log" "$here/bin/train" \
    "${graph_flags[@]}" --epochs=1 --cuda_graphs=on --out_dir="$dir/on" "$@" || return 1
  local counts
  counts=$(grep -o "graph replays [0-9]*, captures [0-9]*" "$logs/graphs_${name}_on.log" | head -1)
  same_run "graphs: $name, graphed = eager bit for bit ($counts)" "$dir/off" "$dir/on"
}
check "graphs: CNN QtAdamW eager, again" 60 graphs_repeat.log "$here/bin/train" "${graph_flags[@]}" --epochs=1 \
  --out_dir="$logs/graphs/repeat" --net=CNN --algo=QtAdamW || status=1
graph_case CNN_QtAdamW --net=CNN --algo=QtAdamW || status=1
[[ -d "$logs/graphs/CNN_QtAdamW/off" ]] && same_run "graphs: two eager runs on this GPU are the same bits" \
  "$logs/graphs/repeat" "$logs/graphs/CNN_QtAdamW/off"
graph_case CNN_QtAdamW_log --net=CNN --algo=QtAdamW --quant_params=schedule=log || status=1
graph_case CNN_QSGD_momentum --net=CNN --algo=QSGD --optim_params=momentum=0.9 || status=1
graph_case CNN_AdamW --net=CNN --algo=AdamW || status=1
graph_case CNN_QtAdam --net=CNN --algo=QtAdam || status=1
graph_case CNN_SGD_momentum --net=CNN --algo=SGD --optim_params=momentum=0.9 || status=1
graph_case CNN_Adam_aten --net=CNN --algo=Adam || status=1  # torch form: ATen ops, after the graph
graph_case CNN_QtAdam_fp16 --net=CNN --algo=QtAdam --precision=fp16 || status=1
graph_case ResNet-20_QtAdamW_bf16 --net=ResNet --resnet_layers=3 --batch_size=128 --algo=QtAdamW --precision=bf16 \
  || status=1
resume_flags=("${graph_flags[@]}" --epochs=3 --cuda_graphs=on --net=CNN --algo=QtAdamW)
if check "graphs: CNN QtAdamW graphed, 3 epochs" 60 graphs_straight.log "$here/bin/train" "${resume_flags[@]}" \
    --out_dir="$logs/graphs/straight"; then
  "$here/bin/train" "${resume_flags[@]}" --out_dir="$logs/graphs/stopped" >"$logs/graphs_stopped.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do grep -q "\[Epoch :    1\]" "$logs/graphs_stopped.log" && break; sleep 0.05; done
  kill -INT "$pid"
  wait "$pid"
  code=$?
  if ((code == 130)) && check "graphs: the run stopped by SIGINT resumes" 60 graphs_resumed.log "$here/bin/train" \
      "${resume_flags[@]}" --out_dir="$logs/graphs/stopped" --resume; then
    same_run "graphs: stopped and resumed = straight, bit for bit" "$logs/graphs/straight" "$logs/graphs/stopped" \
      || status=1
  else
    note failed "graphs: SIGINT and --resume (exit $code; graphs_stopped.log, graphs_resumed.log)"; status=1
  fi
fi
fi

if section step; then
# Training step, synthetic CIFAR-shaped batch of 128, qres against PyTorch in the same run
# (anchors.md). Issue 24's targets: ResNet-20 and -32 at least 2x eager AMP PyTorch and at least
# 1.2x torch.compile's reduce-overhead mode (whose compile is most of its check's time).
step_table="| net | contender | optimizer | ms/step | img/s |
|---|---|---|---|---|"
step_row() {  # NET CONTENDER LOG: the row of a bench's last line
  local ms
  ms=$(grep -E '^[0-9]+[.][0-9]+$' "$logs/$3" | tail -1)  # the figure, whatever warnings follow it
  [[ -n $ms ]] || { note failed "$1 $2: no figure in $3"; return 1; }
  step_table+=$'\n'"| $1 | $2 | $(python3 -c "print(f'{$ms:.3f} | {128e3 / $ms:.0f}')") |"
}
for layers in 3 5; do
  net="ResNet-$((6 * layers + 2))"
  shape=(--net=ResNet --net_params=layers=$layers --channels=3 --size=32 --batch=128 --steps=100 --device=cuda)
  while IFS='|' read -r contender flags; do
    log="train_step_${net}_${contender//[^A-Za-z0-9]/_}.log"
    # $flags unquoted: several flags.
    if [[ $contender == PyTorch* ]]; then
      check "train step $net $contender" 150 "$log" python3 "$here/bin/bench_train_step.py" "${shape[@]}" $flags
    else
      check "train step $net $contender" 40 "$log" "$here/bin/train_step_bench" "${shape[@]}" $flags
    fi && step_row "$net" "$contender | ${flags%% *}" "$log" || status=1
  done <<'CONTENDERS'
PyTorch eager fp32|--algo=SGD --momentum=0.9
PyTorch eager fp32|--algo=AdamW --fused
PyTorch eager AMP bf16, channels-last|--algo=AdamW --fused --precision=bf16 --channels_last
PyTorch compile reduce-overhead, AMP bf16, channels-last|--algo=AdamW --fused --precision=bf16 --channels_last --compile_mode=reduce-overhead
qres eager fp32|--algo=SGD --momentum=0.9
qres eager fp32|--algo=AdamW
qres eager fp32|--algo=QtAdamW
qres graphs fp32|--algo=AdamW --cuda_graphs
qres graphs fp32|--algo=QtAdamW --cuda_graphs
qres eager bf16|--algo=QtAdamW --precision=bf16
qres eager bf16, channels-last|--algo=QtAdamW --precision=bf16 --channels_last
qres graphs bf16|--algo=QtAdamW --precision=bf16 --cuda_graphs
qres graphs bf16, channels-last|--algo=AdamW --precision=bf16 --channels_last --cuda_graphs
qres graphs bf16, channels-last|--algo=QtAdamW --precision=bf16 --channels_last --cuda_graphs
qres graphs fp16, channels-last|--algo=QtAdamW --precision=fp16 --channels_last --cuda_graphs
CONTENDERS
done
printf '%s\n\n' "$step_table" >>"$tables"
fi

if section optimizer; then
for set in resnet32 resnet50 134m; do
  check "optimizer_step_bench --set=$set" 40 "optimizer_step_bench_$set.log" \
    "$here/bin/optimizer_step_bench" --device=cuda --set=$set --rounds=10 \
    && grep -E '^\||parameter set' "$logs/optimizer_step_bench_$set.log" >>"$tables" && echo >>"$tables" \
    || status=1
done
check "fused_step_host_bench" 20 fused_step_host_bench.log \
  "$here/bin/fused_step_host_bench" --rounds=5 --steps=1000 \
  && grep '^|' "$logs/fused_step_host_bench.log" >>"$tables" && echo >>"$tables" || status=1
fi


if section nccl; then
# NCCL (issue 12): one rank per GPU through torchrun, as users launch it; one GPU makes a world of 1.
gpus=$(python3 -c 'import torch; print(torch.cuda.device_count())')
torchrun() { python3 -m torch.distributed.run --nproc_per_node="$gpus" --master_addr=127.0.0.1 \
  --master_port="$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")" "$@"; }
expect="collectives ok" check "NCCL: dist_check on $gpus rank(s), one per GPU" 60 nccl_dist_check.log \
  torchrun --no-python "$here/bin/dist_check" --backend=nccl --timeout_s=30 || status=1
(cd "$logs" && expect="(c10d, nccl)" check "NCCL: train CNN QtAdamW on $gpus rank(s), Fashion-MNIST 12k, 1 epoch" 90 \
  nccl_train.log torchrun --no-python "$here/bin/train" -g 1 --dist_backend=nccl --dataset=FashionMNIST \
  --data_dir="$here/data" --algo=QtAdamW --net=CNN --epochs=1 --batch_size=$((100 * gpus)) --out_dir=nccl) || status=1
fi

if section sanitizer; then
# The kernels under compute-sanitizer (out-of-bounds and misaligned accesses, shared-memory races,
# barrier misuse, reads of uninitialised memory) on the small equivalence test. The machine's own
# (CUDA 13.0's, 2025.3.1) works; PyPI's nvidia-cuda-sanitizer-api 13.0.85 alone did not start the
# target ("terminated before first instrumented API call"), so none is carried.
sanitizer="$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)"
if [[ -n "$sanitizer" ]]; then
  for tool in memcheck racecheck synccheck initcheck; do
    check "compute-sanitizer $tool on the small equivalence test" 45 "sanitizer_$tool.log" \
      "$sanitizer" --tool "$tool" --error-exitcode 3 "$test" --gtest_filter='*SmallEqualsTheCpuOptimizer*' \
      || status=1
  done
else
  note skipped "compute-sanitizer: not on this machine"
fi
fi

if section train; then
# Real training through the train tool. Without a GPU it would train on the CPU, so the log must
# also name the fused CUDA step.
cd "$logs"
train() {  # train NAME LOG FLAGS...
  local name=$1 log=$2; shift 2
  expect="fused CUDA step" check "$name" 60 "$log" "$here/bin/train" -g 1 --dataset=FashionMNIST \
    --data_dir="$here/data" --algo=QtAdamW "$@"
}
train "train CNN QtAdamW, GPU, Fashion-MNIST 12k, 2 epochs" train_cnn.log --net=CNN --epochs=2 || status=1
train "train ResNet-32 QtAdamW, GPU, Fashion-MNIST 12k, 1 epoch" train_resnet32.log --net=ResNet \
  --resnet_layers=5 --batch_size=128 --epochs=1 || status=1
# Mixed precision on the GPU (issue 23, never run on hardware before): bf16 autocast, and fp16 with
# the loss scaler (the epoch line shows the scale and the steps it skipped).
for precision in bf16 fp16; do
  train "train CNN QtAdamW, GPU, --precision=$precision, 2 epochs" train_cnn_$precision.log --net=CNN --epochs=2 \
    --precision=$precision || status=1
done
fi
tar -C "$(dirname "$logs")" -czf "$OUT/logs.tar.gz" logs
echo "== summary"; cat "$summary"
echo "== benchmarks.md"; cat "$tables"
exit $status
RUN
chmod +x "$out/run.sh"
du -sh "$out"
echo "ready: run 'bash gpu_bundle/run.sh' on the GPU machine, carrying gpu_bundle"
