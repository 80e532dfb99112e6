#!/usr/bin/env bash
# Installs the npm packages pinned in package-lock.json (vite, vitest, playwright-core, ...).
# `npm ci` first. npm 11 refuses a lockfile that lacks the other platforms' optional packages
# (rollup's android/darwin/win32 builds), and the registry these machines reach does not serve
# those, so a lockfile made here cannot list them; then `npm install --no-save` installs the
# same locked versions, checked against the lockfile's integrity hashes, and leaves it unchanged.
set -euo pipefail
cd "$(dirname "$0")"
if ! npm ci --no-audit --no-fund --loglevel=error; then
  echo "npm ci refused the lockfile; installing the locked versions with npm install --no-save"
  npm install --no-save --no-audit --no-fund --loglevel=error
  git diff --quiet -- package-lock.json 2>/dev/null || { echo "package-lock.json changed during install"; exit 1; }
fi
