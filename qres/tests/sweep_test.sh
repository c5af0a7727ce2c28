#!/bin/bash
# sweep and report end to end on tiny generated data: a grid runs, is stopped mid-run, continues
# without redoing finished runs (the stopped one resumes from its checkpoint), and the report's
# numbers equal the runs' metrics files; bad grids and bad run folders are one-line errors.
set -uo pipefail
sweep="$1"
report="$2"
python="$3"
source qres/tests/test_lib.sh
work=$(fresh_work_dir sweep)
mkdir -p "$work/data"

# A tiny MNIST (64 training images, 16 test images) in the official gzipped IDX format.
"$python" qres/tests/tiny_mnist.py "$work/data" 64 16

# expect_error "<substring>" tool args...: non-zero exit, one line on stderr naming the problem.
expect_error() {
  local want="$1"; shift
  if "$@" >/dev/null 2>"$work/err"; then fail "$* succeeded"; return; fi
  [[ $(wc -l <"$work/err") -eq 1 ]] || fail "$*: expected one line, got: $(cat "$work/err")"
  grep -qF -- "$want" "$work/err" || fail "$*: expected '$want', got: $(cat "$work/err")"
}
every=(-- -d MNIST --data_dir="$work/data" -b 16 -l 0.01 --tensorboard=off)
expect_error "--grid: the grid is empty" "$sweep" --out_dir="$work/x" --grid=' ; '
expect_error "grid axis lrr: train has no flag --lrr" "$sweep" --out_dir="$work/x" --grid='lrr=0.1|0.2'
expect_error "grid axis algo: unknown algorithm 'Lion'" "$sweep" --out_dir="$work/x" --grid='algo=SGD|Lion'
expect_error "--bogus=1 after --: train has no flag --bogus" "$sweep" --out_dir="$work/x" --grid='seed=1' -- --bogus=1
expect_error "grid axis out_dir: the sweep sets it" "$sweep" --grid='out_dir=a|b'
expect_error "axis lr: values '0.001' and '1e-3' are the same run (both mean lr=0.001" "$sweep" --out_dir="$work/x" \
  --grid='lr=0.001|1e-3'
expect_error "values '$work/data' and '$work/./data/' are the same run" "$sweep" --out_dir="$work/x" \
  --grid="data_dir=$work/data|$work/./data/"
[[ -e "$work/x" ]] && fail "a bad sweep made its folder"

# Three runs, one at a time; stopped (SIGTERM) once the second has a checkpoint.
grid='algo=SGD|QtAdamW;seed=1'
"$sweep" --out_dir="$work/s" --grid="$grid;epochs=1|40" "${every[@]}" >/dev/null 2>"$work/first.err" &
pid=$!
second="$work/s/algo=SGD,seed=1,epochs=40"
for _ in $(seq 600); do [[ -f "$second/checkpoint_CNNSGD40.pt" ]] && break; sleep 0.05; done
kill -TERM $pid
wait $pid
code=$?
[[ $code -eq 130 ]] || fail "a stopped sweep exits 130, not $code: $(cat "$work/first.err")"
grep -q "the same command continues the sweep" "$work/first.err" || fail "no continue hint: $(cat "$work/first.err")"
grep -q '"status": "finished"' "$work/s/algo=SGD,seed=1,epochs=1/sweep.json" || fail "the first run did not finish"
grep -q '"status": "started"' "$second/sweep.json" || fail "the stopped run's sweep.json: $(cat "$second/sweep.json")"
lines_before=$(wc -l <"$work/s/algo=SGD,seed=1,epochs=1/sweep_output.txt")

# The stopped run is left out of a report, and named.
"$report" --out="$work/partial" "$work/s" >"$work/partial.out" 2>&1 || fail "report of a stopped sweep: $(cat "$work/partial.out")"
grep -q "^1 runs\.$" "$work/partial.md" && grep -q "Left out, not finished: $second/metrics_CNNSGD40.jsonl ([0-9]* of 40 epochs)" \
  "$work/partial.md" || fail "the unfinished run in the report: $(cat "$work/partial.md")"

"$sweep" --out_dir="$work/s" --grid="$grid;epochs=1|40" "${every[@]}" >/dev/null 2>"$work/second.err" \
  || fail "the continued sweep failed: $(cat "$work/second.err")"
grep -q "4 runs in $work/s, 1 already finished, 3 to run" "$work/second.err" || fail "did not skip: $(cat "$work/second.err")"
[[ $(wc -l <"$work/s/algo=SGD,seed=1,epochs=1/sweep_output.txt") -eq $lines_before ]] || fail "a finished run ran again"
grep -q "Resumed from" "$second/operation_CNNSGD40.txt" || fail "the stopped run did not resume from its checkpoint"

