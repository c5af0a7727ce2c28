#!/bin/sh
echo "qres: coverage reports are not available in the offline Bazel build" >&2
exit 1
