#!/bin/bash
# train and test from the command line: the seed's spellings, one-line errors with a non-zero
# exit for each kind of bad flag or file, outputs that Python reads without torch, the plot.
set -uo pipefail
train="$1"
evaluate="$2"
python="$3"
source qres/tests/test_lib.sh
work=$(fresh_work_dir cli)
mkdir -p "$work/data" "$work/out"

# A tiny MNIST (64 training images, 16 test images) in the official gzipped IDX format.
"$python" qres/tests/tiny_mnist.py "$work/data" 64 16

# expect_error "<substring>" args...: exit non-zero, exactly one line on stderr naming the problem.
tool="$train"
expect_error() {
  local want="$1"; shift
  local err="$work/err"
  if "$tool" "$@" >/dev/null 2>"$err"; then fail "$* succeeded"; return; fi
  [[ $(wc -l <"$err") -eq 1 ]] || fail "$*: expected one line, got: $(cat "$err")"
  grep -qF -- "$want" "$err" || fail "$*: expected '$want', got: $(cat "$err")"
}
expect_error "unknown command line flag 'bogus'" --bogus
expect_error "illegal value 'abc'" --epochs=abc
expect_error "--epochs=0 must be > 0" --epochs=0
expect_error "unknown algorithm 'Lion'; registered: Adam, AdamW, ASGD, NAdam, QSGD, QtAdam, QtAdamW, RAdam, SGD, stdSGD" -m Lion --data_dir="$work/data" -d MNIST
expect_error "unknown dataset 'SVHN'" -d SVHN
expect_error "unknown net 'VGG'" -n VGG -d MNIST --data_dir="$work/data"
expect_error "--device=tpu: use cpu or cuda" --device=tpu
expect_error "--resume and --resume_from: give one" --resume --resume_from=/tmp/x.pt
expect_error "--resume_from=/nonexistent/checkpoint_CNNSGD1.pt: No such file or directory" -m SGD -d MNIST --data_dir="$work/data" -e 2 --resume_from=/nonexistent/checkpoint_CNNSGD1.pt --out_dir="$work/never"
expect_error "-g 2: use 0 (CPU) or 1 (GPU)" -g 2
expect_error "--algo=SGD and -m QSGD disagree" --algo=SGD -m QSGD
expect_error "no train-images-idx3-ubyte" -d MNIST --data_dir="$work/nowhere"
expect_error "--quant_params: unknown key 'bogus'" -m QtAdamW -d MNIST --data_dir="$work/data" --quant_params=bogus=1
expect_error "qp=40 is out of range" -m QSGD -qp 40 -d MNIST --data_dir="$work/data"
expect_error "unexpected argument 'extra'" extra
expect_error "--threads=100000 must be in [0, " --threads=100000
expect_error "--dist_backend=mpi: use auto, gloo or nccl" --dist_backend=mpi -d MNIST --data_dir="$work/data"
expect_error "--dist_backend=nccl: this build has no NCCL; build with --config=cuda, or use gloo" \
  --dist_backend=nccl -d MNIST --data_dir="$work/data"
expect_error "--dist_bucket_mb=2000 must be in [0, 1024]" --dist_bucket_mb=2000
expect_error "--device=cpu and -g 1 disagree" --device=cpu -g 1
expect_error "--lr=inf must be a finite number >= 0" --lr=inf -d MNIST --data_dir="$work/data"
expect_error "-qp 2 has no effect" -m Adam -qp 2 -d MNIST --data_dir="$work/data"
expect_error "net CNN options (--net_params, -rl, --logit_relu): unknown key 'layers'; it takes none" \
  -n CNN -rl 3 -d MNIST --data_dir="$work/data"
expect_error "net ResNet options (--net_params, -rl, --logit_relu): unknown key 'logit_relu'; valid keys: layers" \
  -n ResNet --logit_relu -d MNIST --data_dir="$work/data"
