#!/usr/bin/env bash
# The web UI's targets, measured in Debian's Chromium (headless, playwright-core) against a real
# `tickgraph serve` with the simulator at 20 ticks/s per asset: first chart paint of 5,000 daily
# bars with three indicators (median of 7 fresh loads), stream update to canvas (p50/p95 over
# 20 s), and the gzipped production bundle. Needs a build (scripts/build.sh). Writes
# $BUILD/e2e/web-bench.json.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export TICKGRAPH_BIN=${TICKGRAPH_BIN:-$PWD/$BUILD/bin/tickgraph}
export TICKGRAPH_E2E_DIR=${TICKGRAPH_E2E_DIR:-$PWD/$BUILD/e2e}
mkdir -p "$TICKGRAPH_E2E_DIR"
cd web
exec npx vitest run --config vitest.bench.config.ts --silent=false --reporter=verbose
