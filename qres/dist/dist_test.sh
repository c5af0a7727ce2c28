#!/bin/bash
# Two ranks of dist_check on loopback, started by hand and by torchrun, and four through two torchrun
# agents as on two machines; a bad environment, a port in use and a rank that never joins end every
# process in time with one line; qres's own code defines no gloo symbol (libtorch has gloo; Debian's
# headers must not add a second copy).
set -uo pipefail
check="$1"
python="$2"
source qres/tests/test_lib.sh
work=$(fresh_work_dir dist)

# By hand: the variables torchrun would set.
port=$(free_port)
for rank in 0 1; do
  RANK=$rank WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout 60 "$check" --timeout_s=30 \
    >"$work/rank$rank.out" 2>&1 &
done
wait
for rank in 0 1; do
  grep -q "^rank $rank of 2: collectives ok$" "$work/rank$rank.out" || fail "rank $rank: $(cat "$work/rank$rank.out")"
done

# A rank started twice: the second process to check in as rank 1 stops at once with one line, and
# the other two run as usual. Rank 0 serves its store 10 s longer: on a loaded machine one rank 1
# had started only after the other two were done, and found no store at all.
port=$(free_port)
for who in 0 1 1b; do
  RANK=${who%b} WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port timeout 60 "$check" --timeout_s=30 \
    --linger_s=10 >"$work/twice$who.out" 2>&1 &
done
wait
grep -q "^rank 0 of 2: collectives ok$" "$work/twice0.out" || fail "rank 0 beside a doubled rank 1: $(cat "$work/twice0.out")"
[[ $(cat "$work/twice1.out" "$work/twice1b.out" | grep -c "^rank 1 of 2: collectives ok$") -eq 1 ]] \
  && [[ $(cat "$work/twice1.out" "$work/twice1b.out" | grep -c "rank 1 of 2: another process already joined as rank 1 (a rank started twice?)$") -eq 1 ]] \
  || fail "a doubled rank 1: $(cat "$work/twice1.out" "$work/twice1b.out")"

# Through torchrun (its agent hosts the store: TORCHELASTIC_USE_AGENT_STORE=True).
if timeout 120 "$python" -m torch.distributed.run --nproc_per_node=2 --master_addr=127.0.0.1 \
    --master_port="$(free_port)" --no-python "$check" --timeout_s=30 >"$work/torchrun.out" 2>&1; then
  [[ $(grep -c "collectives ok" "$work/torchrun.out") -eq 2 ]] || fail "torchrun: $(cat "$work/torchrun.out")"
else
  fail "torchrun failed: $(tail -5 "$work/torchrun.out")"
fi

# Two "machines" (two torchrun agents, --nnodes=2, static rendezvous at node 0's agent), two ranks
# each: RANK 0..3, LOCAL_RANK 0..1.
port=$(free_port)
for node in 0 1; do
  timeout 120 "$python" -m torch.distributed.run --nnodes=2 --node_rank=$node --nproc_per_node=2 \
    --master_addr=127.0.0.1 --master_port="$port" --no-python "$check" --timeout_s=30 >"$work/node$node.out" 2>&1 &
done
wait
for rank in 0 1 2 3; do
  grep -q "^rank $rank of 4: collectives ok$" "$work/node0.out" "$work/node1.out" \
    || fail "2 nodes: rank $rank: $(cat "$work/node0.out" "$work/node1.out" | tail -5)"
done

# expect_error "<substring>" [VAR=value...] -- args: non-zero exit within the time limit, one line.
# expect_error TEXT VAR=... -- FLAGS...: one line of error holding TEXT; with GREP_MODE=-E, TEXT is
# an extended regular expression.
expect_error() {
  local want="$1"; shift
  local vars=()
  while [[ "$1" != "--" ]]; do vars+=("$1"); shift; done
  shift
  if env "${vars[@]}" timeout 30 "$check" "$@" >/dev/null 2>"$work/err"; then fail "${vars[*]} succeeded"; return; fi
  [[ $(wc -l <"$work/err") -eq 1 ]] || fail "${vars[*]}: expected one line, got: $(cat "$work/err")"
  grep -q "${GREP_MODE:--F}" -- "$want" "$work/err" || fail "${vars[*]}: expected '$want', got: $(cat "$work/err")"
}
expect_error "RANK=2 must be a whole number in [0, 1]" RANK=2 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1234 --
expect_error "MASTER_ADDR is not set" RANK=0 WORLD_SIZE=2 MASTER_PORT=1234 --
# A port someone else listens on.
"$python" -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', 0)); s.listen()
open('$work/busy_port', 'w').write(str(s.getsockname()[1])); time.sleep(40)" &
holder=$!
for _ in $(seq 100); do [[ -s "$work/busy_port" ]] && break; sleep 0.1; done
expect_error "rank 0 cannot serve the store at MASTER_ADDR=127.0.0.1 MASTER_PORT=$(cat "$work/busy_port")" \
  RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT="$(cat "$work/busy_port")" -- --timeout_s=5
# A peer that accepts the connection (the listener's backlog does) and never answers: the store's
# handshake would wait for good; the deadline ends it within the timeout and a second (+ start-up).
start=$(date +%s)
# Either timer may end it (ours, or c10d's own connect timeout on a loaded machine): one line that
# names the rank, the address and the time, either way.
unreached="^dist_check: rank 1 (of 2: not connected within 3 s: nothing answers|cannot reach the store) at MASTER_ADDR=127.0.0.1"
GREP_MODE=-E expect_error "$unreached" \
  RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT="$(cat "$work/busy_port")" -- --timeout_s=3
(( $(date +%s) - start <= 8 )) || fail "a silent store peer held rank 1 for $(( $(date +%s) - start )) s"
kill $holder 2>/dev/null
# Rank 1 never comes: rank 0 gives up after --timeout_s, in one line.
start=$(date +%s)
expect_error "rank 0 of 2: the ranks did not all join within 3 s" \
  RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT="$(free_port)" -- --timeout_s=3
(( $(date +%s) - start <= 20 )) || fail "rank 0 waited $(( $(date +%s) - start )) s for a lost rank"
# No store to reach: a rank other than 0 gives up in one line, within the timeout (c10d's own
# connect retries took 1.7-2.7 times it).
start=$(date +%s)
GREP_MODE=-E expect_error "$unreached" \
  RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT="$(free_port)" -- --timeout_s=3
(( $(date +%s) - start <= 8 )) || fail "rank 1 without a store took $(( $(date +%s) - start )) s"

# libtorch has gloo; qres's code must not define any of gloo's own symbols.
defined=$(nm -C --defined-only "$check" \
  | awk '$2 ~ /^[TWBDRV]$/ && $3 ~ /^(gloo::|typeinfo for gloo::|vtable for gloo::)/')
[[ -z "$defined" ]] || fail "dist_check defines gloo symbols: $(echo "$defined" | head -3)"

finish "distributed checks pass"
