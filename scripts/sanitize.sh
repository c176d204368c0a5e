#!/usr/bin/env bash
# The sanitizer run: builds the `tickgraph` binary and the fuzz targets with clang, AddressSanitizer
# (LeakSanitizer included) and UndefinedBehaviorSanitizer into one tree, build-san/ (ccache when
# present), then runs the integration suites against the sanitized binary (the ctest labels e2e,
# robustness and crash: pytest driving the real binary) and scripts/fuzz.sh. Then the engine's
# unit tests (live_tests, server_tests: the live market's threads, the write-behind, the HTTP
# server's pools) built with ThreadSanitizer in a tree of their own, build-tsan/.
#
# Any sanitizer report fails the run: reports are written to build-san/sanitizer-logs/ (not to
# the tested process's stderr, where a test expecting a failure could swallow it) and printed at
# the end. Benches, unit tests and the web UI are not built here. Installs clang and its runtimes
# (Debian packages clang, libclang-rt-14-dev) when they are missing.
#
#   SAN_BUILD_DIR=build-san   the build tree
#   SANITIZE_FUZZ=0           skip scripts/fuzz.sh (FUZZ_SECONDS is passed on to it)
#   SANITIZE_TESTS=0          skip the integration suites
#   SANITIZE_TSAN=0           skip the ThreadSanitizer build and run (TSAN_BUILD_DIR=build-tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SAN_BUILD_DIR:-build-san}
export SAN_BUILD_DIR=$BUILD_DIR
start=$SECONDS

# clang and its sanitizer and libFuzzer runtimes: scripts/bootstrap.sh installs clang-tidy without
# recommended packages, which brings clang-14 but neither the `clang` commands nor the runtimes.
missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "sanitize: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=120 install -y \
    --no-install-recommends "${missing[@]}"
fi

# -O1 and line tables: fast enough to run the suites, quick to compile and link. No NDEBUG:
# assertions stay on. Warnings are not errors here: clang warns where g++ (the CI compiler) does not.
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DTICKGRAPH_SANITIZE=ON -DTICKGRAPH_FUZZ=ON -DTICKGRAPH_BUILD_BENCH=OFF \
  -DTICKGRAPH_WERROR=OFF >/dev/null
nice cmake --build "$BUILD_DIR" --target tickgraph kafka_mock fuzz_targets
echo "sanitize: built in $((SECONDS - start)) s"

status=0
if [ "${SANITIZE_TESTS:-1}" != 0 ]; then
  logs=$PWD/$BUILD_DIR/sanitizer-logs
  rm -rf "$logs"
  mkdir -p "$logs"
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:print_stacktrace=1:check_initialization_order=1:log_path=$logs/asan"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
  tests_start=$SECONDS
  ctest --test-dir "$BUILD_DIR" -L 'e2e|robustness|crash' --output-on-failure \
    -j "$(nproc)" || status=1
  echo "sanitize: integration suites in $((SECONDS - tests_start)) s"
  if compgen -G "$logs/*" >/dev/null; then
    echo "sanitize: sanitizer reports from the tested processes:" >&2
    for f in "$logs"/*; do
      echo "--- $f" >&2
      cat "$f" >&2
    done
    status=1
  fi
fi

if [ "${SANITIZE_FUZZ:-1}" != 0 ]; then
  scripts/fuzz.sh || status=1
fi

if [ "${SANITIZE_TSAN:-1}" != 0 ]; then
  tsan_dir=${TSAN_BUILD_DIR:-build-tsan}
  tsan_start=$SECONDS
  CC=clang CXX=clang++ cmake -S . -B "$tsan_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DTICKGRAPH_TSAN=ON -DTICKGRAPH_BUILD_BENCH=OFF -DTICKGRAPH_WERROR=OFF >/dev/null
  nice cmake --build "$tsan_dir" --target live_tests server_tests
  # Any report fails the test binary (halt_on_error); a lock-order inversion is a report too.
  for t in live_tests server_tests; do
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" "$tsan_dir/bin/$t" --gtest_brief=1 ||
      { echo "sanitize: ThreadSanitizer: $t FAILED" >&2; status=1; }
  done
  echo "sanitize: ThreadSanitizer build and engine tests in $((SECONDS - tsan_start)) s"
fi
echo "sanitize: $([ $status = 0 ] && echo passed || echo FAILED) in $((SECONDS - start)) s"
exit $status
