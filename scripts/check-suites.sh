#!/usr/bin/env bash
# Fails when a test suite that tests/expected_suites.txt expects is not registered with ctest:
#
#   scripts/check-suites.sh [BUILD_DIR]     (default: build)
#
# Each entry of the file is an exact ctest name or a prefix ending in `*`; every entry that no
# name of `ctest --test-dir BUILD_DIR -N` matches is named, and the exit status is 1 (2 when ctest
# cannot list the build's tests). scripts/test.sh runs it before ctest, so a suite that configure
# left out for a missing dependency fails the run instead of passing with fewer tests.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
expected=tests/expected_suites.txt

if ! listing=$(ctest --test-dir "$build" -N 2>&1); then
  echo "check-suites: ctest --test-dir $build -N failed:" >&2
  echo "$listing" >&2
  exit 2
fi
# "  Test  #12: NAME" -> NAME (a parameterised GoogleTest name keeps its "  # GetParam() = …").
names=$(sed -n 's/^ *Test *#[0-9]*: //p' <<<"$listing")
if [ -z "$names" ]; then
  echo "check-suites: no test is registered in $build" >&2
  exit 1
fi

missing=()
while IFS= read -r entry || [ -n "$entry" ]; do
  entry=${entry%%#*}                              # comments
  entry=$(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' <<<"$entry")
  [ -n "$entry" ] || continue
  if [[ $entry == *'*' ]]; then
    prefix=${entry%'*'}
    found=$(awk -v p="$prefix" 'index($0, p) == 1 { print "y"; exit }' <<<"$names")
  else
    found=$(awk -v n="$entry" '$0 == n { print "y"; exit }' <<<"$names")
  fi
  [ -n "$found" ] || missing+=("$entry")
done <"$expected"

if [ ${#missing[@]} -gt 0 ]; then
  echo "check-suites: ${#missing[@]} expected suite(s) have no test registered in $build" \
    "(a dependency missing at configure time?):" >&2
  printf '  %s\n' "${missing[@]}" >&2
  echo "check-suites: see $expected" >&2
  exit 1
fi
echo "check-suites: every suite of $expected is registered ($(wc -l <<<"$names") tests)"
