#!/usr/bin/env bash
# test_install.sh BUILD_DIR SOURCE_DIR - `cmake --install` into a temporary
# prefix, then, from another directory and with no EXSYNC_DATA_DIR, the
# installed exsync runs the demo and the installed exsync-emulator starts with
# its EWS schema; no build or source path is in the installed binaries; the
# man pages render; a program builds against libexsync through pkg-config.
set -euo pipefail
build=$(cd "$1" && pwd -P)
src=$(cd "$2" && pwd -P)
tmp=$(mktemp -d)
emu_pid=
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test_install: $*" >&2; exit 1; }

P=$tmp/prefix
cmake --install "$build" --prefix "$P" >/dev/null
for f in bin/exsync bin/exsync-emulator lib/libexsync.a lib/libexsync_base.a \
         lib/pkgconfig/exsync.pc include/exsync/orgfile.h \
         share/exsync/schema/org.xsd share/exsync/schema/ews/ews-validate.xsd \
         share/exsync/schema/scenario.xsd share/exsync/schema/recording.xsd \
         share/exsync/scenarios/contoso.xml share/exsync/orgs/contoso.xml \
         share/exsync/demo/expected.csv share/man/man1/exsync.1 \
         share/man/man1/exsync-emulator.1 share/man/man5/exsync-org.5 \
         share/bash-completion/completions/exsync \
         share/bash-completion/completions/exsync-emulator; do
  [ -e "$P/$f" ] || fail "not installed: $f"
done

# no build or source path compiled in (debug info included). A sanitizer
# build is exempt: ASan records each global's source file as given to the
# compiler, and such a build is never installed for use.
sanitize=no
grep -q '^EXSYNC_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null && sanitize=yes
for f in "$P"/bin/* "$P"/lib/*.a; do
  [ "$sanitize" = no ] || break
  if strings -a "$f" | grep -F -e "$build" -e "$src" >"$tmp/paths"; then
    fail "$f contains a build path: $(head -3 "$tmp/paths")"
  fi
done

# from another directory, data found relative to the program
mkdir "$tmp/elsewhere"
cd "$tmp/elsewhere"
unset EXSYNC_DATA_DIR EXSYNC_SOURCE_DIR
"$P/bin/exsync" demo >demo.out 2>demo.err || fail "exsync demo failed: $(cat demo.err)"
grep -q "every mailbox ended as the contoso world expects" demo.err ||
  fail "exsync demo: $(cat demo.err)"
"$P/bin/exsync" --help >/dev/null || fail "exsync --help"

# the emulator loads its EWS schema from the installed data and starts
mkfifo emu.fifo
"$P/bin/exsync-emulator" --user zoe:pw@example.com >emu.fifo 2>&1 &
emu_pid=$!
exec 3<emu.fifo
read -r -t 20 line <&3 || line=
case $line in
  "listening http "*) ;;
  *) fail "exsync-emulator did not start: $line $(timeout 1 cat <&3)" ;;
esac
# ... and validates requests with it: FolderIds before FolderShape is refused
if command -v curl >/dev/null; then
  cat >bad.xml <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<soap:Header><t:RequestServerVersion Version="Exchange2016"/></soap:Header>
<soap:Body><m:GetFolder><m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds>
<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape></m:GetFolder></soap:Body>
</soap:Envelope>
XML
  answer=$(curl -s -u zoe:pw -H 'Content-Type: text/xml; charset=utf-8' --data-binary @bad.xml \
    "http://${line#listening http }/EWS/Exchange.asmx") || fail "no answer from exsync-emulator"
  case $answer in
    *ErrorSchemaValidation*) ;;
    *) fail "the installed exsync-emulator did not validate a request: $answer" ;;
  esac
fi
kill "$emu_pid"
wait "$emu_pid" || fail "exsync-emulator did not stop cleanly"
emu_pid=
exec 3<&-

# the man pages render without warnings
if command -v man >/dev/null; then
  for m in man1/exsync.1 man1/exsync-emulator.1 man5/exsync-org.5; do
    out=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$P/share/man/$m" 2>&1 >/dev/null) ||
      fail "man $m failed"
    [ -z "$out" ] || fail "man $m: $out"
  done
fi

# libexsync through pkg-config: every object of the two archives is linked
# (--whole-archive), so the file must name every library they need
cat >use.c <<'C'
#include <stdio.h>
#include "exsync/datadir.h"
int main(void) { return puts(exs_data_dir()) < 0; }
C
san=
[ "$sanitize" = no ] || san=-fsanitize=address,undefined # the library was built with them
export PKG_CONFIG_PATH=$P/lib/pkgconfig
cc $san use.c -o use $(pkg-config --cflags exsync) \
  -Wl,--whole-archive "$P/lib/libexsync.a" "$P/lib/libexsync_base.a" -Wl,--no-whole-archive \
  $(pkg-config --libs exsync) ||
  fail "cannot build against libexsync"
./use >/dev/null || fail "program built against libexsync failed"
echo "test_install: ok ($P)"
