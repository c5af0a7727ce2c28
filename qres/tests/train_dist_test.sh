#!/bin/bash
# train on 2 ranks (torchrun, Gloo on loopback) against 1 process with the same global batch: the
# same index at every step, the first epoch's loss up to the sums' rounding; rank 0 alone prints
# and writes; a stopped 2-rank run resumes bit-identically to an uninterrupted one, and on 1 process
# like it up to rounding; bad setups end every rank with one line.
set -uo pipefail
train="$1"
python="$2"
source qres/tests/test_lib.sh
work=$(fresh_work_dir dist)
mkdir -p "$work/data"
export OMP_NUM_THREADS=1

# A tiny MNIST: 65 training images (batches of 16, 16, 16, 16 and 1: in the last one rank 1 has no
# sample, so its gradients are summed after backward, not by the Reducer), 48 test images (3 test
# batches: the evaluation shards).
"$python" qres/tests/tiny_mnist.py "$work/data" 65 48
run=(-d MNIST --data_dir="$work/data" -b 16 -m QtAdamW -qp 2 -l 0.01 --tensorboard=off --threads=1 --dist_timeout=20)
ranks() {  # ranks N args...: train on N ranks through torchrun
  local n="$1"; shift
  timeout 120 "$python" -m torch.distributed.run --nproc_per_node="$n" --master_addr=127.0.0.1 \
    --master_port="$(free_port)" --no-python "$train" "$@"
}

# 55 steps (11 epochs of 5) of QtAdamW and of QSGD on 1 process and on 2 ranks. The ranks check
# each epoch that their weights and index are bit-identical (train stops with an error naming the
# rank otherwise). Against 1 process, 2 ranks add the same gradients in another order, so the sums
# differ in their last bits, and what is compared is what such a difference cannot move:
# - the index after every step (TensorBoard's step scalars): a bump needs the whole quantized
#   update to round to 0, and index_limit=16 keeps the finest grid (2^-17) far above float32's
#   rounding of the gradients (at 2^-25 and finer the last bit of a sum decides whether a tiny
#   update rounds to 0, so no data-parallel run could follow one process's bumps there); a sum over
#   the wrong samples or of the wrong scale changes when the index bumps;
# - the first epoch's loss and accuracies. The first batch's loss sees the same weights; the loss
#   of each later batch moves with the weights, and a weight moves by a whole grid step where a
#   last-bit difference crosses a rounding boundary (QSGD: measured 1e-8 of the loss after the
#   first epoch, on AVX-512 and on ATen's scalar kernels). Past it the difference compounds, about
#   3-10x per epoch (QSGD's losses part by 5e-5 after 11 epochs on an Intel Xeon, by 2e-4 on its
#   scalar kernels), so later losses say nothing about the data-parallel code. 1e-4 is 10^4 times
#   the first epoch's rounding and 100 times below what one batch's wrong half does to a loss
#   (2e-2 to 5e-1 between a batch and its half, measured here);
# - the sharded evaluation: every test image counted (the header's total below).
for algo in QtAdamW QSGD; do
  each=(-m $algo --quant_params=index_limit=16 -e 11 --tensorboard_every=1)
  "$train" "${run[@]}" "${each[@]}" --tensorboard="$work/tb$algo/one" --out_dir="$work/one$algo" \
    >"$work/one$algo.out" 2>&1 || fail "1 process, $algo: $(tail -3 "$work/one$algo.out")"
  ranks 2 "${run[@]}" "${each[@]}" --tensorboard="$work/tb$algo/two" --out_dir="$work/two$algo" \
    >"$work/two$algo.out" 2>&1 || fail "2 ranks, $algo: $(tail -3 "$work/two$algo.out")"
  "$python" - "$work" $algo <<'PY' || fail "$algo: 2 ranks differ from 1 process by more than the sums' rounding can"
import glob, json, sys
from tensorboard.backend.event_processing import event_accumulator
work, algo = sys.argv[1:]
def step_indices(who):
    [run] = glob.glob(f"{work}/tb{algo}/{who}/CNN{algo}11_*")  # the run's name and its out_dir's
    acc = event_accumulator.EventAccumulator(run, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars("step/quant_index")]
