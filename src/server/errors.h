// Error responses: a tickgraph.v1.Error as JSON with the HTTP status that matches its code.
//
// The one table from a Status code to HTTP (http_status_of) lives here: every handler answers a
// failed Status with error_response(status), so clients see the same status and wire `code` for
// the same kind of failure wherever it happens. The wire codes are gRPC's names, except
// "conflict" for already_exists (the name clients of this API have always seen). The Status's
// details become the Error's `details` (e.g. {"parameter": "interval"}, {"field":
// "ticks[3].price"}).
//
// Failures of HTTP itself that no handler sees (405, 413, 415, 426, 431) are answered with
// error_response(int, …) and their own wire codes.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/result.h"
#include "server/router.h"

namespace tickgraph::server {

using ErrorDetails = std::map<std::string, std::string>;

struct HttpError {
  int status;
  std::string_view code;  // the wire code of tickgraph.v1.Error
};

// The one table: 400 invalid_argument (also failed_precondition and out_of_range, with their own
// wire codes), 401 unauthenticated, 403 permission_denied, 404 not_found, 409 conflict
// (already_exists) and aborted, 429 resource_exhausted, 499 cancelled, 500 internal (also
// unknown and data_loss), 501 unimplemented, 503 unavailable, 504 deadline_exceeded.
HttpError http_error_of(StatusCode code);

// The Error for a failed Status: its code's HTTP status and wire code, its message and details.
HttpResponse error_response(const Status& status);

// {"code": CODE, "message": MESSAGE, "details": {…}} with `status`, for HTTP's own failures.
HttpResponse error_response(int status, std::string_view code, std::string_view message,
                            const ErrorDetails& details = {});

}  // namespace tickgraph::server
