// How `tickgraph` ends: the one table from a Status code to the process's exit code.
//
//   0  success
//   1  bad input: invalid_argument, not_found, already_exists, failed_precondition, out_of_range,
//      permission_denied, unauthenticated (a file and line, a spec, a symbol; the message
//      names it)
//   2  bad usage: an unknown option or a missing argument (CLI11), or options that do not go
//      together (usage_error)
//   3  a failure outside the input: unavailable, deadline_exceeded, internal and the rest (the
//      database, an outside service)
#pragma once

#include <string_view>

#include "core/result.h"

namespace tickgraph::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitFailure = 3;

int exit_code(StatusCode code);

// Logs the error (error level; in text form "tickgraph: MESSAGE") and returns its exit code.
int fail(const Status& status);
// Logs a usage error and returns kExitUsage.
int usage_error(std::string_view message);
// fail() for an option's value: a failed Status becomes a usage error (exit 2) naming the option.
int usage_error(const Status& status);

}  // namespace tickgraph::cli
