#!/usr/bin/env bash
# The main job, until `tickgraph serve` exists: installs, builds, and evaluates the demo graph
# (examples/demo.yaml) on the S&P 500 daily bars since 2000, in pull mode and in push mode,
# showing that both give the same file, then prints the last rows.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh tickgraph
SPX=scripts/deps/node_modules/vega-datasets/data/sp500-2000.csv
OUT=${OUT:-build/demo}
mkdir -p "$OUT"
build/bin/tickgraph graph validate examples/demo.yaml
build/bin/tickgraph compute --csv SPX="$SPX" --spec examples/demo.yaml --mode pull --out "$OUT/pull.csv"
build/bin/tickgraph compute --csv SPX="$SPX" --spec examples/demo.yaml --mode push --out "$OUT/push.csv"
if cmp -s "$OUT/pull.csv" "$OUT/push.csv"; then
  echo "pull and push agree on every value ($(($(wc -l < "$OUT/pull.csv") - 1)) rows): $OUT/pull.csv"
else
  echo "pull and push differ: see $OUT/pull.csv and $OUT/push.csv" >&2
  exit 1
fi
echo "last 5 rows:"
tail -n 5 "$OUT/pull.csv" | cut -d, -f1-8
