#!/usr/bin/env bash
# Install the Debian packages exsync needs (idempotent).
#   deps.sh         what building and running exsync needs
#   deps.sh --test  plus what the test suite needs: Check, clang for the fuzz
#                   targets, the real EWS clients of the interop suite
#                   (exchangelib, ews-javascript-api's node, DavMail), and
#                   Chromium (the HTML report is checked in headless Chromium)
set -euo pipefail
packages=(build-essential cmake pkg-config libcurl4-openssl-dev libxml2-dev libxml2-utils
          libssl-dev libevent-dev libsqlite3-dev libkrb5-dev libldap-dev libpq-dev)
if [ "${1:-}" = "--test" ]; then
  packages+=(check libsubunit-dev clang clang-format libclang-rt-14-dev krb5-kdc krb5-admin-server slapd ldap-utils postgresql
             python3-exchangelib python3-requests-ntlm chromium)
  # DavMail (Java; Debian pulls in a JRE): the IMAP/CalDAV gateway the
  # interop suite drives (started by the suite on free ports)
  packages+=(davmail-server curl)
  # The interop suite's JavaScript client needs node and npm. Ask Debian for
  # them only when they are missing: a NodeSource nodejs already provides npm
  # and conflicts with Debian's npm package.
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    packages+=(nodejs npm)
  fi
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
