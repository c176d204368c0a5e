#!/usr/bin/env bash
# The main job: installs what is needed, builds, and runs `tickgraph serve` with the embedded
# SQLite database (the demo data is imported on first use), the demo graph and a simulated live
# market, serving the API and the web UI on http://127.0.0.1:8080. Arguments go to `serve`
# (e.g. --port 9000, --no-simulate, --db URL, --auth off). Ctrl-C (or SIGTERM) drains and stops.
#
# Auth is on: on the default database this script keeps an API key for the web UI (read and
# write) in the data directory, readable only by you, makes a new one if it was revoked, and
# prints the sign-in link. The key is in the link's fragment (#…), which browsers never send.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh tickgraph web  # only what the main job needs; the tests build the rest

BIN=build/bin/tickgraph
port=8080
custom=false
prev=""
for a in "$@"; do
  case "$prev" in --port) port=$a ;; esac
  case "$a" in --db | --db=* | --auth | --auth=* | --config | --config=*) custom=true ;; esac
  case "$a" in --port=*) port=${a#--port=} ;; esac
  prev=$a
done

if ! $custom && [ -z "${TICKGRAPH_DB:-}" ]; then
  data="${XDG_DATA_HOME:-$HOME/.local/share}/tickgraph"
  keyfile="$data/web-ui.key"
  mkdir -p "$data"
  key=""
  [ -s "$keyfile" ] && key=$(cat "$keyfile")
  id=${key:0:20}
  if [ -z "$key" ] || ! "$BIN" auth key list | grep -q "^$id	.*	active\$"; then
    key=$("$BIN" auth key add web-ui --scopes read,write 2>/dev/null | sed -n 's/^api_key=//p')
    (umask 077 && printf '%s\n' "$key" >"$keyfile")
  fi
  echo "tickgraph: sign in to the web UI with http://127.0.0.1:$port/#api_key=$key"
fi
exec "$BIN" serve "$@"
