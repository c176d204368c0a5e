// The route table and request-target parsing: which route a method and path reach, what the
// captures hold, when the answer is 404 or 405, and how targets are percent-decoded.
#include "server/router.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tickgraph::server {
namespace {

using MatchResult = Router::Match::Result;

// A handler that answers with a body naming the route, so a test can tell routes apart by
// calling what the router returned.
Handler answer(std::string name) {
  return [name = std::move(name)](const HttpRequest&) {
    HttpResponse r;
    r.body = name;
    return r;
  };
}

std::string call(const Router::Match& m) {
  if (m.route == nullptr) return "<no route>";
  return m.route->handler(HttpRequest{}).body;
}

Router api_router() {
  Router r;
  r.add("GET", "/v1/assets", {}, answer("list assets"));
  r.add("POST", "/v1/assets", {}, answer("create asset"));
  r.add("GET", "/v1/assets/{symbol}", {}, answer("get asset"));
  r.add("DELETE", "/v1/assets/{symbol}", {}, answer("delete asset"));
  r.add("GET", "/v1/assets/search", {}, answer("search assets"));
  r.add("GET", "/v1/assets/{symbol}/candles", {}, answer("candles"));
  r.add("GET", "/v1/graphs/{name}/runs/{run}", {}, answer("graph run"));
  return r;
}

TEST(RouterTest, LiteralSegmentBeatsCaptureWhateverTheOrderOfRegistration) {
  // Checks that "/v1/assets/search" reaches the literal route, though a capture route registered
  // before it would also match, and that other values still reach the capture.
  const Router r = api_router();
  const auto search = r.match("GET", "/v1/assets/search");
  ASSERT_EQ(search.result, MatchResult::kFound);
  EXPECT_EQ(call(search), "search assets");
  EXPECT_TRUE(search.params.empty());

  const auto asset = r.match("GET", "/v1/assets/SPX");
  ASSERT_EQ(asset.result, MatchResult::kFound);
  EXPECT_EQ(call(asset), "get asset");

  // Same table, literal route registered first: same answers.
  Router reversed;
  reversed.add("GET", "/v1/assets/search", {}, answer("search assets"));
  reversed.add("GET", "/v1/assets/{symbol}", {}, answer("get asset"));
  EXPECT_EQ(call(reversed.match("GET", "/v1/assets/search")), "search assets");
  EXPECT_EQ(call(reversed.match("GET", "/v1/assets/AAPL")), "get asset");
}

TEST(RouterTest, CapturesFillParamsWithTheirSegments) {
  // Checks that every {capture} of the matched pattern is in params under its name.
  const Router r = api_router();
  const auto m = r.match("GET", "/v1/graphs/demo/runs/42");
  ASSERT_EQ(m.result, MatchResult::kFound);
  EXPECT_EQ(call(m), "graph run");
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params.at("name"), "demo");
  EXPECT_EQ(m.params.at("run"), "42");

  const auto candles = r.match("GET", "/v1/assets/BTC-USD/candles");
  ASSERT_EQ(candles.result, MatchResult::kFound);
  EXPECT_EQ(call(candles), "candles");
  EXPECT_EQ(candles.params.at("symbol"), "BTC-USD");
}

TEST(RouterTest, CaptureNeedsOneNonEmptySegment) {
  // Checks that a capture matches neither an empty segment nor several segments.
  const Router r = api_router();
  EXPECT_EQ(r.match("GET", "/v1/assets//candles").result, MatchResult::kNotFound);
  EXPECT_EQ(r.match("GET", "/v1/graphs/demo/runs/").result, MatchResult::kNotFound);
  EXPECT_EQ(r.match("GET", "/v1/assets/SPX/candles/extra").result, MatchResult::kNotFound);
}

TEST(RouterTest, UnknownPathIsNotFound) {
  // Checks that a path no pattern matches is 404 with no route and no allowed methods.
  const Router r = api_router();
  for (const char* path : {"/v1/nothing", "/v1", "/", "/v1/assets/SPX/ticks", "/v2/assets"}) {
    const auto m = r.match("GET", path);
    EXPECT_EQ(m.result, MatchResult::kNotFound) << path;
    EXPECT_EQ(m.route, nullptr) << path;
    EXPECT_TRUE(m.allowed.empty()) << path;
  }
}

TEST(RouterTest, KnownPathWithOtherMethodIsMethodNotAllowedListingTheMethods) {
  // Checks that a path some route has, asked with a method none of its routes take, is 405 with
  // the methods the path does take, each once.
  const Router r = api_router();
  const auto put = r.match("PUT", "/v1/assets");
  EXPECT_EQ(put.result, MatchResult::kMethodNotAllowed);
  EXPECT_EQ(put.route, nullptr);
  EXPECT_EQ(put.allowed, (std::vector<std::string>{"GET", "POST"}));

  const auto patch = r.match("PATCH", "/v1/assets/SPX");
  EXPECT_EQ(patch.result, MatchResult::kMethodNotAllowed);
  EXPECT_EQ(patch.allowed, (std::vector<std::string>{"GET", "DELETE"}));

  Router twice;  // two patterns reaching the same path with the same method
  twice.add("POST", "/v1/x/{a}", {}, answer("a"));
  twice.add("POST", "/v1/x/{b}", {}, answer("b"));
  EXPECT_EQ(twice.match("GET", "/v1/x/1").allowed, std::vector<std::string>{"POST"});
}

