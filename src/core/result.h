// Expected failures as values. A function that can fail on input returns Status or Result<T>.
//
// A failed Status carries three things:
//   - a code: what kind of failure it is, from gRPC's canonical set (same names and numbers), so
//     that callers decide by the code and never by reading the message. Each boundary has one
//     table that turns a code into what it speaks: an HTTP status and wire code
//     (server/errors.h), an exit code (cli/exit_code.h), later a gRPC status or a Python
//     exception;
//   - a message for people that names the bad input (file and line, field, node, parameter);
//   - details: the names of what it concerns, as key/value pairs, for machines ("field" →
//     "ticks[3].price", "parameter" → "interval", "node" → "sma20"). They reach clients as the
//     `details` of a tickgraph.v1.Error.
//
// An OK Status holds nothing and costs one null pointer; a failed one shares an immutable
// representation, so copies are cheap. Exceptions are kept for programming errors.
//
// Thread-safety: a Status is immutable; copies may be used from any thread.
#pragma once

#include <cassert>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace tickgraph {

// gRPC's canonical status codes, with their numbers.
enum class StatusCode : int {
  kOk = 0,
  kCancelled = 1,           // the caller gave up (a stop, a closed connection)
  kUnknown = 2,             // an outside error that says nothing more
  kInvalidArgument = 3,     // the input is wrong whatever the state: fix the input
  kDeadlineExceeded = 4,    // took longer than allowed
  kNotFound = 5,            // an asset, graph, credential… that does not exist
  kAlreadyExists = 6,       // creating what exists
  kPermissionDenied = 7,    // known caller, missing scope
  kResourceExhausted = 8,   // a limit or quota (rate, subscriptions, queue)
  kFailedPrecondition = 9,  // valid input the current state refuses
  kAborted = 10,            // a conflict with a concurrent change; retry the whole operation
  kOutOfRange = 11,         // past the end of valid data
  kUnimplemented = 12,      // not supported
  kInternal = 13,           // a broken invariant: a bug
  kUnavailable = 14,        // transient: the store, a broker or a service; retry with backoff
  kDataLoss = 15,           // unrecoverable corruption
  kUnauthenticated = 16,    // no valid credential
};

// "invalid_argument", "not_found", …: gRPC's code names in lower case.
std::string_view status_code_name(StatusCode code);

// One detail of a failure: what it concerns ("field", "parameter", "node", "input", "asset"…)
// and its name.
struct StatusDetail {
  std::string key;
  std::string value;
  bool operator==(const StatusDetail&) const = default;
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  static Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status unknown(std::string m) { return {StatusCode::kUnknown, std::move(m)}; }
  static Status invalid_argument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status deadline_exceeded(std::string m) {
    return {StatusCode::kDeadlineExceeded, std::move(m)};
  }
  static Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status already_exists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status permission_denied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status resource_exhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status failed_precondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
  static Status out_of_range(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
  static Status unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status data_loss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
  static Status unauthenticated(std::string m) {
    return {StatusCode::kUnauthenticated, std::move(m)};
  }

  bool ok() const { return rep_ == nullptr; }
  explicit operator bool() const { return ok(); }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  bool is(StatusCode c) const { return code() == c; }
  // The message for people; empty for OK.
  const std::string& message() const;
  // Details in the order they were added; empty for OK.
  const std::vector<StatusDetail>& details() const;
  // The value of a detail, or "" when absent.
  std::string_view detail(std::string_view key) const;

  // Copies with one more detail (a detail of the same key is replaced). On OK they return OK.
  Status with_detail(std::string key, std::string value) const;
  Status with_field(std::string name) const { return with_detail("field", std::move(name)); }
  Status with_parameter(std::string name) const {
    return with_detail("parameter", std::move(name));
  }
  // A copy whose message starts with `prefix` ("store: ", "--from: "); code and details kept.
  Status with_prefix(std::string_view prefix) const;

  // "invalid_argument: MESSAGE", for logs and test failure output.
  std::string to_string() const;

 private:
  struct Rep {
    StatusCode code;
    std::string message;
    std::vector<StatusDetail> details;
  };
  explicit Status(std::shared_ptr<const Rep> rep) : rep_(std::move(rep)) {}
  std::shared_ptr<const Rep> rep_;
};

// Holds a T or a failed Status.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(v_).ok() && "Result built from an OK Status");
  }

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The error (OK when a value is held).
  Status status() const { return ok() ? Status() : std::get<1>(v_); }
  StatusCode code() const { return ok() ? StatusCode::kOk : std::get<1>(v_).code(); }
  const std::string& message() const { return status_ref().message(); }

 private:
  const Status& status_ref() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  std::variant<T, Status> v_;
};

}  // namespace tickgraph
