#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds each (default 120) and prints one line per target
# with its executions and whether it found anything. Works on stable Rust: RUSTC_BOOTSTRAP=1
# lets cargo-fuzz pass the nightly-only sanitizer flags.
#
#   fuzz/run-all.sh [SECONDS] [TARGET...]
#
# Corpora live in fuzz/corpus/<target> (git-ignored) and start from the tiny committed seeds in
# fuzz/seeds/<target>; findings land in fuzz/artifacts/<target>. Set CARGO_TARGET_DIR to keep
# the build apart from the workspace's; logs go to fuzz/logs/<target>.log (git-ignored).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-120}"
shift || true
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 2; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
mkdir -p logs
failed=0
for target in "${targets[@]}"; do
    # One target at a time, so a crate that is mid-change breaks only its own targets.
    if ! cargo fuzz build "$target" >"logs/$target.build.log" 2>&1; then
        printf '%-24s BUILD FAILED (see logs/%s.build.log)\n' "$target" "$target"
        failed=1
        continue
    fi
    mkdir -p "corpus/$target"
    seeds=()
    [ -d "seeds/$target" ] && seeds=("seeds/$target")
    log="logs/$target.log"
    if cargo fuzz run "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        result="ok"
    else
        result="FINDING (see $log and artifacts/$target)"
        failed=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    printf '%-24s %8ss %12s runs %8s/s  %s\n' "$target" "$seconds" "$runs" "$speed" "$result"
done
exit "$failed"
