#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for a bounded time, one after the other, from the
# sanitized tree that scripts/sanitize.sh builds (build-san; run that first). Fails when any
# target finds a crash, a sanitizer report, a leak, a timeout or an out-of-memory.
#
# Each target starts from its seed corpus tests/fuzz/corpus/NAME (read only: new inputs go to a
# temporary directory, deleted afterwards), with tests/fuzz/NAME.dict and the flags of
# tests/fuzz/NAME.options when present. A crashing input is saved as
# build-san/fuzz-artifacts/NAME/crash-<sha1> (reproduce: build-san/bin/NAME_fuzz FILE); add it
# to the corpus once fixed. Logs: build-san/fuzz-logs/NAME.log.
#
#   scripts/fuzz.sh [NAME...]   only these targets
#   FUZZ_SECONDS=20             time per target
#   SAN_BUILD_DIR=build-san     the build tree
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SAN_BUILD_DIR:-build-san}
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
list=$BUILD_DIR/fuzz-targets.txt
if [ ! -f "$list" ]; then
  echo "fuzz: $list missing: build the fuzz targets with scripts/sanitize.sh" >&2
  exit 1
fi
if (($#)); then targets=("$@"); else mapfile -t targets < <(grep -v '^$' "$list"); fi

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:print_stacktrace=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
logs=$BUILD_DIR/fuzz-logs
mkdir -p "$logs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=()
summary=()
for name in "${targets[@]}"; do
  binary=$BUILD_DIR/bin/${name}_fuzz
  seeds=tests/fuzz/corpus/$name
  artifacts=$BUILD_DIR/fuzz-artifacts/$name
  if [ ! -x "$binary" ] || [ ! -d "$seeds" ]; then
    echo "fuzz: $name: missing $binary or $seeds" >&2
    failed+=("$name")
    continue
  fi
  mkdir -p "$artifacts" "$work/$name"
  args=(-max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10
        -print_final_stats=1 -artifact_prefix="$artifacts/")
  [ -f "tests/fuzz/$name.dict" ] && args+=(-dict="tests/fuzz/$name.dict")
  [ -f "tests/fuzz/$name.options" ] && mapfile -t -O ${#args[@]} args < <(grep -v '^#' "tests/fuzz/$name.options")
  echo "fuzz: $name for ${SECONDS_PER_TARGET} s"
  rc=0
  "$binary" "${args[@]}" "$work/$name" "$seeds" >"$logs/$name.log" 2>&1 </dev/null || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$name.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$name.log" | tail -1)
  found=$(find "$work/$name" -type f | wc -l)
  if [ "$rc" != 0 ]; then
    failed+=("$name")
    summary+=("$(printf '%-14s FAILED (exit %s), see %s' "$name" "$rc" "$logs/$name.log")")
    echo "fuzz: $name FAILED (exit $rc); the end of its log:" >&2
    tail -n 60 "$logs/$name.log" >&2
  else
    summary+=("$(printf '%-14s ok  %10s runs  %7s exec/s  %4s new inputs' "$name" "${execs:-?}" "${rate:-?}" "$found")")
  fi
done

echo "fuzz: summary (${SECONDS_PER_TARGET} s per target)"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $BUILD_DIR/fuzz-artifacts/)" >&2
  exit 1
fi
