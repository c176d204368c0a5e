// Expected failures as values. A function that can fail on input returns Status or Result<T>;
// the message names the bad input (file and line, field, node, parameter). Exceptions are kept
// for programming errors and for the edges that turn a message into an exit code or a status.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace tickgraph {

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  static Status error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !message_.has_value(); }
  explicit operator bool() const { return ok(); }
  // The error message; empty for OK.
  const std::string& message() const {
    static const std::string kEmpty;
    return message_ ? *message_ : kEmpty;
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

// Holds a T or an error message.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(v_).ok() && "Result built from an OK Status");
  }
  static Result error(std::string message) { return Result(Status::error(std::move(message))); }

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
  const std::string& message() const { return status_ref().message(); }

 private:
  const Status& status_ref() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  std::variant<T, Status> v_;
};

}  // namespace tickgraph
