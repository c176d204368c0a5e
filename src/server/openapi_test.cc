#include "server/openapi.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "analytics/function.h"
#include "server/convert.h"
#include "tickgraph/v1/graph.pb.h"
#include "tickgraph/v1/market.pb.h"
#include "tickgraph/v1/service.pb.h"
#include "tickgraph/v1/stream.pb.h"

namespace tickgraph::server {
namespace {

using nlohmann::json;

constexpr const char* kPrefix = "#/components/schemas/";

HttpResponse no_handler(const HttpRequest&) { return {}; }

RouteDoc doc(std::string summary, std::string tag, std::string request, std::string response,
             std::vector<int> errors = {}) {
  RouteDoc d;
  d.summary = std::move(summary);
  d.tag = std::move(tag);
  d.request_message = std::move(request);
  d.response_message = std::move(response);
  d.error_statuses = std::move(errors);
  return d;
}

// A table like the service's: plain routes with every kind of parameter and body, a HEAD route,
// a WebSocket, an SSE stream and the static web UI.
Router make_router() {
  Router router;
  RouteDoc list = doc("List assets", "assets", "", "tickgraph.v1.AssetList", {400});
  list.query.push_back({"class", "string", false, "Only this asset class."});
  router.add("GET", "/v1/assets", list, no_handler);
  RouteDoc create =
      doc("Create an asset", "assets", "tickgraph.v1.Asset", "tickgraph.v1.Asset", {400, 409, 415});
  create.success_status = 201;
  router.add("POST", "/v1/assets", create, no_handler);
  router.add("HEAD", "/v1/assets", doc("Head", "assets", "", ""), no_handler);
  router.add("GET", "/v1/assets/{symbol}", doc("Get", "assets", "", "tickgraph.v1.Asset", {404}),
             no_handler);
  RouteDoc candles = doc("Candles", "candles", "", "tickgraph.v1.CandleSeries", {400, 404});
  candles.query.push_back({"interval", "string", true, "Bar interval."});
  candles.query.push_back({"limit", "integer", false, ""});
  router.add("GET", "/v1/assets/{symbol}/candles", candles, no_handler);
  router.add("PUT", "/v1/assets/{symbol}/candles",
             doc("Upsert candles", "candles", "tickgraph.v1.CandleBatch", "tickgraph.v1.WriteStats",
                 {400, 404, 413}),
             no_handler);
  router.add("GET", "/v1/graphs/{id}", doc("Get a graph", "graphs", "", "tickgraph.v1.Graph"),
             no_handler);
  RouteDoc remove = doc("Delete a graph", "graphs", "", "", {404});
  remove.success_status = 204;
  router.add("DELETE", "/v1/graphs/{id}", remove, no_handler);
  router.add("GET", "/v1/graphs/{id}/run/{symbol}",
             doc("Run", "analytics", "", "tickgraph.v1.AnalyticsResult", {400, 404}), no_handler);
  router.add("GET", "/v1/functions", doc("Functions", "graphs", "", "tickgraph.v1.FunctionList"),
             no_handler);
  router.add("GET", "/health", doc("Health", "service", "", "tickgraph.v1.Health"), no_handler);
  router.add("GET", "/ready", doc("Ready", "service", "", "tickgraph.v1.Readiness", {503}),
             no_handler);
  RouteDoc metrics = doc("Metrics", "service", "", "");
  metrics.response_type = "text/plain";
  router.add("GET", "/metrics", metrics, no_handler);
  router.add("GET", "/v1/stream",
             doc("Live stream", "streams", "tickgraph.v1.ClientMessage",
                 "tickgraph.v1.StreamMessage", {400}),
             no_handler, RouteKind::kWebSocket);
  RouteDoc sse = doc("Live stream (SSE)", "streams", "", "tickgraph.v1.StreamMessage", {400});
  sse.query.push_back({"assets", "string", true, "Comma-separated symbols."});
  router.add("GET", "/v1/stream/sse", sse, no_handler, RouteKind::kSse);
  router.add("GET", "/", doc("Web UI", "ui", "", ""), no_handler, RouteKind::kStatic);
  return router;
}

class OpenApiTest : public ::testing::Test {
 protected:
  OpenApiTest()
      : router_(make_router()),
        text_(openapi_document(router_, "1.2.3")),
        document_(json::parse(text_)) {}

  const json& schema(const std::string& name) const {
    return document_.at("components").at("schemas").at(name);
  }
  const json& property(const std::string& message, const std::string& field) const {
    return schema(message).at("properties").at(field);
  }
  const json& resolve(const json& maybe_ref) const {
    if (!maybe_ref.contains("$ref")) return maybe_ref;
    const std::string target = maybe_ref["$ref"].get<std::string>();
    return schema(target.substr(std::string(kPrefix).size()));
  }