expect_error "--net_params sets layers and so does -rl/--resnet_layers" -n ResNet --net_params=layers=2 -rl 3
expect_error "--scheduler=exp and -sn CAWR disagree; give one of them" --scheduler=exp -sn CAWR
expect_error "--scheduler_interval=step: use epoch or batch" --scheduler_interval=step
expect_error "unknown scheduler 'cosine'" -sn cosine -d MNIST --data_dir="$work/data"
expect_error "--out_dir is empty: give a folder (. for this one)" --out_dir=
expect_error "--precision=fp8: use fp32, bf16 or fp16" --precision=fp8
expect_error "--precision=fp16 needs a GPU (-g 1): on the CPU use bf16" --precision=fp16
expect_error "--cuda_graphs=sometimes: use off, on or auto" --cuda_graphs=sometimes
expect_error "--cuda_graphs=on needs a GPU, and this run trains on the CPU; use --cuda_graphs=off or auto" \
  --cuda_graphs=on -d MNIST --data_dir="$work/data" --out_dir="$work/never"
mnist=(-d MNIST --data_dir="$work/data" --out_dir="$work/never")
expect_error "eps=0 must be a finite number > 0 (a gradient of 0 would divide 0 by 0)" -m QtAdamW --optim_params=eps=0 "${mnist[@]}"
expect_error "eps=0 must be > 0" -m NAdam --optim_params=eps=0 "${mnist[@]}"
expect_error "momentum=10 must be < 1" -m SGD --optim_params=momentum=10 "${mnist[@]}"
expect_error "dampening=5 must be <= 1" -m QSGD --optim_params=momentum=0.5,dampening=5 "${mnist[@]}"
expect_error "weight_decay=1e+06 with lr=0.001: lr x weight_decay must be < 1" -m AdamW \
  --optim_params=weight_decay=1e6 "${mnist[@]}"
expect_error "scheduler exp (--scheduler_params=gamma=1e300): the lr becomes 1e+297 at scheduler step 1" -sn exp \
  --scheduler_params=gamma=1e300 -e 3 "${mnist[@]}"
expect_error "warmup=3 is not shorter than the run (2 scheduler steps)" -sn constant --scheduler_params=warmup=3 -e 2 \
  "${mnist[@]}"
expect_error "-qp 3 and --quant_params=qp=5 both set the initial index: give one" -m QSGD -qp 3 --quant_params=qp=5
mkdir -p "$work/empty" && "$python" qres/tests/tiny_mnist.py "$work/empty" 0 16
expect_error "MNIST training set ($work/empty/train-images-idx3-ubyte.gz, $work/empty/train-labels-idx1-ubyte.gz) holds no images" -d MNIST --data_dir="$work/empty" \
  --out_dir="$work/never"
mkdir -p "$work/foldered/checkpoint_CNNSGD1.pt"
expect_error "$work/foldered/checkpoint_CNNSGD1.pt: a folder stands where the run writes this file" -m SGD -e 1 \
  -d MNIST --data_dir="$work/data" --out_dir="$work/foldered"

"$train" --help >"$work/help.txt"  # (grep -q would stop reading early: a SIGPIPE under pipefail)
for flag in --quant_params --scheduler --scheduler_params --scheduler_interval --cuda_graphs; do
  grep -q -- "  $flag " "$work/help.txt" || fail "--help does not document $flag"
done
"$train" --list >"$work/list.txt"
grep -q "QtAdamW" "$work/list.txt" || fail "--list does not show QtAdamW"
grep -q "^  log " "$work/list.txt" || fail "--list does not show the quantization schedules"
grep -q "^  CCAWR " "$work/list.txt" || fail "--list does not list the learning-rate schedules"

# SIGINT stops at a batch boundary with a resumable checkpoint (exit 130); --resume finishes.
"$train" -d MNIST --data_dir="$work/data" -n CNN -m QtAdamW -e 100000 -b 8 --out_dir="$work/out" \
  >"$work/interrupted" 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -s "$work/out/metrics_CNNQtAdamW100000.jsonl" ]] && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
code=$?
[[ $code -eq 130 ]] || fail "SIGINT: exit code $code, expected 130: $(tail -2 "$work/interrupted")"
grep -q "continue with --resume" "$work/interrupted" || fail "SIGINT: no resume hint"
[[ -s "$work/out/checkpoint_CNNQtAdamW100000.pt" ]] || fail "SIGINT: no checkpoint"
"$train" -d MNIST --data_dir="$work/data" -n CNN -m QtAdamW -e 100000 -b 8 --out_dir="$work/out" \
  --resume >"$work/resumed" 2>&1 &
pid=$!
# Its handler is installed before it prints "Resumed from": wait for that line, not for a time.
for _ in $(seq 300); do grep -q "Resumed from" "$work/resumed" && break; sleep 0.1; done
kill -INT "$pid"
wait "$pid"
grep -q "Resumed from" "$work/resumed" || fail "--resume did not resume: $(head -3 "$work/resumed")"

