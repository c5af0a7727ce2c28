#!/bin/sh
# Fails when tools/golden/make_schedule_golden.py would now write other lr sequences than those
# checked in (the script or torch changed without regenerating them).
set -eu
exec "$1" tools/golden/make_schedule_golden.py --check qres/sched/schedules_golden.txt
