#!/bin/bash
# qres/python/tests/safety_test.py with the extension built with AddressSanitizer (BUILD:
# extension_asan). Python is not built with it, so ASan's runtime is preloaded, with libstdc++
# after it (else ASan finds no __cxa_throw to intercept and aborts at the first C++ exception);
# Python's own allocations are not leaks to report.
set -euo pipefail
python="$1"
preload="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so.6)"
for library in $preload; do [[ -f "$library" ]] || { echo "FAIL: no $library (gcc's AddressSanitizer runtime)"; exit 1; }; done
LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 PYTHONPATH="$PWD/qres/python" \
  exec "$python" qres/python/tests/safety_test.py
