#!/usr/bin/env bash
# Web UI, without a browser:
# 1. the browser's evidence check (web/src/evidence.ts) against a fresh fixture made by the Rust
#    signing and Merkle code (crates/web/tests/evidence_fixture.rs), and against the committed one;
# 2. the committed bundle in crates/web/assets is byte for byte what web/build.sh makes from the
#    committed sources and lockfile.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "-- evidence fixture from the Rust implementation"
GRIDTRUST_EVIDENCE_FIXTURE_OUT="$tmp/evidence.json" cargo test -q --locked -p gridtrust-web --test evidence_fixture
echo "-- vitest: fresh fixture"
(cd web && GRIDTRUST_EVIDENCE_FIXTURE="$tmp/evidence.json" npx vitest run)
echo "-- vitest: committed fixture"
(cd web && npx vitest run)

echo "-- committed bundle matches a fresh build"
web/build.sh "$tmp/assets" >/dev/null
diff -r "$tmp/assets" crates/web/assets
diff "$tmp/assets.sha256" crates/web/assets.sha256
echo "bundle up to date"
