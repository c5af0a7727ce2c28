#!/bin/bash
# Makes a screenshot of TensorBoard showing a run's curves (docs/tensorboard.png): serves the
# event files that train wrote on localhost and captures the page with headless Chromium. Only
# this docs script needs Chromium (apt-get install chromium); tools/setup.sh does not install it.
#
#   tools/docs/tensorboard_screenshot.sh /tmp/run/tensorboard [docs/tensorboard.png]
set -euo pipefail
logdir="${1:?usage: $0 <folder of TensorBoard runs> [out.png]}"
out="${2:-docs/tensorboard.png}"
port=6123
command -v chromium >/dev/null || { echo "$0: needs chromium (apt-get install chromium)" >&2; exit 1; }
python3 -m tensorboard.main --logdir "$logdir" --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 60); do
  curl -sf "http://127.0.0.1:$port/" >/dev/null && break
  sleep 0.5
done
# The scalars page renders its charts in JavaScript: give it virtual time to finish.
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1000 \
  --virtual-time-budget=15000 --screenshot="$out" "http://127.0.0.1:$port/?darkMode=false#timeseries" 2>/dev/null
echo "wrote $out"
