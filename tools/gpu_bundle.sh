#!/usr/bin/env bash
# Builds everything the GPU machine runs, here (no GPU needed), into gpu_bundle/ (git-ignored,
# well under the 64 MiB a device call carries), with gpu_bundle/run.sh to run there:
#   tools/gpu_bundle.sh
#   then, with the device tool: carry ["gpu_bundle"], command "bash gpu_bundle/run.sh"
# run.sh finds the GPU machine's own torch (the same 2.11.0 these binaries link), checks that no
# library is missing, then runs the CUDA equivalence test, the optimizer benchmark on the GPU
# (three parameter sets, PyTorch's fused AdamW and a device copy in the same run), the fused
# step's host-side timing, and short GPU training runs; logs go to $OUT. It needs at most about 8.5 of the
# session's 15 device minutes at most (the time limits inside); give the call timeout_s=600.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(//qres/tools:train //qres/tools:test //qres/optim/cuda:optimizer_cuda_test
         //qres/bench:optimizer_step_bench //qres/bench:fused_step_host_bench)
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
# Each command has a time limit, so one hang cannot use up the machine's time.
timeout 120 "$here/bin/optimizer_cuda_test" 2>&1 | tee "$OUT/optimizer_cuda_test.log" || status=1
for set in resnet32 resnet50 134m; do
  timeout 60 "$here/bin/optimizer_step_bench" --device=cuda --set=$set --rounds=10 2>&1 \
    | tee "$OUT/optimizer_step_bench_cuda_$set.log"
done
timeout 20 "$here/bin/fused_step_host_bench" --rounds=5 --steps=1000 2>&1 | tee "$OUT/fused_step_host_bench.log"
cd "$OUT"
timeout 60 "$here/bin/train" -g 1 --net=CNN --dataset=FashionMNIST --data_dir="$here/data" --algo=QtAdamW \
  --epochs=2 2>&1 | tee "$OUT/train_cnn_qtadamw_gpu.log" || status=1
timeout 120 "$here/bin/train" -g 1 --net=ResNet --resnet_layers=5 --dataset=FashionMNIST --data_dir="$here/data" \
  --algo=QtAdamW --batch_size=128 --epochs=1 2>&1 | tee "$OUT/train_resnet32_qtadamw_gpu.log" || status=1
exit $status
RUN
chmod +x "$out/run.sh"
du -sh "$out"
echo "ready: run 'bash gpu_bundle/run.sh' on the GPU machine, carrying gpu_bundle"
