#include "server/openapi.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tickgraph/v1/graph.pb.h"
#include "tickgraph/v1/market.pb.h"
#include "tickgraph/v1/service.pb.h"
#include "tickgraph/v1/stream.pb.h"

namespace tickgraph::server {
namespace {

namespace pb = google::protobuf;
using Json = nlohmann::ordered_json;

constexpr const char* kErrorMessage = "tickgraph.v1.Error";
constexpr const char* kClientMessage = "tickgraph.v1.ClientMessage";
constexpr const char* kStreamMessage = "tickgraph.v1.StreamMessage";
constexpr const char* kSchemaPrefix = "#/components/schemas/";

// Messages are looked up by name in the generated pool, which holds a .proto file only if its
// generated code is linked in. Naming one message of each contract file keeps the linker from
// dropping any of them from the static library.
void link_contract() {
  static const bool linked = [] {
    return tickgraph::v1::Asset::descriptor() != nullptr &&
           tickgraph::v1::Graph::descriptor() != nullptr &&
           tickgraph::v1::Error::descriptor() != nullptr &&
           tickgraph::v1::StreamMessage::descriptor() != nullptr;
  }();
  (void)linked;
}

std::string reason_phrase(int status) {
  static const std::map<int, const char*> kPhrases = {
      {101, "Switching Protocols"},
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {304, "Not Modified"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {406, "Not Acceptable"},
      {409, "Conflict"},
      {413, "Payload Too Large"},
      {415, "Unsupported Media Type"},
      {422, "Unprocessable Entity"},
      {429, "Too Many Requests"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
  };
  const auto it = kPhrases.find(status);
  if (it != kPhrases.end()) return it->second;
  return status < 400 ? "Success" : "Error";
}

Json ref(const std::string& message) { return Json{{"$ref", kSchemaPrefix + message}}; }

// google.protobuf.Value: any JSON value, null included.
Json any_value_schema() {
  return Json{{"description", "Any JSON value (google.protobuf.Value)."}, {"nullable", true}};
}

// Well-known types have their own JSON forms (protobuf's JSON mapping); they are written inline
// rather than as components. nullopt for any other message.
std::optional<Json> well_known_schema(const std::string& full_name) {
  if (full_name == "google.protobuf.Value") return any_value_schema();
  if (full_name == "google.protobuf.ListValue") {
    return Json{{"type", "array"}, {"items", any_value_schema()}};
  }
  if (full_name == "google.protobuf.Struct") {
    return Json{{"type", "object"}, {"additionalProperties", any_value_schema()}};
  }
  if (full_name == "google.protobuf.Timestamp") {
    return Json{{"type", "string"}, {"format", "date-time"}};
  }
  if (full_name == "google.protobuf.Duration") {
    return Json{{"type", "string"}, {"description", "Seconds with an \"s\" suffix: \"1.5s\"."}};
  }
  if (full_name == "google.protobuf.FieldMask") return Json{{"type", "string"}};
  if (full_name == "google.protobuf.Empty") return Json{{"type", "object"}};
  if (full_name == "google.protobuf.Any") {
    return Json{{"type", "object"}, {"properties", {{"@type", {{"type", "string"}}}}}};
  }
  // Wrappers are their value, or null.
  static const std::map<std::string, Json> kWrappers = {
      {"google.protobuf.DoubleValue", {{"type", "number"}, {"format", "double"}}},
      {"google.protobuf.FloatValue", {{"type", "number"}, {"format", "float"}}},
      {"google.protobuf.Int64Value", {{"type", "string"}, {"format", "int64"}}},
      {"google.protobuf.UInt64Value", {{"type", "string"}, {"format", "int64"}}},
      {"google.protobuf.Int32Value", {{"type", "integer"}, {"format", "int32"}}},
      {"google.protobuf.UInt32Value", {{"type", "integer"}, {"format", "int64"}, {"minimum", 0}}},
      {"google.protobuf.BoolValue", {{"type", "boolean"}}},
      {"google.protobuf.StringValue", {{"type", "string"}}},
      {"google.protobuf.BytesValue", {{"type", "string"}, {"format", "byte"}}},
  };
  const auto it = kWrappers.find(full_name);
  if (it == kWrappers.end()) return std::nullopt;
  Json schema = it->second;
  schema["nullable"] = true;
  return schema;
}

// Builds components/schemas: every message and enum reachable from the ones the routes name.
class SchemaSet {
 public:
  // A reference to `full_name`, queued for conversion. Throws std::logic_error for a name the
  // contract does not define: the route table is code, so a typo there is a programming error.
  Json reference(const std::string& full_name, const std::string& where) {
    const pb::Descriptor* message =
        pb::DescriptorPool::generated_pool()->FindMessageTypeByName(full_name);
    if (message == nullptr) {
      throw std::logic_error("unknown message '" + full_name + "' in " + where);
    }
    queue_message(message);
    return ref(full_name);
  }

  // Converts everything queued, following fields transitively.
  Json build() {
    while (!pending_.empty()) {
      const pb::Descriptor* message = pending_.front();
      pending_.pop_front();
      auto wkt = well_known_schema(message->full_name());
      schemas_[message->full_name()] = wkt ? *wkt : message_schema(message);
    }
    Json out = Json::object();
    for (auto& [name, schema] : schemas_) out[name] = std::move(schema);
    return out;
  }

 private:
  void queue_message(const pb::Descriptor* message) {
    if (seen_.insert(message->full_name()).second) pending_.push_back(message);
  }

  Json enum_reference(const pb::EnumDescriptor* e) {
    if (seen_.insert(e->full_name()).second) {
      Json values = Json::array();
      for (int i = 0; i < e->value_count(); ++i) values.push_back(e->value(i)->name());
      schemas_[e->full_name()] = Json{{"type", "string"}, {"enum", std::move(values)}};
    }
    return ref(e->full_name());
  }

  // The schema of one value of `field` (an element, for repeated fields).
  Json value_schema(const pb::FieldDescriptor* field) {
    using T = pb::FieldDescriptor;
    switch (field->type()) {
      case T::TYPE_INT64:
      case T::TYPE_SINT64:
      case T::TYPE_SFIXED64:
      case T::TYPE_UINT64:
      case T::TYPE_FIXED64:
        // 64-bit integers are JSON strings: JavaScript numbers lose digits past 2^53.
        return Json{{"type", "string"}, {"format", "int64"}};
      case T::TYPE_INT32:
      case T::TYPE_SINT32:
      case T::TYPE_SFIXED32:
        return Json{{"type", "integer"}, {"format", "int32"}};
      case T::TYPE_UINT32:
      case T::TYPE_FIXED32:
        return Json{{"type", "integer"}, {"format", "int64"}, {"minimum", 0}};
      case T::TYPE_DOUBLE:
        return Json{{"type", "number"}, {"format", "double"}};
      case T::TYPE_FLOAT:
        return Json{{"type", "number"}, {"format", "float"}};
      case T::TYPE_BOOL:
        return Json{{"type", "boolean"}};
      case T::TYPE_STRING:
        return Json{{"type", "string"}};
      case T::TYPE_BYTES:
        return Json{{"type", "string"}, {"format", "byte"}};
      case T::TYPE_ENUM:
        if (field->enum_type()->full_name() == "google.protobuf.NullValue") {
          return Json{{"nullable", true}, {"enum", Json::array({nullptr})}};
        }
        return enum_reference(field->enum_type());
      case T::TYPE_MESSAGE:
      case T::TYPE_GROUP:
        break;
    }
    const pb::Descriptor* message = field->message_type();
    if (auto wkt = well_known_schema(message->full_name())) return *wkt;
    queue_message(message);
    return ref(message->full_name());
  }

  Json field_schema(const pb::FieldDescriptor* field) {
    if (field->is_map()) {
      // Map keys are always JSON strings, whatever their proto type.
      return Json{{"type", "object"},
                  {"additionalProperties", value_schema(field->message_type()->map_value())}};
    }
    if (field->is_repeated()) return Json{{"type", "array"}, {"items", value_schema(field)}};
    return value_schema(field);
  }

  Json message_schema(const pb::Descriptor* message) {
    Json schema{{"type", "object"}};
    Json properties = Json::object();
    std::vector<std::string> oneofs;
    for (int i = 0; i < message->oneof_decl_count(); ++i) {
      const pb::OneofDescriptor* oneof = message->oneof_decl(i);
      if (oneof->is_synthetic()) continue;  // proto3 `optional`
      std::string names;
      for (int j = 0; j < oneof->field_count(); ++j) {
        names += (j > 0 ? ", " : "") + oneof->field(j)->json_name();
      }
      oneofs.push_back("At most one of " + names + " is set (oneof " + oneof->name() + ").");
    }
    for (int i = 0; i < message->field_count(); ++i) {
      const pb::FieldDescriptor* field = message->field(i);
      Json property = field_schema(field);
      if (const pb::OneofDescriptor* oneof = field->real_containing_oneof()) {
        const std::string note = "Part of oneof " + oneof->name() + ": at most one is set.";
        if (property.contains("$ref")) {
          // A sibling of $ref is ignored in OpenAPI 3.0; wrap the reference to keep the note.
          property = Json{{"allOf", Json::array({std::move(property)})}, {"description", note}};
        } else {
          property["description"] = note;
        }
      }
      properties[field->json_name()] = std::move(property);
    }
    if (!oneofs.empty()) {
      std::string description;
      for (const std::string& line : oneofs) description += (description.empty() ? "" : " ") + line;
      schema["description"] = description;
    }
    if (!properties.empty()) schema["properties"] = std::move(properties);
    return schema;
  }

  std::set<std::string> seen_;
  std::deque<const pb::Descriptor*> pending_;
  std::map<std::string, Json> schemas_;  // sorted by name in the document
};

std::vector<std::string> path_captures(const std::string& pattern) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while ((start = pattern.find('{', start)) != std::string::npos) {
    const std::size_t end = pattern.find('}', start);
    if (end == std::string::npos) break;
    names.push_back(pattern.substr(start + 1, end - start - 1));
    start = end + 1;
  }
  return names;
}

// "get" + "/v1/assets/{symbol}/candles" -> "getV1AssetsBySymbolCandles".
std::string operation_id(const std::string& method, const std::string& pattern) {
  std::string id;
  for (const char c : method) id += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool word_start = true;
  bool any_word = false;
  for (const char c : pattern) {
    if (c == '{') {
      id += "By";
      word_start = true;
    } else if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
      id += word_start ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
      word_start = false;
      any_word = true;
    } else {
      word_start = true;
    }
  }
  return any_word ? id : id + "Root";
}

Json json_body(Json schema) { return Json{{"application/json", {{"schema", std::move(schema)}}}}; }

Json operation(const Route& route, const std::string& method, SchemaSet& schemas,
               std::set<std::string>& operation_ids) {
  const RouteDoc& doc = route.doc;
  const std::string where = "route " + route.method + " " + route.pattern;
  Json op = Json::object();
  if (!doc.summary.empty()) op["summary"] = doc.summary;
  if (!doc.tag.empty()) op["tags"] = Json::array({doc.tag});

  std::string id = operation_id(method, route.pattern);
  for (int n = 2; !operation_ids.insert(id).second; ++n) {
    id = operation_id(method, route.pattern) + std::to_string(n);
  }
  op["operationId"] = id;

  Json parameters = Json::array();
  if (route.kind != RouteKind::kStatic) {
    for (const std::string& name : path_captures(route.pattern)) {
      parameters.push_back(
          {{"name", name}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}});
    }
  }
  for (const ParamDoc& param : doc.query) {
    Json p{{"name", param.name}, {"in", "query"}, {"required", param.required}};
    if (!param.description.empty()) p["description"] = param.description;
    p["schema"] = Json{{"type", param.type}};
    parameters.push_back(std::move(p));
  }
  // Browsers cannot set headers on WebSocket and EventSource requests: streams take the
  // credential as a query parameter too.
  if (!doc.scope.empty() &&
      (route.kind == RouteKind::kWebSocket || route.kind == RouteKind::kSse)) {
    for (const char* name : {"access_token", "api_key"}) {
      parameters.push_back(
          {{"name", name},
           {"in", "query"},
           {"required", false},
           {"description", "the Bearer token or API key, for clients that cannot set headers"},
           {"schema", {{"type", "string"}}}});
    }
  }
  if (!parameters.empty()) op["parameters"] = std::move(parameters);
  // Public routes say so; the others accept a token of the built-in endpoint (oauth2), any
  // Bearer JWT the server trusts, or an API key, each with the route's scope.
  if (doc.scope.empty()) {
    op["security"] = Json::array();
  } else {
    op["security"] =
        Json::array({Json{{"oauth2", Json::array({doc.scope})}}, Json{{"bearer", Json::array()}},
                     Json{{"apiKey", Json::array()}}});
    op["x-scope"] = doc.scope;
  }