TEST(RouterTest, MethodOfAnotherRouteDoesNotHideAMatchingRoute) {
  // Checks that a literal route with another method does not turn a capture route that takes the
  // method into a 405: DELETE /v1/assets/search reaches DELETE /v1/assets/{symbol}.
  const Router r = api_router();
  const auto m = r.match("DELETE", "/v1/assets/search");
  ASSERT_EQ(m.result, MatchResult::kFound);
  EXPECT_EQ(call(m), "delete asset");
  EXPECT_EQ(m.params.at("symbol"), "search");
  EXPECT_TRUE(m.allowed.empty());
}

TEST(RouterTest, HeadMatchesGetRoutes) {
  // Checks that HEAD reaches the GET route of a path, and is 405 on a path without GET.
  Router r = api_router();
  r.add("POST", "/v1/ticks", {}, answer("ticks"));
  const auto head = r.match("HEAD", "/v1/assets/SPX");
  ASSERT_EQ(head.result, MatchResult::kFound);
  EXPECT_EQ(call(head), "get asset");
  EXPECT_EQ(head.params.at("symbol"), "SPX");

  const auto no_get = r.match("HEAD", "/v1/ticks");
  EXPECT_EQ(no_get.result, MatchResult::kMethodNotAllowed);
  EXPECT_EQ(no_get.allowed, std::vector<std::string>{"POST"});
}

TEST(RouterTest, StaticRouteCatchesGetsOutsideTheApiOnly) {
  // Checks that the web UI route answers GET and HEAD on any path outside /v1/ that no API route
  // claims, while unknown /v1 paths stay 404 and API routes keep their paths.
  Router r = api_router();
  r.add("GET", "/", {}, answer("ui"), RouteKind::kStatic);
  r.add("GET", "/metrics", {}, answer("metrics"));

  for (const char* path : {"/", "/index.html", "/assets/app.js", "/charts/SPX"}) {
    const auto m = r.match("GET", path);
    ASSERT_EQ(m.result, MatchResult::kFound) << path;
    EXPECT_EQ(call(m), "ui") << path;
    EXPECT_EQ(m.route->kind, RouteKind::kStatic) << path;
    EXPECT_EQ(r.match("HEAD", path).result, MatchResult::kFound) << path;
  }
  EXPECT_EQ(call(r.match("GET", "/metrics")), "metrics");
  EXPECT_EQ(call(r.match("GET", "/v1/assets")), "list assets");
  EXPECT_EQ(r.match("GET", "/v1/unknown").result, MatchResult::kNotFound);
  EXPECT_EQ(r.match("GET", "/v1").result, MatchResult::kNotFound);
  EXPECT_EQ(r.match("GET", "/v1/").result, MatchResult::kNotFound);
}

TEST(RouterTest, NonGetOnStaticPathIsMethodNotAllowed) {
  // Checks that POST or DELETE on a path only the web UI route covers is 405 allowing GET.
  Router r = api_router();
  r.add("GET", "/", {}, answer("ui"), RouteKind::kStatic);
  for (const char* method : {"POST", "DELETE", "PUT"}) {
    const auto m = r.match(method, "/index.html");
    EXPECT_EQ(m.result, MatchResult::kMethodNotAllowed) << method;
    EXPECT_EQ(m.route, nullptr) << method;
    EXPECT_EQ(m.allowed, std::vector<std::string>{"GET"}) << method;
  }
  // Inside /v1/ the static route plays no part: still 404.
  EXPECT_EQ(r.match("POST", "/v1/unknown").result, MatchResult::kNotFound);
}

TEST(RouterTest, RelativePathMatchesNothing) {
  // Checks that a path not starting with '/' is never matched, not even by the static route.
  Router r = api_router();
  r.add("GET", "/", {}, answer("ui"), RouteKind::kStatic);
  EXPECT_EQ(r.match("GET", "v1/assets").result, MatchResult::kNotFound);
  EXPECT_EQ(r.match("GET", "").result, MatchResult::kNotFound);
}

TEST(RouterTest, RoutesKeepTheirLabelAndKind) {
  // Checks the metrics label ("METHOD pattern") and kind of registered routes.
  Router r;
  r.add("GET", "/v1/stream", {}, answer("ws"), RouteKind::kWebSocket);
  r.add("GET", "/v1/assets/{symbol}", {}, answer("get"));
  ASSERT_EQ(r.routes().size(), 2u);
  EXPECT_EQ(r.routes()[0].label, "GET /v1/stream");
  EXPECT_EQ(r.routes()[0].kind, RouteKind::kWebSocket);
  EXPECT_EQ(r.routes()[1].label, "GET /v1/assets/{symbol}");
  EXPECT_EQ(r.routes()[1].kind, RouteKind::kPlain);
  const auto m = r.match("GET", "/v1/assets/SPX");
  ASSERT_EQ(m.result, MatchResult::kFound);
  EXPECT_EQ(m.route->label, "GET /v1/assets/{symbol}");
}

