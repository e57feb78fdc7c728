#!/usr/bin/env bash
# Installs what the tests and benchmarks need beyond the .NET SDK, from Debian's packages (as root, or through sudo):
# Chromium for the browser test (Playwright drives it; no browser download), PostgreSQL 15 and Redis for the
# PostgreSQL read-model tests, the peak-sale benchmark and its smoke test (they start and stop their own servers on
# loopback), kcat for the Kafka tests (it reads topics from librdkafka's mock cluster, as an independent client),
# Node.js and npm for the OpenAPI contract lint (Redocly CLI, fetched by npx from the npm registry).
# Installs only what is missing; a machine that has everything is left alone.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v npx >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "== test dependencies present (chromium, postgresql 15, redis-server, kcat, npx)"
  exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "Missing: ${missing[*]}. Run as root (or install sudo), or install them with apt-get yourself." >&2
    exit 1
  fi
fi
echo "== installing ${missing[*]} (Debian packages)"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
