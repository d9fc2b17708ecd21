#!/usr/bin/env bash
# Set everything up and run the whole test suite: a plain build, then an
# AddressSanitizer + UndefinedBehaviorSanitizer build. Ends with ctest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."

# The repository is self-contained: no tracked file may refer to a directory
# beside it (the contract directory next to the clone). Cheap: it runs first.
# Nor to the contract documents that live there (docs/ has the project's own).
if [ -e .git ] && command -v git >/dev/null; then
  if git grep -n -E '(\.\./|/work/)share[d]\b|\b(SPEC|DESIGN|STYLE)[.]md\b' -- . ; then
    echo "test.sh: the files above refer to files outside the repository" >&2
    exit 1
  fi
fi
bash scripts/deps.sh --test
jobs=$(nproc)

# House style: every C file as .clang-format says (scripts/check_format.sh --fix).
# Only in a git checkout: the file list is git's.
if [ -e .git ]; then
  echo "== format (clang-format)"
  bash scripts/check_format.sh
fi

# The interop suite drives the emulator with real clients: ews-javascript-api
# comes from npm (versions pinned in suites/interop/package-lock.json).
if command -v node >/dev/null && command -v npm >/dev/null; then
  echo "== npm ci (suites/interop)"
  (cd suites/interop && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== plain build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEXSYNC_TESTS=ON -DEXSYNC_SANITIZE=OFF >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== fuzz targets (libFuzzer, a short run each)"
bash scripts/fuzz.sh

echo "== Debian packages (scripts/deb.sh: built, then the packaged demo run)"
bash scripts/deb.sh build-deb

echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DEXSYNC_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
