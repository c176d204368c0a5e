// Error responses: a tickgraph.v1.Error as JSON with the HTTP status that matches its code.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "server/router.h"

namespace tickgraph::server {

using ErrorDetails = std::map<std::string, std::string>;

// {"code": CODE, "message": MESSAGE, "details": {…}} with `status`.
HttpResponse error_response(int status, std::string_view code, std::string_view message,
                            const ErrorDetails& details = {});

HttpResponse bad_request(std::string_view message, const ErrorDetails& details = {});  // 400
HttpResponse not_found(std::string_view message, const ErrorDetails& details = {});    // 404

}  // namespace tickgraph::server
