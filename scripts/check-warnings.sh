#!/usr/bin/env bash
# Fails when any object of the build tree was compiled with a warning: warnings are errors in
# CI, checked here on the diagnostics the compiles left (cmake/keep-diagnostics.sh keeps them as
# OBJECT.diag), not by compiling with -Werror, so that the same objects serve `scripts/serve.sh`.
# Every diagnostic is printed with its object. Usage: scripts/check-warnings.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-${BUILD_DIR:-build}}
found=0
checked=0
while IFS= read -r -d '' diag; do
  object=${diag%.diag}
  [ -e "$object" ] || continue  # a leftover of an object no longer built
  checked=$((checked + 1))
  if grep -q -E '(warning|error):' "$diag"; then
    echo "--- ${object#"$BUILD_DIR"/}" >&2
    cat "$diag" >&2
    found=$((found + 1))
  fi
done < <(find "$BUILD_DIR" -name '*.o.diag' -print0)
if ((checked == 0)); then
  echo "check-warnings: no compile diagnostics in $BUILD_DIR (configure it with scripts/build.sh)" >&2
  exit 1
fi
if ((found > 0)); then
  echo "check-warnings: $found of $checked objects were compiled with warnings" >&2
  exit 1
fi
echo "check-warnings: $checked objects compiled without a warning"