  // Checks that `value` (protobuf's own JSON output) fits `s`: every key a property (or an
  // additional property), every value of the documented JSON type.
  void expect_conforms(const json& value, const json& s, const std::string& where) const {
    if (s.contains("$ref")) return expect_conforms(value, resolve(s), where);
    if (s.contains("allOf")) {
      for (const json& part : s["allOf"]) expect_conforms(value, part, where);
      return;
    }
    if (value.is_null()) {
      EXPECT_TRUE(s.value("nullable", false)) << where << " is null but not nullable";
      return;
    }
    if (!s.contains("type")) return;  // any JSON value
    const std::string type = s["type"].get<std::string>();
    if (type == "object") {
      ASSERT_TRUE(value.is_object()) << where;
      for (const auto& [key, item] : value.items()) {
        if (s.contains("properties") && s["properties"].contains(key)) {
          expect_conforms(item, s["properties"][key], where + "." + key);
        } else if (s.contains("additionalProperties") && s["additionalProperties"].is_object()) {
          expect_conforms(item, s["additionalProperties"], where + "." + key);
        } else {
          ADD_FAILURE() << where << " has key '" << key << "' that the schema does not list";
        }
      }
    } else if (type == "array") {
      ASSERT_TRUE(value.is_array()) << where;
      for (const json& item : value) expect_conforms(item, s["items"], where + "[]");
    } else if (type == "string") {
      ASSERT_TRUE(value.is_string()) << where << ": " << value.dump();
      if (s.contains("enum")) {
        const json& values = s["enum"];
        EXPECT_NE(std::find(values.begin(), values.end(), value), values.end()) << where;
      }
    } else if (type == "integer") {
      EXPECT_TRUE(value.is_number_integer()) << where << ": " << value.dump();
    } else if (type == "number") {
      EXPECT_TRUE(value.is_number()) << where << ": " << value.dump();
    } else if (type == "boolean") {
      EXPECT_TRUE(value.is_boolean()) << where << ": " << value.dump();
    } else {
      ADD_FAILURE() << where << " has unknown type " << type;
    }
  }

  void expect_protobuf_json_conforms(const google::protobuf::Message& message) const {
    google::protobuf::util::JsonPrintOptions options;
    options.always_print_primitive_fields = true;
    std::string out;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(message, &out, options).ok());
    SCOPED_TRACE(out);
    const std::string name = message.GetDescriptor()->full_name();
    expect_conforms(json::parse(out), schema(name), name);
  }

