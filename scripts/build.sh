#!/usr/bin/env bash
# Configures and builds tickgraph into build/ (Ninja, ccache when present), and the web UI into
# web/dist (npm run build, when web/node_modules is there). The binary is build/bin/tickgraph.
#
# Both README commands build through this script with the same configuration, so that one reuses
# what the other built: warnings are not made errors in the compile (scripts/check-warnings.sh
# checks them on what the compiles printed). Extra arguments are CMake targets to build (default:
# all), e.g. `scripts/build.sh tickgraph web`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTICKGRAPH_WERROR=OFF \
  >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" "${targets[@]}"