# Continued with other flags, a finished sweep is an error, not "all runs finished".
expect_error "was run with train flags --algo=SGD --seed=1 --epochs=1 -d MNIST" \
  "$sweep" --out_dir="$work/s" --grid="$grid;epochs=1|40" "${every[@]}" --noshuffle
# A finished run whose model was deleted runs again (from its finished checkpoint: no epoch retrains).
rm "$work/s/algo=SGD,seed=1,epochs=1/torch_nn02CNNSGD1.pt"
"$sweep" --out_dir="$work/s" --grid="$grid;epochs=1|40" "${every[@]}" >/dev/null 2>"$work/third.err" \
  || fail "the sweep after a deleted model failed: $(cat "$work/third.err")"
grep -q "4 runs in $work/s, 3 already finished, 1 to run" "$work/third.err" || fail "did not rerun: $(cat "$work/third.err")"
[[ -f "$work/s/algo=SGD,seed=1,epochs=1/torch_nn02CNNSGD1.pt" ]] || fail "the model was not written again"

# A train that exits 0 without training (--list) failed; a binary that is not train, or a folder
# name too long for the file system, is refused before anything runs.
"$sweep" --out_dir="$work/l" --grid='list=true' "${every[@]}" >/dev/null 2>"$work/list.err" && fail "a --list sweep succeeded"
grep -q "train exited 0 but wrote no model" "$work/list.err" || fail "--grid=list=true: $(cat "$work/list.err")"
expect_error "/bin/echo is not qres's train binary: its --help lists no --out_dir" "$sweep" --train=/bin/echo \
  --grid='seed=1' --out_dir="$work/never"
expect_error "bytes long, more than the file system's 255; give shorter values" "$sweep" --out_dir="$work/never" \
  --grid="lr=0.$(printf '1%.0s' $(seq 300))"

# A failed run is reported, the rest go on, the exit status says so.
"$sweep" --out_dir="$work/f" --grid='net=CNN|ResNet;net_params=layers=1' "${every[@]}" -e 2 >/dev/null 2>"$work/fail.err"
[[ $? -ne 0 ]] || fail "a sweep with a failed run exited 0"
grep -q "1 of 2 runs failed" "$work/fail.err" && grep -q "net=CNN,net_params=layers=1: .*unknown key 'layers'" "$work/fail.err" \
  || fail "the failed run is not reported: $(cat "$work/fail.err")"
[[ -f "$work/f/net=ResNet,net_params=layers=1/torch_nn02ResNetAdam2.pt" ]] || fail "the good run did not finish"

# The report of the first sweep plus a run of another data set: separate tables, and its numbers
# equal the metrics files'.
"$sweep" --out_dir="$work/fm" --grid='seed=1|2' -- -d FashionMNIST --data_dir="$work/data" -b 16 -e 2 \
  --tensorboard=off >/dev/null 2>&1 || fail "the FashionMNIST sweep failed"
"$report" --out="$work/report" "$work/s" "$work/fm" >"$work/report.out" 2>&1 || fail "report failed: $(cat "$work/report.out")"
"$python" - "$work" <<'PY' || fail "the report does not match the metrics files"
import csv, glob, json, statistics, sys
work = sys.argv[1]
rows = {(r["section"], r["configuration"]): r for r in csv.DictReader(open(f"{work}/report.csv"))}
sections = {s for s, _ in rows}
assert len(sections) == 2 and any(s.startswith("MNIST") for s in sections) \
    and any(s.startswith("FashionMNIST") for s in sections), sections
def runs(pattern):
    return [[json.loads(l) for l in open(f)] for f in sorted(glob.glob(pattern))]
def check(row, metrics):
    finals = [m[-1]["test_accuracy"] for m in metrics]
    bests = [max(e["test_accuracy"] for e in m) for m in metrics]
    assert int(row["runs"]) == len(metrics), (row, len(metrics))
    assert abs(float(row["final_test_acc_mean"]) - statistics.mean(finals)) < 1e-6, (row, finals)
    assert abs(float(row["best_test_acc_mean"]) - statistics.mean(bests)) < 1e-6, (row, bests)
    sd = statistics.stdev(finals) if len(finals) > 1 else 0.0
    assert abs(float(row["final_test_acc_sd"]) - sd) < 1e-6, (row, finals)
    losses = [m[-1]["loss"] for m in metrics]
    assert abs(float(row["final_loss_mean"]) - statistics.mean(losses)) < 1e-6 * max(1, statistics.mean(losses)), row
