#include "server/errors.h"

#include <google/protobuf/util/json_util.h>

#include "tickgraph/v1/service.pb.h"

namespace tickgraph::server {

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

HttpResponse bad_request(std::string_view message, const ErrorDetails& details) {
  return error_response(400, "invalid_argument", message, details);
}

HttpResponse not_found(std::string_view message, const ErrorDetails& details) {
  return error_response(404, "not_found", message, details);
}

}  // namespace tickgraph::server