# The seed's spelling, end to end; -g 1 falls back to the CPU with one line where there is no GPU
# (and --cuda_graphs=auto to no graph).
if ! "$train" -d MNIST -e 2 -n CNN -g 1 -qp 2 -l 0.01 -m QSGD -b 16 --data_dir="$work/data" --cuda_graphs=auto \
    --out_dir="$work/out" >"$work/stdout" 2>"$work/stderr"; then
  fail "training failed: $(cat "$work/stderr")"
fi
grep -q "\[Epoch :    2\] cost = .*QP Index: " "$work/stdout" || fail "no seed-style epoch line: $(cat "$work/stdout")"
for f in torch_nn02CNNQSGD2.pt operation_CNNQSGD2.txt error_CNNQSGD2.pickle metrics_CNNQSGD2.jsonl; do
  [[ -s "$work/out/$f" ]] || fail "missing output $f"
done
ls "$work/out" | grep -q "\.tmp\." && fail "a temporary file was left behind"
"$python" - "$work/out" <<'PY' || fail "Python cannot read the outputs"
import json, pickle, sys
d = sys.argv[1]
losses = pickle.load(open(f"{d}/error_CNNQSGD2.pickle", "rb"))
assert isinstance(losses, list) and len(losses) == 2 and all(isinstance(x, float) for x in losses), losses
rows = [json.loads(line) for line in open(f"{d}/metrics_CNNQSGD2.jsonl")]
assert [r["epoch"] for r in rows] == [1, 2], rows
assert abs(rows[1]["loss"] - losses[1]) < 1e-6 and rows[1]["quant_index"] >= 2, rows
PY
# The model file is the plain state_dict to torch.load (what it was trained on is a record beside it).
"$python" - "$work/out/torch_nn02CNNQSGD2.pt" <<'PY' || fail "torch.load does not read the model file as a state_dict"
import sys, torch, zipfile
state = torch.load(sys.argv[1], weights_only=True)
assert isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()), state.keys()
assert sorted(state) == ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc.bias", "fc.weight"], sorted(state)
record = [n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.endswith("qres_trained_on.txt")]
text = zipfile.ZipFile(sys.argv[1]).read(record[0]).decode()
assert "dataset=MNIST (64 training images)" in text and "data=train " in text, text
PY
# Other data of the same name and size: --resume refuses it, test evaluates it with a note, and
# another data set of the same shapes is an error.
same_size_other_data "$work/data" "$work/data2"
expect_error "was made on other data of the same name and size (checksums train " -d MNIST -e 2 -n CNN -qp 2 -l 0.01 \
  -m QSGD -b 16 --data_dir="$work/data2" --out_dir="$work/out" --resume