  Router router_;
  std::string text_;
  json document_;
};

TEST_F(OpenApiTest, DescribesTheServiceAsOpenApi303) {
  // The header names the format, the title and the version passed in.
  EXPECT_EQ(document_["openapi"], "3.0.3");
  EXPECT_EQ(document_["info"]["title"], "tickgraph");
  EXPECT_EQ(document_["info"]["version"], "1.2.3");
}

TEST_F(OpenApiTest, EveryRouteIsAnOperationAndThereAreNoOthers) {
  // The document and the router cannot disagree: same (method, path) set, HEAD left out.
  std::vector<std::pair<std::string, std::string>> expected;
  for (const Route& route : router_.routes()) {
    if (route.method != "HEAD") expected.emplace_back(route.method, route.pattern);
  }
  std::sort(expected.begin(), expected.end());
  auto operations = openapi_operations(text_);
  EXPECT_TRUE(std::is_sorted(operations.begin(), operations.end()));
  EXPECT_EQ(operations, expected);

  std::set<std::string> ids;
  for (const auto& [method, path] : operations) {
    std::string lower = method;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    const json& op = document_["paths"][path][lower];
    EXPECT_TRUE(ids.insert(op["operationId"].get<std::string>()).second)
        << "duplicate operationId " << op["operationId"];
  }
  EXPECT_EQ(document_["paths"]["/v1/assets/{symbol}/candles"]["get"]["operationId"],
            "getV1AssetsBySymbolCandles");
}

TEST_F(OpenApiTest, OperationsDescribeParametersBodiesAndResponses) {
  // Path captures are required string parameters; query docs keep type, required, description.
  const json& get = document_["paths"]["/v1/assets/{symbol}/candles"]["get"];
  EXPECT_EQ(get["summary"], "Candles");
  EXPECT_EQ(get["tags"], json::array({"candles"}));
  const json& params = get["parameters"];
  ASSERT_EQ(params.size(), 3u);
  EXPECT_EQ(params[0], json::parse(R"({"name": "symbol", "in": "path", "required": true,
                                       "schema": {"type": "string"}})"));
  EXPECT_EQ(params[1], json::parse(R"({"name": "interval", "in": "query", "required": true,
                                       "description": "Bar interval.",
                                       "schema": {"type": "string"}})"));
  EXPECT_EQ(params[2], json::parse(R"({"name": "limit", "in": "query", "required": false,
                                       "schema": {"type": "integer"}})"));
  EXPECT_EQ(get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/tickgraph.v1.CandleSeries");
  EXPECT_FALSE(get.contains("requestBody"));
  // Errors: the documented ones plus 500, each a tickgraph.v1.Error.
  std::vector<std::string> codes;
  for (const auto& [code, response] : get["responses"].items()) {
    codes.push_back(code);
    if (code != "200") {
      EXPECT_EQ(response["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/tickgraph.v1.Error");
      EXPECT_FALSE(response["description"].get<std::string>().empty());
    }
  }
  EXPECT_EQ(codes, (std::vector<std::string>{"200", "400", "404", "500"}));

  const json& put = document_["paths"]["/v1/assets/{symbol}/candles"]["put"];
  EXPECT_EQ(put["requestBody"]["required"], true);
  EXPECT_EQ(put["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/tickgraph.v1.CandleBatch");
  EXPECT_TRUE(put["responses"].contains("413"));

  const json& post = document_["paths"]["/v1/assets"]["post"];
  EXPECT_TRUE(post["responses"].contains("201"));
  EXPECT_FALSE(post["responses"].contains("200"));
  EXPECT_EQ(document_["paths"]["/v1/assets"]["get"]["parameters"][0]["description"],
            "Only this asset class.");

  const json& remove = document_["paths"]["/v1/graphs/{id}"]["delete"];
  EXPECT_EQ(remove["responses"]["204"], json::parse(R"({"description": "No Content"})"));

  const json& metrics = document_["paths"]["/metrics"]["get"];
  EXPECT_EQ(metrics["responses"]["200"]["content"]["text/plain"]["schema"]["type"], "string");
}

TEST_F(OpenApiTest, StreamsAndTheWebUiHaveTheirOwnShapes) {
  // WebSocket: 101 naming both message types; SSE: text/event-stream; static: text/html.
  const json& ws = document_["paths"]["/v1/stream"]["get"];
  EXPECT_TRUE(ws["responses"].contains("101"));
  EXPECT_FALSE(ws["responses"].contains("200"));
  EXPECT_FALSE(ws.contains("requestBody"));
  const std::string description = ws["responses"]["101"]["description"].get<std::string>();
  EXPECT_NE(description.find("tickgraph.v1.ClientMessage"), std::string::npos);
  EXPECT_NE(description.find("tickgraph.v1.StreamMessage"), std::string::npos);
  EXPECT_EQ(ws["x-messages"]["client"]["$ref"], "#/components/schemas/tickgraph.v1.ClientMessage");
  EXPECT_EQ(ws["x-messages"]["server"]["$ref"], "#/components/schemas/tickgraph.v1.StreamMessage");

  const json& sse = document_["paths"]["/v1/stream/sse"]["get"];
  EXPECT_EQ(sse["responses"]["200"]["content"]["text/event-stream"]["schema"]["type"], "string");
  EXPECT_EQ(sse["parameters"][0]["name"], "assets");

  const json& ui = document_["paths"]["/"]["get"];
  EXPECT_EQ(ui["responses"]["200"]["content"]["text/html"]["schema"]["type"], "string");

  for (const char* name :
       {"tickgraph.v1.ClientMessage", "tickgraph.v1.Subscribe", "tickgraph.v1.StreamMessage",
        "tickgraph.v1.Update", "tickgraph.v1.Snapshot", "tickgraph.v1.Lag"}) {
    EXPECT_TRUE(document_["components"]["schemas"].contains(name)) << name;
  }
}

TEST_F(OpenApiTest, SchemasFollowTheProtobufJsonMapping) {
  // lowerCamelCase names, int64 as strings, enums by name, maps as objects, Value as any.
  const json& ts = property("tickgraph.v1.CandleSeries", "ts");
  EXPECT_EQ(ts,
            json::parse(R"({"type": "array", "items": {"type": "string", "format": "int64"}})"));
  EXPECT_EQ(property("tickgraph.v1.CandleSeries", "close")["items"]["type"], "number");
  EXPECT_EQ(property("tickgraph.v1.Candle", "time")["type"], "string");
  EXPECT_EQ(property("tickgraph.v1.Candle", "volume")["type"], "number");

  const json& interval = resolve(property("tickgraph.v1.CandleSeries", "interval"));
  EXPECT_EQ(interval["type"], "string");
  EXPECT_EQ(interval["enum"][0], "INTERVAL_UNSPECIFIED");
  const json& asset_class = resolve(property("tickgraph.v1.Asset", "assetClass"));
  EXPECT_EQ(asset_class["type"], "string");
  const json& names = asset_class["enum"];
  EXPECT_NE(std::find(names.begin(), names.end(), "ASSET_CLASS_INDEX"), names.end());
  EXPECT_FALSE(schema("tickgraph.v1.Asset")["properties"].contains("asset_class"));
  EXPECT_EQ(property("tickgraph.v1.Asset", "id")["format"], "int64");
  EXPECT_EQ(property("tickgraph.v1.Asset", "attributes"),
            json::parse(R"({"type": "object", "additionalProperties": {"type": "string"}})"));

  EXPECT_EQ(property("tickgraph.v1.AnalyticsResult", "series")["type"], "array");
  EXPECT_EQ(property("tickgraph.v1.AnalyticsResult", "series")["items"]["$ref"],
            "#/components/schemas/tickgraph.v1.Series");
  const json& values = property("tickgraph.v1.Series", "values");
  EXPECT_EQ(values["type"], "array");
  EXPECT_TRUE(values["items"]["nullable"].get<bool>());  // null before the lookback
  EXPECT_EQ(property("tickgraph.v1.Graph", "spec")["$ref"],
            "#/components/schemas/tickgraph.v1.GraphSpec");
  const json& params = property("tickgraph.v1.NodeSpec", "params");
  EXPECT_EQ(params["type"], "object");
  ASSERT_TRUE(params.contains("additionalProperties"));
  EXPECT_FALSE(params["additionalProperties"].contains("type"));  // any JSON value

  EXPECT_EQ(property("tickgraph.v1.Subscribe", "history"),
            json::parse(R"({"type": "integer", "format": "int32"})"));
  EXPECT_EQ(property("tickgraph.v1.Update", "final")["type"], "boolean");
  EXPECT_EQ(property("tickgraph.v1.Update", "serverTime")["type"], "string");
  EXPECT_EQ(property("tickgraph.v1.FunctionParam", "defaultValue")["type"], "number");
  EXPECT_EQ(property("tickgraph.v1.Function", "acceptsWindow")["type"], "boolean");
  EXPECT_EQ(property("tickgraph.v1.Function", "outputUnits")["items"]["$ref"],
            "#/components/schemas/tickgraph.v1.FunctionOutput");
  EXPECT_EQ(property("tickgraph.v1.FunctionOutput", "unit")["$ref"],
            "#/components/schemas/tickgraph.v1.Unit");
  const json& units = schema("tickgraph.v1.Unit")["enum"];
  EXPECT_NE(std::find(units.begin(), units.end(), "UNIT_SAME_AS_INPUT"), units.end());
  EXPECT_NE(std::find(units.begin(), units.end(), "UNIT_BOUNDED"), units.end());
  EXPECT_EQ(property("tickgraph.v1.FunctionOutput", "min")["type"], "number");

  // Oneof members are listed, and the message says at most one is set.
  const json& stream = schema("tickgraph.v1.StreamMessage");
  for (const char* member : {"snapshot", "update", "error", "lag"}) {
    EXPECT_TRUE(stream["properties"].contains(member)) << member;
  }
  EXPECT_NE(stream["description"].get<std::string>().find("At most one of"), std::string::npos);
  EXPECT_EQ(stream["properties"]["update"]["allOf"][0]["$ref"],
            "#/components/schemas/tickgraph.v1.Update");
}

TEST_F(OpenApiTest, EveryReferenceResolves) {
  // No dangling $ref anywhere, and no google.protobuf.* components (well-known types inline).
  std::vector<const json*> stack = {&document_};
  int refs = 0;
  while (!stack.empty()) {
    const json* node = stack.back();
    stack.pop_back();
    if (node->is_object() && node->contains("$ref")) {
      ++refs;
      const std::string target = (*node)["$ref"].get<std::string>();
      ASSERT_EQ(target.rfind(kPrefix, 0), 0u) << target;
      EXPECT_TRUE(
          document_["components"]["schemas"].contains(target.substr(std::string(kPrefix).size())))
          << target;
    }
    if (node->is_structured()) {
      for (const json& child : *node) stack.push_back(&child);
    }
  }
  EXPECT_GT(refs, 20);
  for (const auto& [name, s] : document_["components"]["schemas"].items()) {
    EXPECT_EQ(name.rfind("google.protobuf.", 0), std::string::npos) << name;
  }
}

TEST_F(OpenApiTest, ProtobufsOwnJsonFitsTheSchemas) {
  // The oracle is libprotobuf's JSON printer: every key it writes is a documented property of
  // the documented type.
  tickgraph::v1::CandleSeries series;
  series.set_symbol("SPX");
  series.set_interval(tickgraph::v1::INTERVAL_1D);
  series.add_ts(1700000000000000000);
  series.add_open(1);
  series.add_high(2);
  series.add_low(0.5);
  series.add_close(1.5);
  series.add_volume(100);
  expect_protobuf_json_conforms(series);
  expect_protobuf_json_conforms(tickgraph::v1::CandleSeries());  // defaults printed

  tickgraph::v1::Asset asset;
  asset.set_id(7);
  asset.set_symbol("BTC-USD");
  asset.set_asset_class(tickgraph::v1::ASSET_CLASS_CRYPTO);
  (*asset.mutable_attributes())["venue"] = "x";
  expect_protobuf_json_conforms(asset);

  tickgraph::v1::Graph graph;
  graph.set_id("g");
  graph.set_version(3);
  auto* node = graph.mutable_spec()->add_nodes();
  node->set_id("bb");
  node->set_fn("bbands");
  node->add_inputs("close");
  (*node->mutable_params())["period"].set_number_value(20);
  (*node->mutable_params())["window"].set_string_value("5m");
  expect_protobuf_json_conforms(graph);

  tickgraph::v1::AnalyticsResult result;
  result.set_symbol("SPX");
  result.add_ts(1);
  auto* column = result.add_series();
  column->set_name("sma");
  column->mutable_values()->add_values()->set_null_value(google::protobuf::NULL_VALUE);
  column->mutable_values()->add_values()->set_number_value(1.5);
  expect_protobuf_json_conforms(result);

  tickgraph::v1::StreamMessage update;
  update.mutable_update()->set_symbol("SPX");
  update.mutable_update()->mutable_candle()->set_time(5);
  update.mutable_update()->set_server_time(9);
  (*update.mutable_update()->mutable_values())["sma"].set_null_value(google::protobuf::NULL_VALUE);
  expect_protobuf_json_conforms(update);

  tickgraph::v1::StreamMessage error;
  (*error.mutable_error()->mutable_details())["parameter"] = "assets";
  expect_protobuf_json_conforms(error);

  tickgraph::v1::ClientMessage subscribe;
  subscribe.mutable_subscribe()->add_assets("SPX");
  subscribe.mutable_subscribe()->set_history(300);
  expect_protobuf_json_conforms(subscribe);

  // The registry as /v1/functions serves it: every function, its outputs' units included.
  tickgraph::v1::FunctionList functions;
  for (const analytics::FunctionSpec& f : analytics::registry().all()) {
    to_proto(f, *functions.add_functions());
  }
  expect_protobuf_json_conforms(functions);
}

TEST(OpenApiErrorsTest, UnknownMessageIsAProgrammingError) {
  // A route naming a message the contract lacks fails loudly instead of documenting nothing.
  Router response;
  response.add("GET", "/x", doc("X", "x", "", "tickgraph.v1.NoSuchMessage"), no_handler);
  EXPECT_THROW(openapi_document(response, "0"), std::logic_error);
  Router request;
  request.add("POST", "/x", doc("X", "x", "CandleBatch", ""), no_handler);  // not a full name
  EXPECT_THROW(openapi_document(request, "0"), std::logic_error);
}

TEST(OpenApiErrorsTest, DuplicateRouteIsAProgrammingError) {
  // Two routes for one method and pattern cannot both be documented (nor both be reached).
  Router router;
  router.add("GET", "/x", doc("A", "x", "", ""), no_handler);
  router.add("GET", "/x", doc("B", "x", "", ""), no_handler);
  EXPECT_THROW(openapi_document(router, "0"), std::logic_error);
}

TEST(OpenApiErrorsTest, OperationsOfANonDocumentAreEmpty) {
  // openapi_operations reads only well-formed documents.
  EXPECT_TRUE(openapi_operations("not json").empty());
  EXPECT_TRUE(openapi_operations("[]").empty());
  EXPECT_TRUE(openapi_operations(R"({"paths": 1})").empty());
  EXPECT_EQ(openapi_operations(R"({"paths": {"/a": {"get": {}, "parameters": [], "post": {}}}})"),
            (std::vector<std::pair<std::string, std::string>>{{"GET", "/a"}, {"POST", "/a"}}));
}

}  // namespace
}  // namespace tickgraph::server
