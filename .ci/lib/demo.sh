# Starts `gridtrust demo` for the checks that need the running product, and stops it on exit.
# Source it from the repository root with DEMO_LOG set (where the demo's output goes); it sets
# `url` (the web UI and API), `cc_url` (the same UI served by the cc) and `work` (a temporary folder removed on exit). Uses the debug binary
# `cargo test --workspace` built, building it if it is missing.
target="${CARGO_TARGET_DIR:-$(pwd)/target}"
bin="$target/debug/gridtrust"
[ -x "$bin" ] || cargo build -q --locked -p gridtrust

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
url=""
cc_url=""
for i in "${!listen_flags[@]}"; do
  args+=("${listen_flags[$i]}" "127.0.0.1:${ports[$i]}")
  [ "${listen_flags[$i]}" = "--api-listen" ] && url="http://127.0.0.1:${ports[$i]}"
  [ "${listen_flags[$i]}" = "--cc-ui-listen" ] && cc_url="http://127.0.0.1:${ports[$i]}"
done
[ -n "$url" ] || { echo "the demo has no --api-listen flag"; exit 1; }
work=$(mktemp -d)
echo "-- starting: gridtrust demo --dir $work/demo-data ${args[*]}"
"$bin" demo --dir "$work/demo-data" "${args[@]}" >"$DEMO_LOG" 2>&1 &
demo=$!
stop_demo() {
  kill "$demo" 2>/dev/null || true
  wait "$demo" 2>/dev/null || true
  rm -rf "$work"
}
trap stop_demo EXIT

echo "-- waiting for $url/healthz"
for _ in $(seq 1 240); do
  if curl -fsS "$url/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$demo" 2>/dev/null || { echo "demo exited:"; tail -50 "$DEMO_LOG"; exit 1; }
  sleep 0.5
done
curl -fsS "$url/healthz" >/dev/null || { echo "demo not ready after 120 s"; tail -50 "$DEMO_LOG"; exit 1; }