  const bool streaming = route.kind == RouteKind::kWebSocket || route.kind == RouteKind::kSse;
  if (!doc.request_message.empty() && !streaming) {
    op["requestBody"] = Json{{"required", true},
                             {"content", json_body(schemas.reference(doc.request_message, where))}};
  } else if (doc.request_type == "application/x-www-form-urlencoded") {
    // The token endpoint (RFC 6749 §4.4.2); the client may authenticate with HTTP Basic instead.
    Json properties = Json::object();
    for (const char* name : {"grant_type", "client_id", "client_secret", "scope"}) {
      properties[name] = Json{{"type", "string"}};
    }
    Json schema{{"type", "object"},
                {"properties", std::move(properties)},
                {"required", Json::array({"grant_type"})}};
    Json content = Json::object();
    content[doc.request_type] = Json{{"schema", std::move(schema)}};
    op["requestBody"] = Json{{"required", true}, {"content", std::move(content)}};
  }

  Json responses = Json::object();
  Json success{{"description", reason_phrase(doc.success_status)}};
  switch (route.kind) {
    case RouteKind::kWebSocket: {
      const std::string client = doc.request_message.empty() ? kClientMessage : doc.request_message;
      const std::string server =
          doc.response_message.empty() ? kStreamMessage : doc.response_message;
      success["description"] =
          "Switching Protocols: a WebSocket whose text frames are JSON; the "
          "client sends " +
          client + ", the server sends " + server + ".";
      op["x-messages"] = Json{{"client", schemas.reference(client, where)},
                              {"server", schemas.reference(server, where)}};
      responses["101"] = std::move(success);
      break;
    }
    case RouteKind::kSse: {
      const std::string server =
          doc.response_message.empty() ? kStreamMessage : doc.response_message;
      success["description"] = "An event stream; each event's data is a " + server + " as JSON.";
      success["content"] = Json{{"text/event-stream", {{"schema", {{"type", "string"}}}}}};
      op["x-messages"] = Json{{"server", schemas.reference(server, where)}};
      responses[std::to_string(doc.success_status)] = std::move(success);
      break;
    }
    case RouteKind::kStatic:
      success["content"] = Json{{"text/html", {{"schema", {{"type", "string"}}}}}};
      responses[std::to_string(doc.success_status)] = std::move(success);
      break;
    case RouteKind::kPlain:
    case RouteKind::kInline:
      if (!doc.response_message.empty()) {
        success["content"] = json_body(schemas.reference(doc.response_message, where));
      } else if (!doc.response_type.empty()) {
        success["content"] = Json{{doc.response_type, {{"schema", {{"type", "string"}}}}}};
      }
      for (const int status : doc.also_success) {
        Json also = success;
        also["description"] = reason_phrase(status);
        responses[std::to_string(status)] = std::move(also);
      }
      responses[std::to_string(doc.success_status)] = std::move(success);
      break;
  }
  std::vector<int> errors = doc.error_statuses;
  errors.push_back(500);
  if (!doc.scope.empty()) errors.insert(errors.end(), {401, 403, 429});
  std::sort(errors.begin(), errors.end());
  errors.erase(std::unique(errors.begin(), errors.end()), errors.end());
  for (const int status : errors) {
    responses[std::to_string(status)] = Json{
        {"description", reason_phrase(status)},
        {"content", json_body(schemas.reference(
                        doc.error_message.empty() ? kErrorMessage : doc.error_message, where))}};
  }
  op["responses"] = std::move(responses);
  return op;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

std::string openapi_document(const Router& router, const std::string& version) {
  link_contract();
  SchemaSet schemas;
  std::set<std::string> operation_ids;
  std::vector<std::string> tags;
  Json paths = Json::object();

  // Static routes last: an API route that claims the same GET wins, as in Router::match.
  std::vector<const Route*> routes;
  for (const Route& route : router.routes()) {
    if (route.kind != RouteKind::kStatic) routes.push_back(&route);
  }
  for (const Route& route : router.routes()) {
    if (route.kind == RouteKind::kStatic) routes.push_back(&route);
  }

  for (const Route* route : routes) {
    // HEAD is answered by every GET route; the document lists GET only.
    if (upper(route->method) == "HEAD") continue;
    const std::string method = route->kind == RouteKind::kStatic ? "get" : lower(route->method);
    Json& item = paths[route->pattern];
    if (item.contains(method)) {
      if (route->kind == RouteKind::kStatic) continue;
      throw std::logic_error("route " + route->method + " " + route->pattern +
                             " is registered twice");
    }
    item[method] = operation(*route, method, schemas, operation_ids);
    if (!route->doc.tag.empty() &&
        std::find(tags.begin(), tags.end(), route->doc.tag) == tags.end()) {
      tags.push_back(route->doc.tag);
    }
  }

  Json document{{"openapi", "3.0.3"},
                {"info",
                 {{"title", "tickgraph"},
                  {"version", version},
                  {"description",
                   "Market data and analytics graphs. Bodies are the protobuf JSON mapping of the "
                   "tickgraph.v1 messages: lowerCamelCase names, 64-bit integers as strings, "
                   "enums by name."}}}};
  if (!tags.empty()) {
    Json tag_list = Json::array();
    for (const std::string& tag : tags) tag_list.push_back({{"name", tag}});
    document["tags"] = std::move(tag_list);
  }
  document["paths"] = std::move(paths);
  document["components"] = Json{{"schemas", schemas.build()}};
  const bool secured = std::any_of(router.routes().begin(), router.routes().end(),
                                   [](const Route& r) { return !r.doc.scope.empty(); });
  if (secured) {
    const Json scopes{{"read", "queries and streams"},
                      {"write", "ingest and graphs"},
                      {"admin", "clients, API keys and jobs"}};
    document["components"]["securitySchemes"] = Json{
        {"oauth2",
         {{"type", "oauth2"},
          {"description", "Tokens of the built-in endpoint (tickgraph auth client add)"},
          {"flows", {{"clientCredentials", {{"tokenUrl", "/oauth2/token"}, {"scopes", scopes}}}}}}},
        {"bearer",
         {{"type", "http"},
          {"scheme", "bearer"},
          {"bearerFormat", "JWT"},
          {"description", "A JWT of a trusted issuer (RS256/ES256 by JWKS, or HS256)"}}},
        {"apiKey",
         {{"type", "apiKey"},
          {"in", "header"},
          {"name", "X-API-Key"},
          {"description", "An API key (tickgraph auth key add)"}}}};
  }
  return document.dump(2);
}

std::vector<std::pair<std::string, std::string>> openapi_operations(
    const std::string& document_json) {
  static const std::set<std::string> kMethods = {"get",     "put",  "post",  "delete",
                                                 "options", "head", "patch", "trace"};
  std::vector<std::pair<std::string, std::string>> operations;
  const nlohmann::json document =
      nlohmann::json::parse(document_json, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object() || !document.contains("paths") || !document["paths"].is_object()) {
    return operations;
  }
  for (const auto& [path, item] : document["paths"].items()) {
    if (!item.is_object()) continue;
    for (const auto& [method, op] : item.items()) {
      if (kMethods.count(method) != 0) operations.emplace_back(upper(method), path);
    }
  }
  std::sort(operations.begin(), operations.end());
  return operations;
}

}  // namespace tickgraph::server
