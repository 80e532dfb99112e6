#!/usr/bin/env bash
# Browser tests of the web UI in real Chromium against a running `gridtrust demo` (hub, edge, cc
# and simulated substation in one process). Screenshots go to $GRIDTRUST_ARTIFACTS
# (default /tmp/gridtrust-artifacts). Uses the debug binary `cargo test --workspace` built.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
artifacts="${GRIDTRUST_ARTIFACTS:-/tmp/gridtrust-artifacts}"
mkdir -p "$artifacts"
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/debug/gridtrust"
[ -x "$bin" ] || cargo build -q --locked -p gridtrust
[ -x /usr/bin/chromium ] || { echo "/usr/bin/chromium is missing (apt-get install chromium)"; exit 1; }

# Free loopback ports for the hub's HTTP listener, SCADA and the simulated RTU.
read -r http scada rtu < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks: s.close()')
work=$(mktemp -d)
"$bin" demo --dir "$work/demo-data" --api-listen "127.0.0.1:$http" --scada-listen "127.0.0.1:$scada" --rtu-listen "127.0.0.1:$rtu" \
  >"$artifacts/demo.log" 2>&1 &
demo=$!
stop() {
  kill "$demo" 2>/dev/null && wait "$demo" 2>/dev/null
  rm -rf "$work"
}
trap stop EXIT

url="http://127.0.0.1:$http"
echo "-- waiting for $url/healthz"
for _ in $(seq 1 240); do
  if curl -fsS "$url/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$demo" 2>/dev/null || { echo "demo exited:"; tail -50 "$artifacts/demo.log"; exit 1; }
  sleep 0.5
done
curl -fsS "$url/healthz" >/dev/null || { echo "demo not ready after 120 s"; tail -50 "$artifacts/demo.log"; exit 1; }

echo "-- browser tests against $url"
cd web
GRIDTRUST_URL="$url" GRIDTRUST_ARTIFACTS="$artifacts" node --test --test-concurrency=1 --test-reporter=spec tests/ 2>&1 | tee "$artifacts/browser-tests.log"
status=${PIPESTATUS[0]}
echo "screenshots:"
ls -1 "$artifacts"/*.png 2>/dev/null || echo "  (none)"
exit "$status"
