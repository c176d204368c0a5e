#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: unit and property tests (GoogleTest),
# the TA-Lib reference comparison, the CLI end-to-end tests (pytest), and the lint checks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/build.sh
scripts/check-warnings.sh  # warnings are errors, checked without changing what was compiled
scripts/lint.sh
scripts/check-suites.sh "${BUILD_DIR:-build}"  # every suite of tests/expected_suites.txt registered
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure --no-tests=error -j "$(nproc)"
[ "${TICKGRAPH_SANITIZE:-1}" = 0 ] || scripts/sanitize.sh  # ASan/UBSan build-san: suites + fuzz
