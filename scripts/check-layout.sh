#!/usr/bin/env bash
# Checks the boundaries ARCHITECTURE.md draws that the compiler does not: src/live/ (the engine as
# a library) includes nothing of the server, Beast, protobuf or JSON, and each of its files holds
# one concept in under 800 lines. (CMake enforces the rest: tickgraph_live links core, graph,
# store and ingest only.)
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
mapfile -t files < <(git ls-files 'src/live/*.h' 'src/live/*.cc')
for f in "${files[@]}"; do
  if grep -nE '#include [<"](server/|cli/|boost/beast|boost/asio|google/protobuf|tickgraph/v1/|nlohmann/)' "$f"; then
    echo "layout: $f includes what src/live/ must not (server, Beast, protobuf, JSON)" >&2
    status=1
  fi
  lines=$(wc -l < "$f")
  if [[ $f != *_test.cc && $lines -ge 800 ]]; then
    echo "layout: $f has $lines lines; src/live/ files stay under 800 (one concept each)" >&2
    status=1
  fi
done
[[ $status -eq 0 ]] && echo "layout: src/live/ clean (${#files[@]} files)"
exit $status
