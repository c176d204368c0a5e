// The HTTP/1.1 server: REST routes, WebSocket and SSE streams and the static web UI, on
// Boost.Beast. Beast stays inside http_server.cc; this header only names the contract.
//
// One io_context is run by `threads` threads. Each connection runs on its own strand, so its
// handlers never run concurrently; different connections do. Route handlers (Route::handler) run
// on a pool of their own (`handler_threads`), not on an io thread: a handler that blocks (a
// database query, a locked database) holds one pool thread, and the io threads go on serving
// every other connection and stream. Route handlers and the StreamHandler are called from several
// threads at once and must be thread-safe.
//
// Errors the server itself produces (404, 405, 413, 415, 426, 431, 400 for a malformed request or
// target, 500 for a handler that threw) are JSON bodies {"code", "message", "details"} as built
// by error_response(); a handler's exception never escapes an io thread.
//
// Shutdown is a drain: stop() (or SIGINT/SIGTERM when run(true)) stops accepting, closes every
// stream client with the reason "server shutting down" (WebSocket close 1001, SSE close event),
// lets requests being handled finish with `Connection: close`, closes idle keep-alive connections
// and returns from run() once no connection is left or `drain_timeout` has passed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/result.h"
#include "server/router.h"
#include "server/stream_handler.h"

namespace tickgraph {
class Metrics;
}

namespace tickgraph::server {

struct ServerOptions {
  std::string bind = "127.0.0.1";  // an IP address or a host name resolved once by listen()
  std::uint16_t port = 8080;       // 0 = any free port; port() tells which
  int threads = 0;                 // io threads; 0 = std::thread::hardware_concurrency() (>= 1)
  // Threads that run route handlers (they may block on the store). Requests past that many at
  // once wait for a free one; streams and static files do not. 0: handlers run on the io threads
  // (one that blocks then holds an io thread, and the streams it serves, for that long).
  int handler_threads = 16;
  std::size_t max_body_bytes = 16u << 20;    // larger bodies get 413
  std::size_t max_header_bytes = 16u << 10;  // request line and headers; larger get 431
  // Directory of the built web UI, served on the kStatic route ("/" and paths without a file
  // extension fall back to index.html). "" or not a directory: the static route's handler runs.
  std::string web_root;
  // A keep-alive connection with no complete request for this long is closed; also bounds the
  // time to write one response or one SSE batch. Streams themselves may stay quiet for longer
  // (SSE sends a keep-alive comment every 15 s; WebSocket pings after 150 s of silence).
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds drain_timeout{10};  // run() returns at most this long after stop()
};

// Serves `router`'s routes. `router`, `stream_handler` and `metrics` must outlive the server; the
// router must not change once the server is built.
//
// Metrics (in `metrics`): tickgraph_http_requests_total{route,status} (route is Route::label,
// "unmatched" when no route matched), tickgraph_http_request_duration_seconds{route},
// tickgraph_http_connections (open connections, streams included) and
// tickgraph_http_in_flight_requests.
class HttpServer {
 public:
  HttpServer(ServerOptions options, const Router& router, StreamHandler& stream_handler,
             Metrics& metrics);
  // A server whose router has no stream route (an ingest worker's /metrics and /healthz).
  HttpServer(ServerOptions options, const Router& router, Metrics& metrics);
  // Not while run() runs on another thread: stop() and let run() return first. Wake functions
  // handed to StreamClients may outlive the server; they then do nothing.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (backlog >= 1024). On failure the message names the address and the
  // system's reason ("cannot bind 127.0.0.1:8080: Address already in use"). Call once, before
  // run().
  Status listen();
  // The bound port (useful with port 0); 0 before a successful listen().
  std::uint16_t port() const;

  // Runs the io threads (the calling thread is one of them) until stop() or, when
  // `handle_signals`, SIGINT or SIGTERM; returns after the drain. A second signal during the
  // drain stops at once. Call once, after a successful listen(); returns at once otherwise.
  void run(bool handle_signals);
  // Takes SIGINT and SIGTERM now (run(true) does it too, later): call it before announcing the
  // server, so that a signal sent as soon as the address is printed drains instead of killing.
  void catch_signals();
  // Begins the drain. Thread-safe, idempotent; may be called before run() (run() then drains at
  // once) or from a handler.
  void stop();

  // The application's readiness (/readyz is the application's route; the server only keeps the
  // flag, false until set). Thread-safe. The drain does not change it: use on_drain.
  void set_ready(bool ready);
  bool ready() const;

  // Called once, on an io thread, when the drain begins (before connections are closed), e.g. to
  // mark the application not ready. Set before run(). Exceptions are swallowed.
  std::function<void()> on_drain;

  // Called for every routed request before it is handled, on an io thread (so thread-safe), with
  // request.remote and the headers filled: nullopt lets the request through, a response is sent
  // instead of handling it (401, 403, 429 from server/auth). WebSocket and SSE requests are
  // checked before the upgrade. Set before run(); an exception becomes a 500.
  std::function<std::optional<HttpResponse>(HttpRequest&, const Route&)> authorize;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickgraph::server
