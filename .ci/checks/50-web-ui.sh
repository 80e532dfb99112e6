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

# Every `--*-listen` option of the demo (HTTP, SCADA, simulated devices, ...) gets a free
# loopback port, so the check never collides with anything else on the machine.
mapfile -t listen_flags < <("$bin" demo --help | grep -o -- '--[a-z0-9-]*-listen' | sort -u)
mapfile -t ports < <(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
for s in socks: print(s.getsockname()[1])
for s in socks: s.close()' "${#listen_flags[@]}")
args=()
url="http://127.0.0.1:8080"
for i in "${!listen_flags[@]}"; do
  args+=("${listen_flags[$i]}" "127.0.0.1:${ports[$i]}")
  [ "${listen_flags[$i]}" = "--api-listen" ] && url="http://127.0.0.1:${ports[$i]}"
done
work=$(mktemp -d)
echo "-- starting: gridtrust demo --dir $work/demo-data ${args[*]}"
"$bin" demo --dir "$work/demo-data" "${args[@]}" >"$artifacts/demo.log" 2>&1 &
demo=$!
# Stops the demo; never changes the script's exit status (set -e does not apply in here).
stop() {
  kill "$demo" 2>/dev/null || true
  wait "$demo" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT

echo "-- waiting for $url/healthz"
for _ in $(seq 1 240); do
  if curl -fsS "$url/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$demo" 2>/dev/null || { echo "demo exited:"; tail -50 "$artifacts/demo.log"; exit 1; }
  sleep 0.5
done
curl -fsS "$url/healthz" >/dev/null || { echo "demo not ready after 120 s"; tail -50 "$artifacts/demo.log"; exit 1; }

echo "-- browser tests against $url"
cd web
set +e
GRIDTRUST_URL="$url" GRIDTRUST_ARTIFACTS="$artifacts" node --test --test-concurrency=1 --test-reporter=spec tests/ 2>&1 | tee "$artifacts/browser-tests.log"
status=${PIPESTATUS[0]}
set -e
echo "screenshots:"
ls -1 "$artifacts"/*.png 2>/dev/null || echo "  (none)"
exit "$status"
