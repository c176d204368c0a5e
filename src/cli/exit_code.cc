#include "cli/exit_code.h"

#include "core/log.h"

namespace tickgraph::cli {

int exit_code(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
    case StatusCode::kNotFound:
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kOutOfRange:
    case StatusCode::kPermissionDenied:
    case StatusCode::kUnauthenticated:
      return kExitBadInput;
    case StatusCode::kCancelled:
    case StatusCode::kUnknown:
    case StatusCode::kDeadlineExceeded:
    case StatusCode::kResourceExhausted:
    case StatusCode::kAborted:
    case StatusCode::kUnimplemented:
    case StatusCode::kInternal:
    case StatusCode::kUnavailable:
    case StatusCode::kDataLoss:
      return kExitFailure;
  }
  return kExitFailure;
}

int fail(const Status& status) {
  log::error(status.message(), {{"code", status_code_name(status.code())}});
  return exit_code(status.code());
}

int usage_error(std::string_view message) {
  log::error(message, {{"code", "usage"}});
  return kExitUsage;
}

int usage_error(const Status& status) { return usage_error(status.message()); }

}  // namespace tickgraph::cli
