# What the shell tests share. Bazel starts a test in its runfiles root, so a test sources this as
#   source qres/tests/test_lib.sh
# and then (free_port needs `python`, the interpreter that imports torch):
#   work=$(fresh_work_dir cli)   # an empty folder in the test's temporary directory
#   fail "what went wrong"       # says it and counts it; the test goes on
#   port=$(free_port)            # a loopback port nobody listens on now
#   finish "train checks out"    # exit 1 with the count when anything failed, else the message
#   same_size_other_data "$work/data" "$work/data2"  # a copy of an IDX data set, one label changed
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
fresh_work_dir() {
  local dir="${TEST_TMPDIR:-$(mktemp -d)}/$1"
  rm -rf "$dir" && mkdir -p "$dir" && echo "$dir"
}
free_port() { "$python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }
same_size_other_data() {  # the data set's name and size, other bytes: what its checksum tells apart
  cp -r "$1" "$2"
  "$python" - "$2/train-labels-idx1-ubyte.gz" <<'PY'
import gzip, sys
data = bytearray(gzip.open(sys.argv[1]).read())
data[8] = (data[8] + 1) % 10  # the first label
gzip.open(sys.argv[1], "wb").write(bytes(data))
PY
}
finish() {
  if ((failures != 0)); then echo "$failures failure(s)"; exit 1; fi
  echo "$1"
}
