#!/usr/bin/env bash
# Checks formatting (clang-format, .clang-format) and static analysis (clang-tidy, .clang-tidy)
# of our C++ sources, using build/compile_commands.json, then the web UI's TypeScript (strict type
# check, Prettier with web/.prettierrc.json), after the layout check (scripts/check-layout.sh).
# Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
scripts/check-layout.sh
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'bench/*.cc' 'bench/*.h')
echo "lint: clang-format on ${#files[@]} files"
clang-format --dry-run --Werror "${files[@]}"
mapfile -t units < <(git ls-files 'src/*.cc' 'bench/*.cc')
echo "lint: clang-tidy on ${#units[@]} translation units"
# Each unit found clean before with the same input (preprocessed text, flags, .clang-tidy) is not
# checked again: see scripts/clang-tidy-cached.py (TICKGRAPH_TIDY_CACHE=0 checks them all).
/usr/bin/python3 scripts/clang-tidy-cached.py "$BUILD_DIR" "${units[@]}"
echo "lint: web UI type check and Prettier"
(cd web && npm run --silent lint)
echo "lint: clean"
