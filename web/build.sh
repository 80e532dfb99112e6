#!/usr/bin/env bash
# Rebuilds the UI bundle that crates/web embeds: installs the locked npm packages, type-checks
# and builds with Vite, replaces crates/web/assets with the result and writes the hash of the
# sources it came from to crates/web/assets.sha256 (crates/web's tests refuse a stale bundle).
# Usage: web/build.sh [OUT_DIR]   (default: crates/web/assets; .ci uses a temp dir to compare)
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-../crates/web/assets}"
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || ./install-deps.sh
npm run --silent build
rm -rf "$out"
mkdir -p "$out"
cp -R dist/. "$out/"
node scripts/source-hash.mjs > "$out.sha256"
echo "bundle written to $out ($(du -sh "$out" | cut -f1)), source hash $(cat "$out.sha256")"
echo "commit it with: git add crates/web/assets crates/web/assets.sha256 (new hashed files are untracked)"
