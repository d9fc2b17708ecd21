#!/usr/bin/env bash
# check_format.sh - every tracked C source and header matches .clang-format,
# and no tracked file holds a merge's conflict markers.
#   check_format.sh        report the files that differ, exit 1 if any
#   check_format.sh --fix  reformat them in place
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
[ "${1:-}" = "--fix" ] && fix=1
command -v clang-format >/dev/null || { echo "check_format.sh: clang-format is not installed" >&2; exit 2; }
# a conflict left in a merge: the markers git writes, at the start of a line
if git grep -n -E '^(<<<<<<< |>>>>>>> |=======$)' -- . >&2; then
  echo "check_format.sh: conflict markers in the files above" >&2
  exit 1
fi
bad=()
while IFS= read -r f; do
  if [ $fix = 1 ]; then
    clang-format -i "$f"
  elif ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done < <(git ls-files '*.c' '*.h')
if [ ${#bad[@]} -gt 0 ]; then
  printf '%s\n' "${bad[@]}"
  echo "check_format.sh: ${#bad[@]} file(s) differ from .clang-format (scripts/check_format.sh --fix)" >&2
  exit 1
fi
echo "check_format.sh: every C file matches .clang-format"