fm = [r for (s, c), r in rows.items() if s.startswith("FashionMNIST")]
assert len(fm) == 1, fm
check(fm[0], runs(f"{work}/fm/*/metrics_*.jsonl"))
mnist = {c: r for (s, c), r in rows.items() if s.startswith("MNIST")}
check(mnist["algo=QtAdamW epochs=40"], runs(f"{work}/s/algo=QtAdamW,seed=1,epochs=40/metrics_*.jsonl"))
check(mnist["algo=SGD epochs=1"], runs(f"{work}/s/algo=SGD,seed=1,epochs=1/metrics_*.jsonl"))
assert len(mnist) == 4, mnist.keys()
PY
grep -q "^### MNIST (64 training images), net CNN" "$work/report.md" || fail "no MNIST table"
# The .md, renamed last, is the set's manifest: each other file with its CRC-32 and size.
"$python" - "$work" <<'PY' || fail "the report's manifest does not match its files: $(tail -1 "$work/report.md")"
import re, sys, zlib
work = sys.argv[1]
listed = re.findall(r"(report[^ ,]*) \(CRC-32 ([0-9a-f]{8}), (\d+) bytes\)", open(f"{work}/report.md").read())
assert sorted(name for name, _, _ in listed) == ["report.csv", "report_1.png", "report_2.png"], listed
for name, crc, size in listed:
    data = open(f"{work}/{name}", "rb").read()
    assert (f"{zlib.crc32(data):08x}", len(data)) == (crc, int(size)), name
PY
for png in "$work/report_1.png" "$work/report_2.png"; do  # a plot per table
  "$python" -c "import sys; d=open(sys.argv[1],'rb').read(); assert d[:8]==b'\x89PNG\r\n\x1a\n'" "$png" || fail "no plot $png"
done

# A run reached through several paths counts once: a folder twice, with a trailing slash, and
# inside the sweep's folder given beside it.
one_run="$work/fm/$(ls "$work/fm" | grep seed=1 | head -1)"
"$report" --out="$work/twice" "$work/fm" "$work/fm/" "$one_run" >/dev/null 2>&1 || fail "report of overlapping folders failed"
counted=$("$python" -c "import csv, sys; print(sum(int(r['runs']) for r in csv.DictReader(open(sys.argv[1]))))" "$work/twice.csv")
[[ "$counted" -eq 2 ]] || fail "overlapping folders counted $counted runs, not 2: $(cat "$work/twice.csv")"
# So does a copy of a run (cp -r) or a folder of hard links to it, and the report says so.
cp -r "$one_run" "$work/copied_run" && cp -rl "$one_run" "$work/linked_run"
"$report" --out="$work/copies" "$work/fm" "$work/copied_run" "$work/linked_run" >/dev/null 2>&1 || fail "report of copies failed"
counted=$("$python" -c "import csv, sys; print(sum(int(r['runs']) for r in csv.DictReader(open(sys.argv[1]))))" "$work/copies.csv")
[[ "$counted" -eq 2 ]] || fail "a copied run counted as another: $counted runs, not 2"
grep -q "^Counted once: .* and its copies $work/copied_run/metrics_.*, $work/linked_run/metrics_.* (byte-identical checkpoints" \
  "$work/copies.md" || fail "the report does not say it counted the copies once: $(head -5 "$work/copies.md")"

# Flags the sweep sets itself, and grid files that are not text files.
expect_error "--out_dir=$work/elsewhere after --: the sweep sets --out_dir for every run" "$sweep" --grid='seed=1' \
  --out_dir="$work/never" -- --out_dir="$work/elsewhere"
expect_error "$work/data: is a folder, not a file" "$sweep" --grid_file="$work/data" --out_dir="$work/never"
expect_error "/dev/zero: not a file (a device or socket)" "$sweep" --grid_file=/dev/zero --out_dir="$work/never"
printf '\xEF\xBB\xBFseed=1|2\n' >"$work/bom_grid"
"$sweep" --grid_file="$work/bom_grid" --out_dir="$work/bom" --dry_run "${every[@]}" >"$work/bom.out" 2>&1 \
  && [[ $(grep -c "to run" "$work/bom.out") -eq 2 ]] || fail "a grid file with a UTF-8 BOM: $(cat "$work/bom.out")"
[[ ! -e "$work/never" ]] || fail "a refused sweep made its --out_dir"

