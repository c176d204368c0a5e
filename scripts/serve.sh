#!/usr/bin/env bash
# The main job: installs what is needed, builds, and runs `tickgraph serve` with the embedded
# SQLite database (the demo data is imported on first use), the demo graph and a simulated live
# market, serving the API and the web UI on http://127.0.0.1:8080. Arguments go to `serve`
# (e.g. --port 9000, --no-simulate, --db URL). Ctrl-C (or SIGTERM) drains and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh
exec build/bin/tickgraph serve "$@"
