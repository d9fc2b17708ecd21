#!/usr/bin/env bash
# test_html_report.sh EXSYNC SOURCE_DIR - the HTML report in a real browser
# (ctest html_report): `exsync demo --format html` is rendered by headless
# Chromium, and the DOM it built is checked: one row per mailbox, each
# workload cell coloured by its outcome as fixtures/demo/expected.csv says,
# failures grouped by category with a fix, step timing bars; and the page
# made no request of its own (Chromium's net log, with a page that does as
# the control). Exit 77 (skipped) without chromium: scripts/deps.sh --test.
set -uo pipefail
exsync=${1:?usage: test_html_report.sh EXSYNC SOURCE_DIR}
src=${2:?usage: test_html_report.sh EXSYNC SOURCE_DIR}
browser=$(command -v chromium || command -v chromium-browser) || {
  echo "html_report: chromium is not installed (scripts/deps.sh --test): skipped"
  exit 77
}
tmp=$(mktemp -d /tmp/exsync-html-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0
err() {
  echo "html_report: $*"
  fail=1
}

# Render FILE: its DOM to FILE.dom, a screenshot to FILE.png, the net log to
# FILE.net. A fresh profile each time, nothing from the user's.
render() {
  local flags=(--headless --no-sandbox --disable-gpu --user-data-dir="$tmp/profile-$RANDOM"
               --no-first-run --disable-background-networking --disable-component-update
               --disable-sync --disable-default-apps --disable-extensions --hide-scrollbars
               --window-size=1200,1800)
  timeout 120 "$browser" "${flags[@]}" --log-net-log="$1.net" --dump-dom "file://$1" \
    >"$1.dom" 2>"$1.log" || err "chromium could not render $1 (see below)"
  timeout 120 "$browser" "${flags[@]}" --screenshot="$1.png" "file://$1" >>"$1.log" 2>&1 ||
    err "chromium could not take a screenshot of $1"
}

# The http(s) URLs the page itself asked for (the browser's own background
# requests have no origin as initiator).
page_requests() {
  python3 - "$1" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))
seen = set()
for e in log.get("events", []):
    p = e.get("params") or {}
    url, initiator = p.get("url", ""), p.get("initiator")
    if url.startswith(("http://", "https://")) and initiator and initiator != "not an origin":
        seen.add(url)
for u in sorted(seen):
    print(u)
PY
}

page=$tmp/demo.html
(cd "$tmp" && EXSYNC_DATA_DIR="$src/fixtures" "$exsync" demo --format html -o "$page" 2>"$tmp/demo.err") ||
  err "exsync demo --format html failed: $(cat "$tmp/demo.err")"
[ -s "$page" ] || { err "no report written"; exit 1; }

# self-contained: nothing to fetch, whatever the browser
grep -Eiq '<script|<link|<img|<iframe|@import|url\(' "$page" && err "the page refers to something outside itself"
grep -Eiq '(src|href|action)="(https?:)?//' "$page" && err "the page links to the network"

render "$page"
dom=$page.dom
[ -s "$dom" ] || err "empty DOM"
requests=$(page_requests "$page.net")
[ -z "$requests" ] || err "the page made requests: $requests"

# one row per mailbox of the contoso world, each cell coloured as expected
rows=$(grep -o '<tr class="mailbox"' "$dom" | wc -l)
want_rows=$(grep -cv '^#' "$src/fixtures/demo/expected.csv")
[ "$rows" = "$want_rows" ] || err "$rows mailbox rows, expected $want_rows"
while IFS=, read -r address incoming outgoing act _; do
  case $address in '#'* | '') continue ;; esac
  row=$(grep -o "<tr class=\"mailbox\" data-address=\"$address\">.*</tr>" "$dom")
  i=0
  for want in "$incoming" "$outgoing" "$act"; do
    case $want in Success) cls=success ;; Failure) cls=failure ;; *) cls=not-run ;; esac
    wl=(incoming outgoing act)
    echo "$row" | grep -q "<td class=\"outcome $cls\" data-workload=\"${wl[$i]}\">$want</td>" ||
      err "$address ${wl[$i]}: not a '$cls' cell saying $want"
    i=$((i + 1))
  done
done <"$src/fixtures/demo/expected.csv"
# the colours those classes get
grep -q 'td.success{background:#1e7b34}' "$dom" || err "no colour for Success"
grep -q 'td.failure{background:#c62828}' "$dom" || err "no colour for Failure"
grep -q 'td.not-run{background:#8a8f98}' "$dom" || err "no colour for Not Run"
# failures by category, each with its fix; timings as bars
for c in IMPERSONATION ACCESS_DENIED MAILBOX_NOT_FOUND THROTTLED ACT_OTHER_ORG NOT_APPROVED; do
  grep -q "data-category=\"$c\"" "$dom" || err "no $c group"
done
[ "$(grep -o '<div class="fix">' "$dom" | wc -l)" -ge 6 ] || err "fewer fixes than categories"
[ "$(grep -o '<rect class="step"' "$dom" | wc -l)" -ge "$want_rows" ] || err "no step timing bars"
[ -s "$page.png" ] || err "no screenshot"

# the control: a page that does load something is caught by the same check
control=$tmp/control.html
echo '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"></body></html>' >"$control"
render "$control"
[ -n "$(page_requests "$control.net")" ] || err "the net log check misses a page's own request"

if [ $fail != 0 ]; then
  cat "$page.log" >&2
  exit 1
fi
echo "html_report: ok ($rows mailboxes; screenshot $(stat -c %s "$page.png") bytes)"
