#include "server/errors.h"

#include <google/protobuf/util/json_util.h>

#include "tickgraph/v1/service.pb.h"

namespace tickgraph::server {

HttpError http_error_of(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return {200, "ok"};
    case StatusCode::kInvalidArgument:
      return {400, "invalid_argument"};
    case StatusCode::kFailedPrecondition:
      return {400, "failed_precondition"};
    case StatusCode::kOutOfRange:
      return {400, "out_of_range"};
    case StatusCode::kUnauthenticated:
      return {401, "unauthenticated"};
    case StatusCode::kPermissionDenied:
      return {403, "permission_denied"};
    case StatusCode::kNotFound:
      return {404, "not_found"};
    case StatusCode::kAlreadyExists:
      return {409, "conflict"};
    case StatusCode::kAborted:
      return {409, "aborted"};
    case StatusCode::kResourceExhausted:
      return {429, "resource_exhausted"};
    case StatusCode::kCancelled:
      return {499, "cancelled"};
    case StatusCode::kUnimplemented:
      return {501, "unimplemented"};
    case StatusCode::kUnavailable:
      return {503, "unavailable"};
    case StatusCode::kDeadlineExceeded:
      return {504, "deadline_exceeded"};
    case StatusCode::kUnknown:
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      return {500, "internal"};
  }
  return {500, "internal"};
}

HttpResponse error_response(const Status& status) {
  const HttpError e = http_error_of(status.code());
  ErrorDetails details;
  for (const StatusDetail& d : status.details()) details[d.key] = d.value;
  return error_response(e.status, e.code, status.message(), details);
}

HttpResponse error_response(int status, std::string_view code, std::string_view message,
                            const ErrorDetails& details) {
  v1::Error error;
  error.set_code(std::string(code));
  error.set_message(std::string(message));
  for (const auto& [key, value] : details) (*error.mutable_details())[key] = value;
  HttpResponse response;
  response.status = status;
  (void)google::protobuf::util::MessageToJsonString(error, &response.body);
  return response;
}

}  // namespace tickgraph::server