TEST(RouterTest, ParseTargetSplitsPathAndQueryAndDecodes) {
  // Checks percent-decoding of path and query, and that the query keeps its order.
  const auto t = parse_target("/v1/assets/S%26P%20500/candles?from=2024-01-01T00%3A00%3A00Z&to=x");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->path, "/v1/assets/S&P 500/candles");
  using Query = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(t->query, (Query{{"from", "2024-01-01T00:00:00Z"}, {"to", "x"}}));

  const auto upper_lower = parse_target("/%7e%7E");
  ASSERT_TRUE(upper_lower.has_value());
  EXPECT_EQ(upper_lower->path, "/~~");

  const auto plain = parse_target("/v1/assets");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->path, "/v1/assets");
  EXPECT_TRUE(plain->query.empty());
}

TEST(RouterTest, PlusIsASpaceInTheQueryOnly) {
  // Checks that '+' decodes to a space in query keys and values, stays '+' in the path, and
  // that an encoded plus (%2B) is a plus.
  const auto t = parse_target("/a+b?q=x+y&a+b=1%2B1");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->path, "/a+b");
  using Query = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(t->query, (Query{{"q", "x y"}, {"a b", "1+1"}}));
}

TEST(RouterTest, BadPercentEscapesAreRefused) {
  // Checks that an escape that is truncated or not hexadecimal fails the whole target, in the
  // path, a query key or a query value.
  for (const char* target : {"/a%", "/a%4", "/a%G1", "/a%1G", "/a?x=%", "/a?x=%2", "/a?x=%zz",
                             "/a?%=1", "/a?k%4=1", "/a?ok=1&bad=%x1"}) {
    EXPECT_FALSE(parse_target(target).has_value()) << target;
  }
  // An escape ending exactly at the end of the text is complete.
  const auto at_end = parse_target("/a%41?x=%42");
  ASSERT_TRUE(at_end.has_value());
  EXPECT_EQ(at_end->path, "/aA");
  EXPECT_EQ(at_end->query.at(0).second, "B");
}

TEST(RouterTest, RelativeOrEmptyTargetIsRefused) {
  // Checks that a target that is not an absolute path fails.
  for (const char* target : {"", "v1/assets", "?x=1", "http://host/v1", "*"}) {
    EXPECT_FALSE(parse_target(target).has_value()) << '"' << target << '"';
  }
}

TEST(RouterTest, EmptyQueryPairsAreSkippedAndMissingValuesAreEmpty) {
  // Checks that "&&" and trailing '&' add nothing, and a key without '=' has the value "".
  const auto t = parse_target("/p?&a=1&&flag&b=&=v&");
  ASSERT_TRUE(t.has_value());
  using Query = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(t->query, (Query{{"a", "1"}, {"flag", ""}, {"b", ""}, {"", "v"}}));

  const auto bare = parse_target("/p?");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->path, "/p");
  EXPECT_TRUE(bare->query.empty());
}

TEST(RouterTest, RequestAccessorsFindQueryHeadersAndPathParams) {
  // Checks HttpRequest's lookups: first value of a repeated query parameter, nullopt when
  // absent, present-but-empty kept apart from absent, headers and path params "" when absent.
  const auto t = parse_target("/v1/x?assets=SPX&assets=AAPL&empty=");
  ASSERT_TRUE(t.has_value());
  HttpRequest req;
  req.method = "GET";
  req.path = t->path;
  req.query = t->query;
  req.headers = {{"content-type", "application/json"}, {"x-request-id", "abc"}};
  req.path_params = {{"symbol", "SPX"}};

  ASSERT_TRUE(req.query_param("assets").has_value());
  EXPECT_EQ(*req.query_param("assets"), "SPX");
  ASSERT_TRUE(req.query_param("empty").has_value());
  EXPECT_EQ(*req.query_param("empty"), "");
  EXPECT_FALSE(req.query_param("missing").has_value());
  EXPECT_FALSE(req.query_param("Assets").has_value());

  EXPECT_EQ(req.header("content-type"), "application/json");
  EXPECT_EQ(req.header("x-request-id"), "abc");
  EXPECT_EQ(req.header("accept"), "");

  EXPECT_EQ(req.path_param("symbol"), "SPX");
  EXPECT_EQ(req.path_param("name"), "");
}

TEST(RouterTest, SplitListSkipsEmptyItems) {
  EXPECT_EQ(split_list("SPX,AAPL"), (std::vector<std::string>{"SPX", "AAPL"}));
  EXPECT_EQ(split_list(",SPX,,AAPL,"), (std::vector<std::string>{"SPX", "AAPL"}));
  EXPECT_TRUE(split_list("").empty());
  EXPECT_TRUE(split_list(",,").empty());
}

}  // namespace
}  // namespace tickgraph::server
