#!/usr/bin/env bash
# Browser tests of the web UI in real Chromium against a running `gridtrust demo` (hub, edge, cc
# and simulated substation in one process). Screenshots go to $GRIDTRUST_ARTIFACTS
# (default /tmp/gridtrust-artifacts).
set -euo pipefail
cd "$(dirname "$0")/../.."
artifacts="${GRIDTRUST_ARTIFACTS:-/tmp/gridtrust-artifacts}"
mkdir -p "$artifacts"
[ -x /usr/bin/chromium ] || { echo "/usr/bin/chromium is missing (apt-get install chromium)"; exit 1; }

DEMO_LOG="$artifacts/demo.log"
# shellcheck source=../lib/demo.sh
. .ci/lib/demo.sh

echo "-- browser tests against $url"
cd web
set +e
GRIDTRUST_URL="$url" GRIDTRUST_ARTIFACTS="$artifacts" node --test --test-concurrency=1 --test-reporter=spec tests/ 2>&1 | tee "$artifacts/browser-tests.log"
status=${PIPESTATUS[0]}
set -e
echo "screenshots:"
ls -1 "$artifacts"/*.png 2>/dev/null || echo "  (none)"
exit "$status"
