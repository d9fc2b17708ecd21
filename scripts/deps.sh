#!/usr/bin/env bash
# Install the Debian packages exsync builds and tests with (idempotent).
set -euo pipefail
packages=(build-essential cmake pkg-config libcurl4-openssl-dev libxml2-dev libxml2-utils
          libssl-dev libevent-dev libsqlite3-dev check libsubunit-dev
          python3-exchangelib python3-requests-ntlm)
# The interop suite's JavaScript client needs node and npm. Ask Debian for
# them only when they are missing: a NodeSource nodejs already provides npm
# and conflicts with Debian's npm package.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
