#!/usr/bin/env bash
# Builds everything the GPU machine runs, here (no GPU needed), into gpu_bundle/ (git-ignored,
# well under the 64 MiB a device call carries), with gpu_bundle/run.sh to run there:
#   tools/gpu_bundle.sh
#   then, with the device tool: carry ["gpu_bundle"], command "bash gpu_bundle/run.sh"
# run.sh finds the GPU machine's own torch (the same 2.11.0 these binaries link), checks that no
# library is missing, then runs the CUDA equivalence test, the optimizer benchmark on the GPU
# (three parameter sets, PyTorch's fused AdamW and a device copy in the same run), the fused
# step's host-side timing, the training step against eager PyTorch, short GPU training runs and
# compute-sanitizer on the kernels; logs go to $OUT. It stops itself 9 minutes in at the latest; give the call timeout_s=600.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(//qres/tools:train //qres/tools:test //qres/optim/cuda:optimizer_cuda_test
         //qres/bench:optimizer_step_bench //qres/bench:fused_step_host_bench
         //qres/bench:train_step_bench)
bazel build -c opt --config=cuda "${targets[@]}"

out=gpu_bundle
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/data"
for target in "${targets[@]}"; do
  binary="bazel-bin/${target#//}"
  binary="${binary/://}"
  install -m 755 "$binary" "$out/bin/"
  strip "$out/bin/$(basename "$binary")"
done
# Shared libraries that are neither glibc's nor torch's.
for library in libunwind.so.8 liblzma.so.5; do
  cp -L "/lib/x86_64-linux-gnu/$library" "$out/lib/"
done
install -m 755 tools/bench_train_step.py "$out/bin/"
cp /usr/share/datasets/fashion-mnist/*.gz "$out/data/"

cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs on the GPU machine (see tools/gpu_bundle.sh). Logs go to $OUT.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
OUT="${OUT:-$here/out}"
mkdir -p "$OUT"
torch_lib="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')/lib"
export LD_LIBRARY_PATH="$torch_lib:$here/lib"
nvidia-smi -L | tee "$OUT/gpu.txt"
if ldd "$here"/bin/* | grep "not found"; then echo "missing libraries" >&2; exit 1; fi
status=0
# Each command has a time limit, and all of them together stop 9 minutes in, so one hang cannot use
# up the machine's time.
deadline=$((SECONDS + 540))
limited() {  # limited SECONDS LOG COMMAND...: run COMMAND under the smaller of both limits
  local limit=$1 log=$2; shift 2
  local left=$((deadline - SECONDS))
  if ((left < 5)); then echo "skipped (out of time): $*" | tee "$OUT/$log"; return 1; fi
  timeout $((limit < left ? limit : left)) "$@" 2>&1 | tee "$OUT/$log"
}
limited 180 optimizer_cuda_test.log "$here/bin/optimizer_cuda_test" || status=1
for set in resnet32 resnet50 134m; do
  limited 60 "optimizer_step_bench_cuda_$set.log" \
    "$here/bin/optimizer_step_bench" --device=cuda --set=$set --rounds=10 || status=1
done
limited 20 fused_step_host_bench.log "$here/bin/fused_step_host_bench" --rounds=5 --steps=1000 || status=1
# Training step, synthetic CIFAR-shaped batch of 128: qres against eager PyTorch (anchors.md).
{
  echo "| net | optimizer | PyTorch ms/step | qres ms/step | PyTorch img/s | qres img/s |"
  echo "|---|---|---|---|---|---|"
  for layers in 3 5; do
    shape=(--net=ResNet --resnet_layers=$layers --channels=3 --size=32 --batch=128 --steps=100 --device=cuda)
    for pair in "SGD --momentum=0.9:SGD --momentum=0.9" "AdamW --fused:AdamW" "AdamW --fused:QtAdamW"; do
      py_args=${pair%%:*}; qres_args=${pair#*:}  # unquoted below: they are several flags
      log="step_resnet$((6 * layers + 2))_${qres_args%% *}"
      py=$(limited 60 "${log}_pytorch.log" python3 "$here/bin/bench_train_step.py" "${shape[@]}" --algo=$py_args | tail -1)
      qres=$(limited 60 "${log}_qres.log" "$here/bin/train_step_bench" "${shape[@]}" --algo=$qres_args | tail -1)
      python3 -c "print(f'| ResNet-$((6 * layers + 2)) | PyTorch $py_args / qres $qres_args | {$py:.3f} | {$qres:.3f} | {128e3 / $py:.0f} | {128e3 / $qres:.0f} |')" \
        || status=1
    done
  done
} >"$OUT/train_step_bench_cuda.log" 2>&1  # not piped: a pipe's subshell would lose status
cat "$OUT/train_step_bench_cuda.log"
cd "$OUT"
limited 60 train_cnn_qtadamw_gpu.log "$here/bin/train" -g 1 --net=CNN --dataset=FashionMNIST \
  --data_dir="$here/data" --algo=QtAdamW --epochs=2 || status=1
limited 120 train_resnet32_qtadamw_gpu.log "$here/bin/train" -g 1 --net=ResNet --resnet_layers=5 \
  --dataset=FashionMNIST --data_dir="$here/data" --algo=QtAdamW --batch_size=128 --epochs=1 || status=1
# The kernels under compute-sanitizer (out-of-bounds and misaligned accesses, shared-memory races,
# barrier misuse), on the small equivalence test, if the machine has the tool.
sanitizer="$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)"
if [[ -n "$sanitizer" ]]; then
  for tool in memcheck racecheck synccheck; do
    limited 60 "sanitizer_$tool.log" "$sanitizer" --tool "$tool" --error-exitcode 3 \
      "$here/bin/optimizer_cuda_test" --gtest_filter='*SmallEqualsTheCpuOptimizer*' || status=1
  done
else
  echo "no compute-sanitizer on this machine" | tee "$OUT/sanitizer.log"
fi
exit $status
RUN
chmod +x "$out/run.sh"
du -sh "$out"
echo "ready: run 'bash gpu_bundle/run.sh' on the GPU machine, carrying gpu_bundle"
