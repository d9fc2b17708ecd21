#!/usr/bin/env bash
# Build the Debian packages (exsync, exsync-emulator, exsync-data,
# libexsync-dev) from debian/ with dpkg-buildpackage -us -uc -b, on Debian 12
# with Debian's own packages. The tracked files of this checkout (with their
# uncommitted changes) are built in a temporary copy; the .deb files land in
# OUTDIR (default build-deb/), then the packaged demo is run once.
#   bash scripts/deb.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build-deb}")

# build dependencies: the project's, plus debhelper
bash scripts/deps.sh
if ! dpkg-query -W -f='${Status}' debhelper 2>/dev/null | grep -q "install ok installed"; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debhelper
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/exsync"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$tmp/exsync"
(cd "$tmp/exsync" && dpkg-buildpackage -us -uc -b -j"$(nproc)")
mkdir -p "$out"
rm -f "$out"/*.deb
mv "$tmp"/*.deb "$out"/
ls -l "$out"/*.deb

# the packaged programs work: unpacked side by side, the demo passes from
# another directory and the emulator starts with its schema
root="$tmp/root"
for p in exsync exsync-emulator exsync-data; do
  dpkg-deb -x "$out/${p}_"*.deb "$root"
done
(cd / && env -u EXSYNC_DATA_DIR "$root/usr/bin/exsync" demo >/dev/null 2>"$tmp/demo.err") || {
  cat "$tmp/demo.err" >&2
  echo "deb.sh: exsync demo from the package failed" >&2
  exit 1
}
"$root/usr/bin/exsync-emulator" --version >/dev/null
echo "deb.sh: packages built in $out; the packaged exsync demo passes"
