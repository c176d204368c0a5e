#!/bin/sh
# The compiler launcher of every C and C++ compile (CMakeLists.txt): runs the compile command it
# is given (through ccache when present) and keeps what the compiler printed in OBJECT.diag, next
# to the object, so that scripts/check-warnings.sh can tell whether the tree builds without
# warnings. That check does not change the compile command: `scripts/serve.sh` and
# `scripts/test.sh` build the same objects, and one reuses what the other built.
out=""
prev=""
for arg in "$@"; do
  [ "$prev" = "-o" ] && out=$arg
  prev=$arg
done
[ -n "$out" ] || exec "$@"
"$@" 2>"$out.diag"
status=$?
cat "$out.diag" >&2
exit $status