# Bad run folders.
expect_error "$work/data: no run's metrics" "$report" "$work/data"
expect_error "$work/nope: not a folder" "$report" "$work/nope"
mkdir -p "$work/foldered/checkpoint_CNNSGD1.pt"  # a folder where a run's checkpoint should be
cp "$work/s/algo=SGD,seed=1,epochs=1/metrics_CNNSGD1.jsonl" "$work/foldered/"
expect_error "$work/foldered/checkpoint_CNNSGD1.pt: is a folder, not a file" "$report" "$work/foldered"
cut="$work/s/algo=SGD,seed=1,epochs=1/metrics_CNNSGD1.jsonl"
head -c 40 "$cut" >"$work/cut" && cp "$work/cut" "$cut"
expect_error "metrics_CNNSGD1.jsonl line 1: not a complete JSON object (cut off?)" "$report" "$work/s"

# Symbolic-link loops and FIFOs where the tools look for their own files: one line each, never an
# abort or a wait for ever (a FIFO's open would block: the tools never open one of their own files).
ln -s loop "$work/loop"
expect_error "$work/loop: Too many levels of symbolic links" "$report" "$work/loop"
for kind in loop fifo; do
  odd="$work/odd_$kind"
  cp -r "$one_run" "$odd"
  checkpoint="$(ls "$odd"/checkpoint_*.pt)" && rm "$checkpoint"
  if [[ $kind == loop ]]; then ln -s "$(basename "$checkpoint")" "$checkpoint"; want="Too many levels of symbolic links"
  else mkfifo "$checkpoint"; want="a FIFO, not a regular file"; fi
  expect_error "$checkpoint: $want" timeout 20 "$report" "$odd"
  metrics="$(ls "$odd"/metrics_*.jsonl)" && rm "$metrics"
  if [[ $kind == loop ]]; then ln -s "$(basename "$metrics")" "$metrics"; want="not a regular file (Too many levels"
  else mkfifo "$metrics"; want="not a regular file"; fi
  expect_error "$metrics: $want" timeout 20 "$report" "$odd"
  mkdir -p "$work/sl_$kind/seed=1"
  if [[ $kind == loop ]]; then ln -s sweep.json "$work/sl_$kind/seed=1/sweep.json"; want="Too many levels of symbolic links"
  else mkfifo "$work/sl_$kind/seed=1/sweep.json"; want="a FIFO, not a regular file"; fi
  expect_error "$work/sl_$kind/seed=1/sweep.json: $want" timeout 20 "$sweep" --out_dir="$work/sl_$kind" \
    --grid='seed=1|2' --jobs=2 "${every[@]}"
  [[ -e "$work/sl_$kind/seed=2" ]] && fail "a sweep that failed ($kind) started a run"
done
# A report name too long for its files' temporaries is refused before any run is read; the
# temporaries of a report killed before its renames are removed by the next one.
long_out="$work/$(printf 'r%.0s' $(seq 240))"
expect_error "report --out: ${long_out}_999.png: the file name is" "$report" --out="$long_out" "$work/fm"
sleep 0 & dead=$!; wait $dead
for stale in "$work/again.md.tmp.$dead" "$work/again.csv.tmp.$dead"; do echo partial >"$stale"; done
echo mine >"$work/again.md.tmp.$$"  # a live process's (this shell's): kept
"$report" --out="$work/again" "$work/fm" >/dev/null 2>&1 || fail "report over stale temporaries failed"
[[ -e "$work/again.md.tmp.$dead" || -e "$work/again.csv.tmp.$dead" ]] && fail "a dead report's temporaries stayed"
[[ -e "$work/again.md.tmp.$$" ]] || fail "a live process's temporary was removed"
# Two sweeps in one folder: the second is refused, naming the first.
"$sweep" --out_dir="$work/lk" --grid='seed=1;epochs=40' "${every[@]}" >/dev/null 2>"$work/lk.err" &
holder=$!
for _ in $(seq 600); do [[ -f "$work/lk/seed=1,epochs=40/sweep.json" ]] && break; sleep 0.05; done
expect_error "another sweep runs in $work/lk ($work/lk/.sweep.lock is held by process $holder); wait for it to end" \
  "$sweep" --out_dir="$work/lk" --grid='seed=1;epochs=40' "${every[@]}"
kill -TERM $holder
wait $holder
# A grid file from an endless pipe is bounded, not read until memory runs out.
expect_error "more than 16777216 bytes (an endless pipe?)" "$sweep" --grid_file=<(yes seed=1) --out_dir="$work/never"

finish "sweep and report check out"
