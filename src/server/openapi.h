// The OpenAPI 3 document served at /openapi.json, generated from the router's table and the
// Protobuf contract: every route becomes an operation (summary, tag, path and query parameters,
// request body and responses), and every message a route names becomes a schema under
// components/schemas, derived from the message descriptor by the protobuf JSON mapping rules
// (lowerCamelCase names, int64 as string, enums as their names, maps as objects, repeated as
// arrays, google.protobuf.Value as any JSON value, ListValue as an array). Errors refer to
// tickgraph.v1.Error.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "server/router.h"

namespace tickgraph::server {

// The document as JSON text. `version` is the service version ("0.1.0").
//
// Every route but HEAD ones becomes one operation. WebSocket routes are documented as their
// 101 response, SSE routes as a text/event-stream response; both name the messages they carry
// (the route's request/response messages, by default tickgraph.v1.ClientMessage and
// tickgraph.v1.StreamMessage) in an "x-messages" extension, so those schemas are in the document
// too. Static routes are a GET of their prefix returning text/html.
//
// Throws std::logic_error when a route names a message the contract does not define, or when
// two routes share a method and pattern: the route table is code, so both are programming errors.
std::string openapi_document(const Router& router, const std::string& version);

// The operations of an OpenAPI document: (METHOD in upper case, path) pairs, sorted. Empty when
// `document_json` is not a JSON object with "paths". For tests that hold the document against the
// router and the live server.
std::vector<std::pair<std::string, std::string>> openapi_operations(
    const std::string& document_json);

}  // namespace tickgraph::server
