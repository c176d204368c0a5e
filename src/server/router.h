// HTTP routing without Boost.Beast: the request and response the handlers see, and the route
// table. The Beast server (http_server.cc) parses bytes into an HttpRequest, asks the Router for
// a route and writes the HttpResponse back; nothing else in the server includes Beast.
//
// Routes are registered with their documentation (summary, query parameters, request and
// response messages of the Protobuf contract); openapi.cc turns the table into /openapi.json, so
// the document and the router cannot disagree.
//
// Patterns are literal segments and `{name}` captures: "/v1/assets/{symbol}/candles". A capture
// matches one non-empty segment. Literal segments win over captures when both would match.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tickgraph::server {

class StreamClient;

struct HttpRequest {
  std::string method;  // "GET", "POST", …
  std::string target;  // as received: path and query
  std::string path;    // percent-decoded path, without the query
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::map<std::string, std::string> headers;              // names lower-cased
  std::string body;
  std::map<std::string, std::string, std::less<>> path_params;  // filled by the router
  std::string remote;                                           // the client's IP address
  // Filled by the server's authorization (server/auth): the credential the request came with
  // ("" when none was needed or auth is off) and the scopes it grants.
  std::string credential;
  std::vector<std::string> scopes;
  // Set by the authorization on stream routes: called with the stream's client once the
  // WebSocket or SSE stream is open, so that it can be closed when its credential stops being
  // valid (a token expiring, a key revoked).
  std::function<void(const std::shared_ptr<StreamClient>&)> on_stream_open;

  // The first value of a query parameter, or nullopt.
  std::optional<std::string_view> query_param(std::string_view name) const;
  // A header's value ("" when absent); `name` lower-case.
  std::string_view header(std::string_view name) const;
  std::string_view path_param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When set, sent in place of `body` without a copy (a cached response shared by requests).
  std::shared_ptr<const std::string> shared_body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Splits "/a/b?x=1&y=%20" into its decoded path and query. Fails (nullopt) on bad
// percent-encoding or a path that is not absolute.
struct ParsedTarget {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
};
std::optional<ParsedTarget> parse_target(std::string_view target);

// The items of a comma-separated query value ("SPX,AAPL"), empty items skipped.
std::vector<std::string> split_list(std::string_view text);

// Documentation of one query parameter.
struct ParamDoc {
  std::string name;
  std::string type = "string";  // OpenAPI type: "string", "integer", "number", "boolean"
  bool required = false;
  std::string description;
};

// What a route is, for OpenAPI and for the server.
struct RouteDoc {
  std::string summary;
  std::string tag;  // groups routes in the document: "assets", "streams", …
  std::vector<ParamDoc> query;
  std::string request_message;   // "tickgraph.v1.CandleBatch"; "" = no body
  std::string response_message;  // "tickgraph.v1.CandleSeries"; "" = see response_type
  std::string response_type;     // when not a message: "text/plain", "text/html", …
  int success_status = 200;
  std::vector<int> error_statuses;  // besides 500
  std::vector<int> also_success;    // other success statuses with the same body (201 on create)
  // The credential scope the route needs: "read", "write" or "admin"; "" = public.
  std::string scope;
  // When the body is not a message: its only accepted media type
  // ("application/x-www-form-urlencoded"); else JSON or YAML.
  std::string request_type;
  std::string error_message;  // the message of its error bodies; "" = tickgraph.v1.Error
};

enum class RouteKind {
  kPlain,      // handler returns the whole response; it may wait (the store): runs on a pool
  kInline,     // the same, but it never waits (health, metrics, documents): runs on an io thread
  kWebSocket,  // upgraded by the server; the handler is not called
  kSse,        // a text/event-stream response kept open by the server
  kStatic,     // files of the web UI (GET only; the pattern is a prefix)
};

using Handler = std::function<HttpResponse(const HttpRequest&)>;

struct Route {
  std::string method;
  std::string pattern;
  RouteKind kind = RouteKind::kPlain;
  RouteDoc doc;
  Handler handler;
  std::string label;  // metrics label: method and pattern, "GET /v1/assets/{symbol}"
};

class Router {
 public:
  void add(std::string method, std::string pattern, RouteDoc doc, Handler handler,
           RouteKind kind = RouteKind::kPlain);

  struct Match {
    enum class Result { kFound, kNotFound, kMethodNotAllowed };
    Result result = Result::kNotFound;
    const Route* route = nullptr;  // kFound
    std::map<std::string, std::string, std::less<>> params;
    std::vector<std::string> allowed;  // kMethodNotAllowed: the methods the path has
  };
  // HEAD matches GET routes.
  Match match(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }
  // Lets the application amend every route's documentation (scopes), before serving.
  void update_routes(const std::function<void(Route&)>& fn) {
    for (auto& route : routes_) fn(route);
  }

 private:
  std::vector<Route> routes_;
};

}  // namespace tickgraph::server
