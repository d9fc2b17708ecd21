#!/usr/bin/env bash
# Build the libFuzzer targets of suites/fuzz with clang and run each for a
# short time (FUZZ_SECONDS, default 15), from the seeds its definition names
# (SEEDS in suites/CMakeLists.txt; the plain build's ctest runs the same seeds
# without libFuzzer: ctest -L fuzz-seeds). Exits non-zero on a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-15}
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DEXSYNC_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
  >/dev/null
# every fuzz target CMake defines (suites/CMakeLists.txt, EXSYNC_FUZZ block)
targets=$(cmake --build build-fuzz --target help | grep -o 'fuzz_[a-z_0-9]*' | sort -u)
# shellcheck disable=SC2086
cmake --build build-fuzz -j"$(nproc)" --target $targets >/dev/null
for t in $targets; do
  work=$(mktemp -d)
  # the target's seed directories, as its exsync_fuzz_target(... SEEDS) names them
  seeds=()
  mapfile -t seeds < <(grep -v '^$' "build-fuzz/suites/$t.seeds")
  echo "fuzz: $t for ${seconds}s"
  if ! "build-fuzz/suites/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
       "$work" "${seeds[@]}" >"$work.log" 2>&1; then
    tail -40 "$work.log"
    echo "fuzz: $t FAILED (log above)"
    exit 1
  fi
  grep -E '^Done [0-9]+ runs' "$work.log" | sed "s/^/fuzz: $t: /" || true
  rm -rf "$work" "$work.log"
done
