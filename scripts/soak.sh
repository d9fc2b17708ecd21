#!/usr/bin/env bash
# The long soak of issue 12: the `exsync sync` service for SECONDS (default
# 300) against the emulator with MAILBOXES mailboxes (default 300), email both
# ways, CRM and Exchange task changes, random seeded faults (503, answers cut
# after N bytes, dripped, stalled, resets, ErrorServerBusy) and a SIGKILL of
# the service at a random EWS request every round, then a memory phase of
# MEMORY_PASSES passes of one long-lived service, and exact checks (see
# suites/soak/soak.c). Figures go to stdout; exit 0 when every check holds.
#
#   scripts/soak.sh [SECONDS] [MAILBOXES] [SEED]
#
# Needs a build with fault points (the default for test builds): the build
# directory $SOAK_BUILD_DIR (default build-soak) is configured here with
# -DEXSYNC_FAULT_POINTS=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
mailboxes=${2:-300}
seed=${3:-1}
build=${SOAK_BUILD_DIR:-build-soak}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEXSYNC_TESTS=ON \
  -DEXSYNC_FAULT_POINTS=ON >/dev/null
cmake --build "$build" -j2 --target soak exsync >/dev/null
EXSYNC_DATA_DIR="$PWD/fixtures" exec "$build/suites/soak" --exsync "$build/diag/exsync" \
  --mailboxes "$mailboxes" --seconds "$seconds" --memory-passes "${MEMORY_PASSES:-12}" \
  --seed "$seed"
