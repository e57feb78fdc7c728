#!/usr/bin/env bash
# Installs what the tests and benchmarks need beyond the .NET SDK, from Debian's packages (run as root):
# Chromium for the browser test (Playwright drives it; no browser download), PostgreSQL 15 and Redis for the
# peak-sale benchmark and its smoke test (they start and stop their own servers on loopback), kcat for the Kafka
# tests (it reads topics from librdkafka's mock cluster, as an independent client), Node.js and npm for the
# OpenAPI lint (Redocly CLI from the npm registry).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
# Node.js and npm: the OpenAPI contract test lints the document with Redocly CLI through npx (pinned in the test).
command -v npx >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
