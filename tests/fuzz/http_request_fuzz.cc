// HTTP requests as bytes from a socket: Boost.Beast's request_parser<string_body> with the header
// and body limits of ServerOptions (as HttpSession::do_read sets them), then what
// HttpSession::handle does with a parsed request: the Transfer-Encoding check, parse_target, the
// route match against the real route table of `tickgraph serve` (Api::add_routes over an
// in-memory SQLite store; handlers are not called), the WebSocket upgrade test and the header map.
// Checks, besides no crash, UB or leak:
//   - the parser gives the same result when the bytes arrive all at once and when they arrive in
//     small pieces (as TCP may deliver them): same success, and the same method, target, version,
//     headers and body;
//   - a parsed request never exceeds the limits (header block, body);
//   - a route found for a path has its captures filled with non-empty segments; a 405 lists the
//     methods the path has.
#include <algorithm>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/metrics.h"
#include "fuzz_check.h"
#include "server/api.h"
#include "server/http_server.h"
#include "server/live_market.h"
#include "server/router.h"
#include "store/store.h"

namespace {

namespace http = boost::beast::http;
using namespace tickgraph;

struct Parsed {
  bool ok = false;
  boost::beast::error_code error;
  std::string method, target, body;
  unsigned version = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  bool chunked = false;
  bool keep_alive = false;
  bool upgrade = false;
};

std::string str(boost::beast::string_view s) { return {s.data(), s.size()}; }

// What beast::http::read does when the stream ends: put_eof() once some bytes came (it asserts
// that they did), else end_of_stream.
void end_of_stream(http::request_parser<http::string_body>& parser, boost::beast::error_code& ec) {
  if (parser.got_some()) {
    parser.put_eof(ec);
  } else {
    ec = http::error::end_of_stream;
  }
}

// Feeds `data` to a fresh parser `piece` bytes at a time (0: all at once) as beast::http::read does
// with its buffer: put() what is buffered, keep what it did not consume, and after need_more (or
// no progress) add bytes or end the stream. The end of `data` is the end of the stream. A piece
// never leaves a single byte behind: Boost 1.74's parser asserts (wrongly) when a final chunk
// "0\r\n" is followed by one byte only (boostorg/beast#2861, fixed upstream in 2024; harmless
// with NDEBUG).
Parsed parse(std::string_view data, std::size_t piece, const server::ServerOptions& options) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  parser.body_limit(static_cast<std::uint64_t>(options.max_body_bytes));
  Parsed out;
  std::string pending;
  std::size_t fed = 0;
  auto feed = [&] {
    std::size_t n = piece == 0 ? data.size() - fed : std::min(piece, data.size() - fed);
    if (data.size() - fed - n < 2) n = data.size() - fed;
    pending.append(data.substr(fed, n));
    fed += n;
  };
  boost::beast::error_code ec;
  feed();
  while (!parser.is_done()) {
    const std::size_t used =
        pending.empty() ? 0
                        : parser.put(boost::asio::const_buffer(pending.data(), pending.size()), ec);
    pending.erase(0, used);
    if (ec == http::error::need_more) {
      ec = {};
    } else if (ec) {
      break;
    } else if (used > 0) {
      continue;  // progress: the header is done and the body follows in the same bytes
    }
    if (fed == data.size()) {
      end_of_stream(parser, ec);
      break;
    }
    feed();
  }
  out.error = ec;
  out.ok = !ec && parser.is_done();
  if (!out.ok) return out;
  const auto& req = parser.get();
  out.method = str(req.method_string());
  out.target = str(req.target());
  out.body = req.body();
  out.version = req.version();
  for (const auto& field : req)
    out.headers.emplace_back(str(field.name_string()), str(field.value()));
  out.chunked = parser.chunked();
  out.keep_alive = req.keep_alive();
  out.upgrade = boost::beast::websocket::is_upgrade(req);
  return out;
}

struct Service {
  std::unique_ptr<store::Store> store;
  Metrics metrics;
  std::unique_ptr<server::LiveMarket> live;
  std::unique_ptr<server::Api> api;
  server::Router router;
};

Service* service = nullptr;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  auto opened = store::open_store("sqlite::memory:");
  if (!opened) {
    std::fprintf(stderr, "cannot open an in-memory store: %s\n", opened.message().c_str());
    std::abort();
  }
  service = new Service;  // lives for the whole run
  service->store = std::move(*opened);
  service->live = std::make_unique<server::LiveMarket>(*service->store, service->metrics);
  service->api = std::make_unique<server::Api>(*service->store, *service->live, service->metrics);
  service->api->add_routes(service->router);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = fuzz::as_text(data, size);
  const server::ServerOptions options;
  const Parsed whole = parse(bytes, 0, options);
  const Parsed pieces = parse(bytes, 7, options);
  if (whole.ok != pieces.ok) {
    std::fprintf(stderr, "at once: %s; in pieces: %s\n", whole.error.message().c_str(),
                 pieces.error.message().c_str());
  }
  FUZZ_CHECK(whole.ok == pieces.ok, "the same outcome however the bytes arrive");
  if (!whole.ok) return 0;
  FUZZ_CHECK(whole.method == pieces.method && whole.target == pieces.target &&
                 whole.version == pieces.version && whole.headers == pieces.headers &&
                 whole.body == pieces.body,
             "the same request however the bytes arrive");
  FUZZ_CHECK(whole.body.size() <= options.max_body_bytes, "the body limit holds");
  std::size_t header_bytes = whole.method.size() + whole.target.size();
  for (const auto& [name, value] : whole.headers) header_bytes += name.size() + value.size();
  FUZZ_CHECK(header_bytes <= options.max_header_bytes, "the header limit holds");

  // HttpSession::on_header: a Transfer-Encoding that does not end in chunked is refused.
  bool has_transfer_encoding = false;
  for (const auto& [name, value] : whole.headers) {
    if (lower(name) == "transfer-encoding") has_transfer_encoding = true;
  }
  if (has_transfer_encoding && !whole.chunked) return 0;

  // HttpSession::handle.
  server::HttpRequest request;
  request.method = whole.method;
  request.target = whole.target;
  auto target = server::parse_target(request.target);
  if (!target) return 0;
  request.path = std::move(target->path);
  request.query = std::move(target->query);
  const auto match = service->router.match(request.method, request.path);
  switch (match.result) {
    case server::Router::Match::Result::kFound:
      FUZZ_CHECK(match.route != nullptr, "a found route");
      for (const auto& [name, value] : match.params) {
        FUZZ_CHECK(!value.empty() && value.find('/') == std::string::npos,
                   "a capture is one non-empty segment");
      }
      break;
    case server::Router::Match::Result::kMethodNotAllowed:
      FUZZ_CHECK(!match.allowed.empty(), "a 405 lists the allowed methods");
      break;
    case server::Router::Match::Result::kNotFound:
      return 0;
  }
  for (const auto& [name, value] : whole.headers) {
    auto [it, inserted] = request.headers.try_emplace(lower(name), value);
    if (!inserted) it->second += ", " + value;
  }
  request.body = whole.body;
  request.path_params = match.params;
  (void)request.header("content-type");
  (void)request.query_param("interval");
  return 0;
}
