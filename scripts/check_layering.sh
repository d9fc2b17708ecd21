#!/usr/bin/env bash
# check_layering.sh SOURCE_DIR [ARCHIVE...] - the layering rules of
# the README's Architecture section, checked on the sources and on the built libraries (ctest
# "layering"). Fails (exit 1) with one line per violation:
#  - the emulator includes a core header other than exsync_base's
#    (core/base/include/exsync/), or anything by a relative path;
#  - core includes an emulator or diag header; exsync_diag (diag/*.c)
#    includes an emulator header (only diag/emu may);
#  - a suite includes a header that is neither its own (suites/, suites/fuzz/)
#    nor a public one (some */include/ directory);
#  - two files include each other, directly or round a longer loop;
#  - inside one library, two object files call each other, directly or
#    round a longer loop (nm: one uses a symbol the other defines).
set -uo pipefail
src=${1:?usage: check_layering.sh SOURCE_DIR [ARCHIVE...]}
shift
cd "$src" || exit 2
fail=0
err() {
  echo "layering: $*"
  fail=1
}

# quoted includes of the given files as "FILE INCLUDED"
includes() {
  grep -Ho '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*"' "$@" 2>/dev/null |
    sed -E 's/:[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]*)"/ \1/'
}

base_hdr=core/base/include
pub_dirs=(core/base/include core/include emulator/include diag/include diag/emu/include)

# resolve INCLUDED as seen from FILE through DIRS...; prints the path or nothing
resolve() {
  local file=$1 inc=$2 d
  shift 2
  for d in "$(dirname "$file")" "$@"; do
    if [ -f "$d/$inc" ]; then
      realpath -m --relative-to=. "$d/$inc"
      return
    fi
  done
}

# 1. the emulator sees only exsync_base of core
while read -r f inc; do
  case $inc in
  ../* | */../*) err "$f includes $inc by a relative path" ;;
  exsync/*) [ -f "$base_hdr/$inc" ] || err "$f includes $inc: the emulator may use only exsync_base ($base_hdr)" ;;
  exsync-diag/*) err "$f includes $inc: the emulator may not use diag" ;;
  esac
done < <(includes $(find emulator -name '*.[ch]'))

# 2. core never sees the emulator or diag; exsync_diag never sees the emulator
while read -r f inc; do
  case $inc in
  exsync-emulator/* | exsync-diag/* | ../*) err "$f includes $inc: core uses neither the emulator nor diag" ;;
  esac
done < <(includes $(find core -name '*.[ch]'))
while read -r f inc; do
  case $f:$inc in
  diag/emu/*) ;;
  *:exsync-emulator/*) err "$f includes $inc: only diag/emu (exsync_diag_emu) may use the emulator" ;;
  *:../*) err "$f includes $inc by a relative path" ;;
  esac
done < <(includes $(find diag -name '*.[ch]'))

# 3. suites: their own headers and public ones only
while read -r f inc; do
  case $inc in
  ../* | */../*)
    err "$f includes $inc: a suite uses public headers only (or a test header of its own)"
    continue
    ;;
  esac
  [ -f "$(dirname "$f")/$inc" ] && continue
  # the benchmarks may use the suites' test helpers (pgtest.h)
  case $f in suites/bench/*) [ -f "suites/$inc" ] && continue ;; esac
  ok=0
  for d in "${pub_dirs[@]}"; do
    [ -f "$d/$inc" ] && ok=1
  done
  [ $ok = 1 ] || err "$f includes $inc: not a public header (put test entry points in an */include/ header)"
done < <(includes $(find suites -name '*.[ch]' -not -path '*/node_modules/*'))

# 4. no include loops between files
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
while read -r f inc; do
  case $f in
  core/base/*) dirs=(core/base/include) ;;
  core/*) dirs=(core core/include core/base/include) ;;
  emulator/*) dirs=(emulator emulator/include core/base/include) ;;
  diag/*) dirs=(diag "${pub_dirs[@]}") ;;
  *) dirs=("${pub_dirs[@]}") ;;
  esac
  to=$(resolve "$f" "$inc" "${dirs[@]}")
  [ -n "$to" ] && [ "$to" != "$f" ] && echo "$f $to"
done < <(includes $(find core emulator diag suites -name '*.[ch]' -not -path '*/node_modules/*')) >"$edges"
if ! tsort "$edges" >/dev/null 2>"$edges.loop"; then
  err "include loop: $(grep -v 'input contains a loop' "$edges.loop" | sed 's/^tsort: //' | tr '\n' ' ')"
fi
rm -f "$edges.loop"

# 5. no call loops between the object files of one library
for a in "$@"; do
  nm -A "$a" 2>/dev/null | awk '
    { n = split($1, p, ":"); o = p[2] }
    NF == 3 && $2 ~ /^[TDBRCVW]$/ { def[$3] = o }
    $2 == "U" { use[o] = use[o] " " $3 }
    END {
      for(o in use) {
        m = split(use[o], s, " ")
        for(i = 1; i <= m; i++)
          if((s[i] in def) && def[s[i]] != o)
            print o, def[s[i]]
      }
    }' | sort -u >"$edges"
  if ! tsort "$edges" >/dev/null 2>"$edges.loop"; then
    err "$(basename "$a"): object files calling each other: $(grep -v 'input contains a loop' "$edges.loop" | sed 's/^tsort: //' | tr '\n' ' ')"
  fi
  rm -f "$edges.loop"
done

[ $fail = 0 ] && echo "layering: ok"
exit $fail