steps_one, steps_two = step_indices("one"), step_indices("two")
assert len(steps_one) == 55 and steps_one == steps_two, (steps_one, steps_two)
assert len({v for _, v in steps_one}) >= 3, f"the index bumped less than twice: {steps_one}"
one = [json.loads(l) for l in open(f"{work}/one{algo}/metrics_CNN{algo}11.jsonl")]
two = [json.loads(l) for l in open(f"{work}/two{algo}/metrics_CNN{algo}11.jsonl")]
assert len(one) == len(two) == 11, (len(one), len(two))
a, b = one[0], two[0]
assert abs(a["loss"] - b["loss"]) <= 1e-4 * abs(a["loss"]), (a, b)
assert a["train_accuracy"] == b["train_accuracy"] and a["test_accuracy"] == b["test_accuracy"], (a, b)
PY
done
out="$work/twoQtAdamW.out"
[[ $(grep -c "^\[Epoch :" "$out") -eq 11 ]] || fail "rank 1 printed too: $(grep -c "^\[Epoch :" "$out") epoch lines"
[[ $(ls "$work/twoQtAdamW" | wc -l) -eq 5 ]] || fail "2 ranks wrote other files than 1 process: $(ls "$work/twoQtAdamW")"
grep -q "^Total samples       : 48$" "$out" || fail "the sharded evaluation did not count all 48 test images"
grep -q "^Ranks               : 2 (c10d, gloo), 8 of each batch per rank, gradients summed in 25 MiB buckets during backward$" \
  "$out" || fail "the header's ranks line: $(grep "^Ranks" "$out")"

# Stopped (SIGTERM through torchrun) after a checkpoint, resumed on 2 ranks: bit-identical.
ranks 2 "${run[@]}" -e 200 --out_dir="$work/straight" >/dev/null 2>&1 || fail "the uninterrupted 2-rank run failed"
# exec: the signal goes to timeout, which passes it to torchrun, which passes it to every rank.
(exec timeout 120 "$python" -m torch.distributed.run --nproc_per_node=2 --master_addr=127.0.0.1 \
  --master_port="$(free_port)" --no-python "$train" "${run[@]}" -e 200 --out_dir="$work/stopped") >"$work/stopped.out" 2>&1 &
launcher=$!
for _ in $(seq 600); do [[ -f "$work/stopped/checkpoint_CNNQtAdamW200.pt" ]] && break; sleep 0.05; done
sleep 0.3
kill -TERM $launcher
wait $launcher
grep -q "Interrupted at epoch" "$work/stopped.out" || fail "not stopped mid-run: $(tail -3 "$work/stopped.out")"
cp -r "$work/stopped" "$work/stopped_to_one"
ranks 2 "${run[@]}" -e 200 --out_dir="$work/stopped" --resume >"$work/resumed.out" 2>&1 || fail "resume: $(tail -3 "$work/resumed.out")"
"$python" - "$work" <<'PY' || fail "the resumed 2-rank run is not bit-identical to the uninterrupted one"
import sys, torch
work = sys.argv[1]
a = torch.load(f"{work}/straight/torch_nn02CNNQtAdamW200.pt", weights_only=False)
b = torch.load(f"{work}/stopped/torch_nn02CNNQtAdamW200.pt", weights_only=False)
assert all(torch.equal(a[k], b[k]) for k in a)
PY

# Asked to, every rank prints, each line with its rank.
ranks 2 "${run[@]}" -e 1 --dist_all_ranks_print --out_dir="$work/loud" >"$work/loud.out" 2>&1 || fail "loud: $(tail -3 "$work/loud.out")"
for rank in 0 1; do
  [[ $(grep -c "^\[rank $rank\] \[Epoch :    1\]" "$work/loud.out") -eq 1 ]] || fail "rank $rank's epoch line: $(grep Epoch "$work/loud.out")"
done

# The same checkpoint resumed on 1 process: the same global batches, so the next epoch's loss is
# the uninterrupted 2-rank run's up to the sums' rounding over one epoch (the bound above).
"$train" "${run[@]}" -e 200 --out_dir="$work/stopped_to_one" --resume >"$work/to_one.out" 2>&1 \
  || fail "resumed on 1 process: $(tail -3 "$work/to_one.out")"
grep -q "^Resumed from .*, on 1 rank(s); it ran on 2 (the same global batches" "$work/to_one.out" \
  || fail "the resume line: $(grep Resumed "$work/to_one.out")"
"$python" - "$work" "$(grep -o "^Resumed from .* at epoch [0-9]*" "$work/to_one.out" | grep -o "[0-9]*$")" <<'PY' \
  || fail "resumed on 1 process, its next epoch differs from the 2-rank run's by more than rounding"
import json, sys
work, epoch = sys.argv[1], int(sys.argv[2])
straight = {m["epoch"]: m for m in map(json.loads, open(f"{work}/straight/metrics_CNNQtAdamW200.jsonl"))}
one = {m["epoch"]: m for m in map(json.loads, open(f"{work}/stopped_to_one/metrics_CNNQtAdamW200.jsonl"))}
assert len(one) == 200, len(one)
a, b = straight[epoch], one[epoch]
assert abs(a["loss"] - b["loss"]) <= 1e-4 * abs(a["loss"]), (a, b)
PY

# One-line errors: a global batch that does not split. (Started by
# hand: under torchrun the first rank to fail has the others stopped, and a rank stopped before it
# installs its signal handler says nothing.)
port=$(free_port)
for rank in 0 1; do
  RANK=$rank WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout 60 "$train" "${run[@]}" -b 15 -e 1 \
    --out_dir="$work/odd" >/dev/null 2>"$work/odd$rank.err" && fail "rank $rank: an odd batch split"
  grep -q "^train: --batch_size=15 (the global batch) does not split over 2 ranks; give a multiple of 2$" \
    "$work/odd$rank.err" || fail "rank $rank should say the batch does not split: $(cat "$work/odd$rank.err")"
done

# Ranks started unlike: other --epochs, or other data of the same name and size. Every rank says
# what differs, in one line, before any of them trains.
same_size_other_data "$work/data" "$work/data2"
for unlike in epochs data; do
  port=$(free_port)
  for rank in 0 1; do
    own=(-e 2 --data_dir="$work/data")
    if ((rank == 1)); then
      [[ $unlike == epochs ]] && own=(-e 3 --data_dir="$work/data") || own=(-e 2 --data_dir="$work/data2")
    fi
    RANK=$rank WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout 60 "$train" "${run[@]}" "${own[@]}" \
      --out_dir="$work/unlike_$unlike" >/dev/null 2>"$work/unlike_$unlike$rank.err" &
    pids[$rank]=$!
  done
  for rank in 0 1; do
    wait ${pids[$rank]} && fail "rank $rank of ranks with other --$unlike finished"
    want="rank 1 differs from rank 0 in --epochs: 3 against 2; start every rank alike"
    [[ $unlike == data ]] && want="rank 1 differs from rank 0 in its data (checksums; the same --data_dir contents on every rank): train "
    [[ $(wc -l <"$work/unlike_$unlike$rank.err") -eq 1 ]] && grep -qF "$want" "$work/unlike_$unlike$rank.err" \
      || fail "rank $rank, other --$unlike: $(cat "$work/unlike_$unlike$rank.err")"
  done
  [[ -e "$work/unlike_$unlike/metrics_CNNQtAdamW2.jsonl" ]] && fail "ranks with other --$unlike trained"
done

# A rank that fails before training (its --out_dir has no checkpoint to resume): the other stops
# at once with its error, not after --dist_timeout.
port=$(free_port)
start=$(date +%s)
for rank in 0 1; do
  own="$work/twoQtAdamW"; ((rank == 1)) && own="$work/nothing_to_resume"
  RANK=$rank WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout 60 "$train" "${run[@]}" -m QtAdamW \
    --quant_params=index_limit=16 -e 11 --tensorboard=off --resume --out_dir="$own" >/dev/null 2>"$work/setup$rank.err" &
  pids[$rank]=$!
done
wait ${pids[1]}; wait ${pids[0]} && fail "rank 0 went on without rank 1"
(( $(date +%s) - start <= 15 )) || fail "rank 0 took $(( $(date +%s) - start )) s to hear of rank 1's failure"
grep -q "rank 1 failed before training: --resume: no checkpoint" "$work/setup0.err" \
  || fail "rank 0 should name rank 1's failure: $(cat "$work/setup0.err")"

# A rank that dies: the other stops at once with one line (started by hand: torchrun would stop it
# itself).
port=$(free_port)
for rank in 0 1; do
  RANK=$rank WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$train" "${run[@]}" -e 400 \
    --out_dir="$work/lost" >/dev/null 2>"$work/lost$rank.err" &
  pids[$rank]=$!
done
for _ in $(seq 600); do [[ -f "$work/lost/checkpoint_CNNQtAdamW400.pt" ]] && break; sleep 0.05; done
kill -9 ${pids[1]}
start=$(date +%s)
wait ${pids[0]} && fail "rank 0 finished although rank 1 died"
(( $(date +%s) - start <= 25 )) || fail "rank 0 took $(( $(date +%s) - start )) s to notice"
[[ $(wc -l <"$work/lost0.err") -eq 1 ]] && grep -q "^train: rank 0.*another rank died.*; lost: rank 1$" "$work/lost0.err" \
  || fail "rank 0's error: $(cat "$work/lost0.err")"

finish "data-parallel training checks out"
