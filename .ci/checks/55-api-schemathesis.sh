#!/usr/bin/env bash
# Property-based API testing with schemathesis (PyPI) against a running `gridtrust demo`: every
# operation of /api/openapi.json with generated input, logged in as operator; fails on any 5xx
# ("not_a_server_error").
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v st >/dev/null || { echo "schemathesis is missing (pip install schemathesis==4.32.5)"; exit 1; }

DEMO_LOG=$(mktemp)
# shellcheck source=../lib/demo.sh
. .ci/lib/demo.sh

token=$(curl -fsS -D - -o /dev/null -H 'Content-Type: application/json' \
  -d '{"username":"operator","password":"operator-demo"}' "$url/api/login" \
  | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: gridtrust_session=\([^;]*\).*/\1/p')
[ -n "$token" ] || { echo "login failed"; exit 1; }
# /api/events is an endless stream and /api/logout would end the session under test.
# filter_too_much is a check of the generator, not of the API: for the percent-encoded point id
# of /api/points/{id}/history, Hypothesis sometimes discards too many drawn strings (not valid in
# a path) and gives up with an error (seen in a CI run on 2026-12-07, all 1087 requests passing).
st run "$url/api/openapi.json" -H "Cookie: gridtrust_session=$token" -H "X-Gridtrust-CSRF: 1" \
  --checks not_a_server_error --max-examples 25 --workers 1 --suppress-health-check=filter_too_much \
  --exclude-path /api/events --exclude-path /api/logout