# A changed byte in a deflated record of the checkpoint (LibTorch deflates its TorchScript code) is
# "damaged", as in a stored one, not a parser's message.
mkdir -p "$work/deflated" && cp "$work/out/checkpoint_CNNQSGD2.pt" "$work/deflated/"
"$python" - "$work/deflated/checkpoint_CNNQSGD2.pt" <<'PY' || fail "no deflated record in the checkpoint"
import struct, sys, zipfile
path = sys.argv[1]
info = next(i for i in zipfile.ZipFile(path).infolist() if i.compress_type == zipfile.ZIP_DEFLATED and i.compress_size > 8)
data = bytearray(open(path, "rb").read())
name_length, extra_length = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
data[info.header_offset + 30 + name_length + extra_length + info.compress_size // 2] ^= 0x10
open(path, "wb").write(bytes(data))
PY
expect_error "checkpoint $work/deflated/checkpoint_CNNQSGD2.pt: record 'archive/" -d MNIST -e 2 -n CNN -qp 2 -l 0.01 \
  -m QSGD -b 16 --data_dir="$work/data" --out_dir="$work/deflated" --resume
grep -q "is damaged" "$work/err" || fail "a damaged deflated record: $(cat "$work/err")"

# The evaluator on the model just trained: both splits, per-class accuracy, the plot.
if ! "$evaluate" -d MNIST -n CNN -m "$work/out/torch_nn02CNNQSGD2.pt" -e "$work/out/error_CNNQSGD2.pickle" \
    --data_dir="$work/data" --out_dir="$work/out" >"$work/eval" 2>&1; then
  fail "evaluation failed: $(cat "$work/eval")"
fi
grep -q "Test Mode : Trainning" "$work/eval" && grep -q "Total samples       : 64" "$work/eval" \
  || fail "no training-split block: $(cat "$work/eval")"
grep -q "Total samples       : 16" "$work/eval" || fail "no test-split block"
grep -q "Per-class accuracy" "$work/eval" && grep -q "Confusion matrix" "$work/eval" || fail "no per-class report"
grep -q "(2 epochs: loss, test accuracy, lr, QP index)" "$work/eval" || fail "the plot lacks a panel: $(grep Plot "$work/eval")"
"$python" -c "import sys; d=open(sys.argv[1],'rb').read(); assert d[:8]==b'\x89PNG\r\n\x1a\n', d[:8]" \
  "$work/out/error_CNNQSGD2.png" || fail "no PNG plot"
[[ -s "$work/out/operation_test.txt" ]] || fail "no operation_test.txt"
"$evaluate" -d MNIST -m "$work/out/torch_nn02CNNQSGD2.pt" -e "$work/out/error_CNNQSGD2.pickle" -ng 1 \
  --data_dir="$work/data" --out_dir="$work/new/eval" | grep -q "No plot: -ng 1" || fail "-ng 1 still plots"
[[ -s "$work/new/eval/operation_test.txt" ]] || fail "a missing --out_dir was not made"
# A plot file that is not a regular file (a FIFO here, /dev/null alike) is written into, never replaced.
mkfifo "$work/plot.fifo"
cat "$work/plot.fifo" >"$work/fifo_read" &
if ! "$evaluate" -d MNIST -m "$work/out/torch_nn02CNNQSGD2.pt" -e "$work/out/error_CNNQSGD2.pickle" \
    --plot_file="$work/plot.fifo" --data_dir="$work/data" --out_dir="$work/out" >/dev/null 2>&1; then
  fail "plot into a FIFO failed"
  : >"$work/plot.fifo"  # lets the reader go
fi
wait
[[ -p "$work/plot.fifo" ]] || fail "the FIFO --plot_file was replaced by a regular file"
"$python" -c "import sys; assert open(sys.argv[1],'rb').read()[:8] == b'\x89PNG\r\n\x1a\n'" "$work/fifo_read" \
  || fail "the FIFO's reader got no PNG"

tool="$evaluate"
expect_error "no model file: give -m/--model_file" -d MNIST --data_dir="$work/data"
expect_error "model file $work/out/torch_nn02CNNQSGD2.pt was trained on MNIST (64 training images), not on FashionMNIST (64 training images)" \
  -d FashionMNIST -m "$work/out/torch_nn02CNNQSGD2.pt" --data_dir="$work/data"
"$evaluate" -d MNIST -m "$work/out/torch_nn02CNNQSGD2.pt" --data_dir="$work/data2" -ng 1 --out_dir="$work/eval2" \
  >"$work/eval2.out" 2>&1 || fail "test on other data of the same name failed: $(cat "$work/eval2.out")"
grep -q "the data differs from what the model was trained on" "$work/eval2.out" || fail "no note of other data: $(cat "$work/eval2.out")"
expect_error "model file $work/nothing.pt: not found" -d MNIST -m "$work/nothing.pt" --data_dir="$work/data"
expect_error "'conv1.weight' is [32, 1, 3, 3] but net LeNet has [6, 1, 5, 5]" -d MNIST -n LeNet \
  -m "$work/out/torch_nn02CNNQSGD2.pt" --data_dir="$work/data"
expect_error "has no tensor 'conv.weight'" -d MNIST -n ResNet -rl 1 -m "$work/out/torch_nn02CNNQSGD2.pt" --data_dir="$work/data"
echo "garbage" >"$work/bad.pt"
expect_error "$work/bad.pt: not a model file" -d MNIST -m "$work/bad.pt" --data_dir="$work/data"
echo "garbage" >"$work/bad.pickle"
expect_error "$work/bad.pickle: not a pickled list of floats" -d MNIST -m "$work/out/torch_nn02CNNQSGD2.pt" \
  -e "$work/bad.pickle" --data_dir="$work/data" --out_dir="$work/out"
mkdir -p "$work/damaged" && cp "$work/out/error_CNNQSGD2.pickle" "$work/damaged/"
echo '{"epoch": 1, "loss": 0.5' >"$work/damaged/metrics_CNNQSGD2.jsonl"
expect_error "$work/damaged/metrics_CNNQSGD2.jsonl line 1: not a complete JSON object (cut off?)" -d MNIST \
  -m "$work/out/torch_nn02CNNQSGD2.pt" -e "$work/damaged/error_CNNQSGD2.pickle" --data_dir="$work/data" \
  --out_dir="$work/damaged"
expect_error "-ng 3: use 0 or 1" -ng 3
expect_error "model file $work/out: is a folder, not a file" -d MNIST -m "$work/out" --data_dir="$work/data"
expect_error "model file /dev/zero: not a file (a device or socket)" -d MNIST -m /dev/zero --data_dir="$work/data"
expect_error "error trend file (-e) $work/missing.pickle: not found" -d MNIST -m "$work/out/torch_nn02CNNQSGD2.pt" \
  -e "$work/missing.pickle" --data_dir="$work/data"
expect_error "plot file $work/out: a folder is in the way" -d MNIST -m "$work/out/torch_nn02CNNQSGD2.pt" \
  -e "$work/out/error_CNNQSGD2.pickle" --plot_file="$work/out" --data_dir="$work/data"
# A bad --out_dir fails before anything is evaluated or written (the plot included).
mkdir -p "$work/fresh" && cp "$work/out/error_CNNQSGD2.pickle" "$work/fresh/"
expect_error "--out_dir=$work/bad.pt/eval: cannot create it: $work/bad.pt is not a directory" -d MNIST \
  -m "$work/out/torch_nn02CNNQSGD2.pt" -e "$work/fresh/error_CNNQSGD2.pickle" --data_dir="$work/data" \
  --out_dir="$work/bad.pt/eval"
[[ -e "$work/fresh/error_CNNQSGD2.png" ]] && fail "a plot was written although --out_dir was bad"
expect_error "unknown command line flag 'bogus'" --bogus

# A plot file name too long for its temporary beside it is refused before the evaluation.
long_name="$work/$(printf 'p%.0s' $(seq 245)).png"
expect_error "plot file $long_name: the file name is 249 bytes; at most 240 leave room for its temporary" -d MNIST \
  -m "$work/out/torch_nn02CNNQSGD2.pt" -e "$work/out/error_CNNQSGD2.pickle" --plot_file="$long_name" \
  --data_dir="$work/data" --out_dir="$work/out"

# Symbolic-link loops where a tool writes: one line, never an abort.
ln -s plotloop "$work/plotloop"
expect_error "$work/plotloop: Too many levels of symbolic links" -d MNIST -m "$work/out/torch_nn02CNNQSGD2.pt" \
  -e "$work/out/error_CNNQSGD2.pickle" --plot_file="$work/plotloop" --data_dir="$work/data" --out_dir="$work/out"
ln -s outloop "$work/outloop"
expect_error "--out_dir=$work/outloop: Too many levels of symbolic links" -d MNIST -m "$work/out/torch_nn02CNNQSGD2.pt" \
  --data_dir="$work/data" --out_dir="$work/outloop"
tool="$train"
mkdir -p "$work/loopout" && ln -s torch_nn02CNNSGD1.pt "$work/loopout/torch_nn02CNNSGD1.pt"
expect_error "$work/loopout/torch_nn02CNNSGD1.pt: Too many levels of symbolic links" -m SGD -d MNIST \
  --data_dir="$work/data" -e 1 --out_dir="$work/loopout"

# A closed stdout (train | head) stops the printing, not the run: it finishes and writes its files.
"$train" -m SGD -d MNIST --data_dir="$work/data" -e 3 --out_dir="$work/piped" --progress=off 2>"$work/piped.err" \
  | head -1 >/dev/null
code=${PIPESTATUS[0]}
[[ $code -eq 0 ]] || fail "train into a closed pipe exited $code: $(cat "$work/piped.err")"
[[ -f "$work/piped/torch_nn02CNNSGD3.pt" ]] || fail "train into a closed pipe wrote no model"
grep -q "train: standard output is closed; the run goes on without printing" "$work/piped.err" \
  || fail "no word of the closed stdout: $(cat "$work/piped.err")"
grep -q "\[Epoch :    3\]" "$work/piped/operation_CNNSGD3.txt" || fail "the operation log lacks the unprinted lines"

finish "train and test check out from the command line"
