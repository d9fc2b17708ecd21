#!/usr/bin/env bash
# The store's concurrency check at full length (issue 12): 100 rounds of three
# `exsync sync --once --all --send-batch 1` processes and an admin command on
# one store, PRAGMA integrity_check and exact counts after every round. ctest
# runs a 25-round version; ROUNDS=N overrides. Needs a build in ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build -j2 --target test_store_concurrency exsync >/dev/null
EXSYNC_SOURCE_DIR="$PWD" EXSYNC_STORE_ROUNDS="${ROUNDS:-100}" CK_DEFAULT_TIMEOUT=1200 \
  build/suites/test_store_concurrency
