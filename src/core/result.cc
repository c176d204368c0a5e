#include "core/result.h"

#include <algorithm>

namespace tickgraph {

std::string_view status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kUnknown:
      return "unknown";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kAlreadyExists:
      return "already_exists";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
    case StatusCode::kResourceExhausted:
      return "resource_exhausted";
    case StatusCode::kFailedPrecondition:
      return "failed_precondition";
    case StatusCode::kAborted:
      return "aborted";
    case StatusCode::kOutOfRange:
      return "out_of_range";
    case StatusCode::kUnimplemented:
      return "unimplemented";
    case StatusCode::kInternal:
      return "internal";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kDataLoss:
      return "data_loss";
    case StatusCode::kUnauthenticated:
      return "unauthenticated";
  }
  return "unknown";
}

Status::Status(StatusCode code, std::string message) {
  assert(code != StatusCode::kOk && "an OK Status is built with Status()");
  rep_ = std::make_shared<const Rep>(Rep{code, std::move(message), {}});
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return rep_ ? rep_->message : kEmpty;
}

const std::vector<StatusDetail>& Status::details() const {
  static const std::vector<StatusDetail> kNone;
  return rep_ ? rep_->details : kNone;
}

std::string_view Status::detail(std::string_view key) const {
  for (const StatusDetail& d : details()) {
    if (d.key == key) return d.value;
  }
  return {};
}

Status Status::with_detail(std::string key, std::string value) const {
  if (!rep_) return {};
  Rep rep = *rep_;
  auto same = std::find_if(rep.details.begin(), rep.details.end(),
                           [&](const StatusDetail& d) { return d.key == key; });
  if (same != rep.details.end()) {
    same->value = std::move(value);
  } else {
    rep.details.push_back({std::move(key), std::move(value)});
  }
  return Status(std::make_shared<const Rep>(std::move(rep)));
}

Status Status::with_prefix(std::string_view prefix) const {
  if (!rep_) return {};
  Rep rep = *rep_;
  rep.message.insert(0, prefix);
  return Status(std::make_shared<const Rep>(std::move(rep)));
}

std::string Status::to_string() const {
  if (!rep_) return "ok";
  std::string out(status_code_name(rep_->code));
  out.append(": ").append(rep_->message);
  return out;
}

}  // namespace tickgraph
