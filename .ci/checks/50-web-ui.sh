#!/usr/bin/env bash
# Browser tests of the web UI in real Chromium against a running `gridtrust demo` (hub, edge, cc
# and simulated substation in one process), once as the hub serves it and once as the cc does. Screenshots go to $GRIDTRUST_ARTIFACTS
# (default /tmp/gridtrust-artifacts).
set -euo pipefail
cd "$(dirname "$0")/../.."
artifacts="${GRIDTRUST_ARTIFACTS:-/tmp/gridtrust-artifacts}"
mkdir -p "$artifacts"
[ -x /usr/bin/chromium ] || { echo "/usr/bin/chromium is missing (apt-get install chromium)"; exit 1; }

DEMO_LOG="$artifacts/demo.log"
# shellcheck source=../lib/demo.sh
. .ci/lib/demo.sh

cd web
set +e
status=0
# The hub's UI, then the same UI served by the cc (pages from the cc, /api/ forwarded to the hub).
# The second run enrols another person's passkey (the first person's is approved by then).
for run in "$url operator" "$cc_url engineer"; do
  read -r target person <<<"$run"
  [ -n "$person" ] || { echo "the demo has no --cc-ui-listen flag"; status=1; continue; }
  echo "-- browser tests against $target (passkey: $person)"
  GRIDTRUST_URL="$target" GRIDTRUST_PASSKEY_PERSON="$person" GRIDTRUST_ARTIFACTS="$artifacts" node --test --test-concurrency=1 --test-reporter=spec tests/ 2>&1 | tee -a "$artifacts/browser-tests.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done
set -e
echo "screenshots:"
ls -1 "$artifacts"/*.png 2>/dev/null || echo "  (none)"
exit "$status"
