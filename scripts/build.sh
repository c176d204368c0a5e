#!/usr/bin/env bash
# Configures and builds tickgraph into build/ (Ninja, ccache when present), and the web UI into
# web/dist (npm run build, when web/node_modules is there). The binary is build/bin/tickgraph.
# Extra arguments go to CMake, e.g. -DTICKGRAPH_BUILD_BENCH=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
WERROR=OFF
[ "${CI:-}" = "true" ] && WERROR=ON
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTICKGRAPH_WERROR="${TICKGRAPH_WERROR:-$WERROR}" "$@" >/dev/null
cmake --build "$BUILD_DIR"
