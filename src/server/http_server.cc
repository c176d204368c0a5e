// States and threads.
//
// Server owns the io_context, the acceptor (on its own strand), the drain timer and a registry of
// live connections (weak pointers, keyed by address). `threads` threads run the io_context.
//
// A connection starts as an HttpSession on its own strand: read a request (header first, to send
// "100 Continue" when asked), route it, write the response, repeat while keep-alive. A request on
// a WebSocket or SSE route hands the socket over to a WsSession or an SseSession on the same
// strand and the HttpSession ends. Stream sessions write what their StreamClient holds: the
// client's Wake (called on any thread) looks the session up through a WakeSlot and posts
// on_wake() to its strand; a session takes the client's queue only when no write is pending, so
// a slow reader leaves the backlog in the StreamClient, where it is coalesced and limited.
//
// Drain: begin_drain() (on the accept strand) marks the server not ready (on_drain) and asks
// every connection to drain on its strand (idle HTTP: close; busy HTTP: answer with Connection:
// close, then close; streams: StreamClient::close("server shutting down"), which ends in a close
// frame or event). The acceptor stays open meanwhile, so that a load balancer's probe sees
// /readyz answer 503: a connection accepted while draining gets one answer (503 for /readyz and
// the API, with Connection: close; it must send its request within kDrainReadTimeout) and is
// closed. A timer polls the registry: empty -> close the acceptor and stop the io_context; past
// drain_timeout -> force-close every socket, then stop.
//
// Lifetime: sessions are owned by their pending operations (shared_ptr in each handler). Wake
// functions can outlive the server inside a StreamClient: they go through a WakeHub that the
// server closes before its io_context is destroyed.
#include "server/http_server.h"

// http_server.h includes <utility> before any Asio header (Boost 1.74 Asio + g++ 12 + C++20).
#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/websocket.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "core/metrics.h"
#include "server/errors.h"

namespace tickgraph::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kServerName = "tickgraph";
constexpr std::string_view kShuttingDown = "server shutting down";
constexpr std::size_t kWebSocketMaxMessage = 1u << 20;
constexpr std::size_t kMaxCloseReason = 123;  // a close frame's payload is at most 125 bytes
constexpr auto kSseKeepAlive = std::chrono::seconds(15);
constexpr auto kClosedWhileWritingGrace = std::chrono::seconds(5);
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 1u << 20;
constexpr auto kDrainPoll = std::chrono::milliseconds(10);
constexpr auto kForcedCloseGrace = std::chrono::milliseconds(200);
constexpr auto kDrainReadTimeout = std::chrono::seconds(2);
constexpr auto kAcceptRetry = std::chrono::milliseconds(50);
constexpr std::size_t kKeepBufferBytes = 64u << 10;
constexpr int kMinBacklog = 1024;

constexpr std::string_view kRequestsName = "tickgraph_http_requests_total";
constexpr std::string_view kRequestsHelp = "HTTP requests by route and status.";
constexpr std::string_view kDurationName = "tickgraph_http_request_duration_seconds";
constexpr std::string_view kDurationHelp =
    "Time from a complete request to its response ready to write, by route.";
constexpr std::string_view kUnmatched = "unmatched";

beast::string_view to_beast(std::string_view s) { return {s.data(), s.size()}; }
std::string_view to_std(beast::string_view s) { return {s.data(), s.size()}; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The media type of a Content-Type value, lower-cased, without parameters.
std::string media_type(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  return lower(type);
}

bool accepted_body_type(std::string_view content_type) {
  const std::string type = media_type(content_type);
  return type == "application/json" || type == "application/yaml" || type == "application/x-yaml" ||
         type == "text/yaml";
}

// At most `max` bytes of `s`, cut on a UTF-8 character boundary.
std::string truncate_utf8(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0u) == 0x80u) --n;
  return std::string(s.substr(0, n));
}

std::string describe(const tcp::endpoint& endpoint) {
  const std::string address = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

HttpResponse internal_error(std::string_view message, std::string_view route) {
  return error_response(500, "internal", message, {{"route", std::string(route)}});
}

// Runs a handler; an exception becomes a 500.
template <class F>
HttpResponse guarded(std::string_view route, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const std::exception& e) {
    return internal_error(e.what(), route);
  } catch (...) {
    return internal_error("unknown exception", route);
  }
}

// ---------------------------------------------------------------------------------------------
// Static files of the web UI.

std::string_view content_type_for(std::string_view extension) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".map", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
  }};
  const std::string ext = lower(extension);
  for (const auto& [known, type] : kTypes) {
    if (known == ext) return type;
  }
  return "application/octet-stream";
}

std::optional<std::string> read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return std::nullopt;
  in.seekg(0, std::ios::beg);
  std::string body(static_cast<std::size_t>(size), '\0');
  if (!in.read(body.data(), static_cast<std::streamsize>(size))) return std::nullopt;
  return body;
}

HttpResponse static_not_found(const std::string& path) {
  return error_response(Status::not_found("no file for " + path).with_detail("route", path));
}

// `path` is the decoded request path. Never leaves `root`: ".." segments are refused and empty
// or "." segments dropped, so the relative path cannot climb or become absolute.
HttpResponse serve_static(const std::filesystem::path& root, const std::string& path) {
  if (path.find('\0') != std::string::npos || path.find('\\') != std::string::npos) {
    return static_not_found(path);
  }
  std::filesystem::path relative;
  std::string_view last;
  std::string_view rest = path;
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (segment == "..") return static_not_found(path);
    if (segment.empty() || segment == ".") continue;
    relative /= segment;
    last = segment;
  }
  std::filesystem::path file;
  std::error_code ec;
  if (!relative.empty() && std::filesystem::is_regular_file(root / relative, ec)) {
    file = root / relative;
  } else if (last.find('.') != std::string_view::npos) {
    return static_not_found(path);  // names a file that is not there
  } else {
    file = root / "index.html";  // "/" and client-side routes of the single-page app
  }
  auto body = read_file(file);
  if (!body) return static_not_found(path);
  HttpResponse response;
  response.content_type = std::string(content_type_for(file.extension().native()));
  response.body = std::move(*body);
  if (file.filename() == "index.html") {
    response.headers.emplace_back("Cache-Control", "no-cache");
  } else if (path.starts_with("/assets/")) {
    response.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
  }
  return response;
}

// ---------------------------------------------------------------------------------------------
// Metrics.

// The series of one route, looked up once: counters per status are created on first use.
class RouteMetrics {
 public:
  RouteMetrics(Metrics& metrics, std::string label)
      : metrics_(metrics),
        label_(std::move(label)),
        duration_(metrics.histogram(kDurationName, kDurationHelp, {{"route", label_}})) {}

  const std::string& label() const { return label_; }

  // `status` in [100, 599].
  void record(unsigned status, Clock::time_point started) {
    std::atomic<Counter*>& slot = by_status_[status - 100];
    Counter* counter = slot.load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = &metrics_.counter(kRequestsName, kRequestsHelp,
                                  {{"route", label_}, {"status", std::to_string(status)}});
      slot.store(counter, std::memory_order_release);
    }
    counter->inc();
    duration_.observe(std::chrono::duration<double>(Clock::now() - started).count());
  }

 private:
  Metrics& metrics_;
  std::string label_;
  Histogram& duration_;
  std::array<std::atomic<Counter*>, 500> by_status_{};
};

// ---------------------------------------------------------------------------------------------
// Connections.

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  virtual ~Connection() = default;
  // Any thread: close as the drain asks (finish the current response, say goodbye on streams).
  virtual void drain() = 0;
  // Any thread: close the socket now (the drain timed out).
  virtual void force_close() = 0;
};

class StreamSession : public Connection {
 public:
  // On the session's strand: take what the client holds and write it.
  virtual void on_wake() = 0;
  virtual net::any_io_executor executor() = 0;
};

// Where a StreamClient's wake finds its session (set once the session exists).
struct WakeSlot {
  std::mutex mutex;
  std::weak_ptr<StreamSession> session;
};

// Closed by the server before its io_context goes away; wakes after that do nothing.
struct WakeHub {
  std::shared_mutex mutex;
  bool open = true;
};

class Server;

class HttpSession final : public Connection {
 public:
  HttpSession(Server& server, tcp::socket&& socket);
  ~HttpSession() override;
  void start();
  void drain() override;
  void force_close() override;

 private:
  std::shared_ptr<HttpSession> self() {
    return std::static_pointer_cast<HttpSession>(shared_from_this());
  }
  // Reads the next request; `draining`: the connection was accepted while draining, and the
  // request must come within kDrainReadTimeout.
  void do_read(bool draining = false);
  void on_header(const beast::error_code& ec);
  void on_read(const beast::error_code& ec);
  void handle();
  void upgrade_websocket(RouteMetrics& metrics,
                         std::function<void(const std::shared_ptr<StreamClient>&)> on_open);
  void open_sse(HttpRequest& request, const Route& route, RouteMetrics& metrics, bool keep_alive);
  void respond(HttpResponse response, RouteMetrics& metrics, bool keep_alive);
  void reply_and_close(HttpResponse response);
  void on_write(const beast::error_code& ec);
  void end_request();
  void close_gracefully();
  void linger();
  void close();

  Server& server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  // A response whose body is shared (HttpResponse::shared_body), written without a copy; the
  // pointer keeps the text alive until the write completes.
  http::response<http::span_body<const char>> shared_response_;
  std::shared_ptr<const std::string> shared_body_;
  std::string continue_;  // "100 Continue" while being written
  Clock::time_point started_;
  unsigned version_ = 11;
  bool head_ = false;
  bool busy_ = false;
  bool in_flight_ = false;
  bool keep_alive_ = false;
  bool linger_ = false;
  std::unique_ptr<std::array<char, 4096>> discard_;  // lingering close only
  std::size_t lingered_ = 0;
};

class WsSession final : public StreamSession {
 public:
  WsSession(Server& server, tcp::socket&& socket, http::request<http::string_body>&& upgrade,
            std::function<void(const std::shared_ptr<StreamClient>&)> on_open);
  ~WsSession() override;
  // The handshake's status (101, or the refusal) is counted on `metrics` when it is answered.
  void start(RouteMetrics& metrics, Clock::time_point started);
  void drain() override;
  void force_close() override;
  void on_wake() override;
  net::any_io_executor executor() override { return ws_.get_executor(); }

 private:
  std::shared_ptr<WsSession> self() {
    return std::static_pointer_cast<WsSession>(shared_from_this());
  }
  void on_accept(const beast::error_code& ec);
  void do_read();
  void on_read(const beast::error_code& ec);
  void pump();
  void send_close();
  void watch_stuck_write();
  void finish();
  void disconnect_once();

  Server& server_;
  websocket::stream<beast::tcp_stream> ws_;
  http::request<http::string_body> upgrade_;
  std::function<void(const std::shared_ptr<StreamClient>&)> on_open_;
  beast::flat_buffer buffer_;
  std::shared_ptr<WakeSlot> slot_ = std::make_shared<WakeSlot>();
  std::shared_ptr<StreamClient> client_;
  std::vector<SharedText> outbox_;
  std::size_t next_ = 0;
  std::optional<std::string> close_reason_;
  websocket::close_code close_code_ = websocket::close_code::policy_error;
  net::steady_timer stuck_timer_;
  bool writing_ = false;
  bool close_sent_ = false;
  bool finished_ = false;
  bool disconnected_ = false;
  bool stuck_timer_armed_ = false;
};

class SseSession final : public StreamSession {
 public:
  SseSession(Server& server, tcp::socket&& socket, std::shared_ptr<StreamClient> client,
             std::shared_ptr<WakeSlot> slot, bool chunked);
  ~SseSession() override;
  void start();
  void drain() override;
  void force_close() override;
  void on_wake() override;
  net::any_io_executor executor() override { return stream_.get_executor(); }

 private:
  std::shared_ptr<SseSession> self() {
    return std::static_pointer_cast<SseSession>(shared_from_this());
  }
  void write_out();
  void on_write(const beast::error_code& ec);
  void do_read();
  void frame(std::string_view payload, bool last);
  void arm_keep_alive(Clock::time_point at);
  void pump();
  void watch_stuck_write();
  void finish();
  void disconnect_once();

  Server& server_;
  beast::tcp_stream stream_;
  std::shared_ptr<StreamClient> client_;
  std::shared_ptr<WakeSlot> slot_;
  bool chunked_;
  std::string payload_;  // events of one batch
  std::string out_;      // being written: payload_ framed
  std::array<char, 256> read_buffer_{};
  net::steady_timer keep_alive_timer_;
  net::steady_timer stuck_timer_;
  Clock::time_point last_write_ = Clock::now();
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool disconnected_ = false;
  bool stuck_timer_armed_ = false;
};

// ---------------------------------------------------------------------------------------------
// The server.

class Server {
 public:
  Server(HttpServer& owner, ServerOptions options, const Router& router, StreamHandler& streams,
         Metrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status listen();
  std::uint16_t port() const { return port_.load(); }
  void run(bool handle_signals);
  void catch_signals();
  void stop();
  void set_ready(bool ready) { ready_.store(ready); }
  bool ready() const { return ready_.load(); }

  // For the sessions.
  const ServerOptions& options() const { return options_; }
  const Router& router() const { return router_; }
  StreamHandler& streams() { return streams_; }
  // The application's authorization (HttpServer::authorize); nullopt lets the request through.
  std::optional<HttpResponse> authorize(HttpRequest& request, const Route& route) {
    if (!owner_.authorize) return std::nullopt;
    return owner_.authorize(request, route);
  }
  const std::optional<std::filesystem::path>& web_root() const { return web_root_; }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  RouteMetrics& route_metrics(const Route& route);
  RouteMetrics& unmatched() { return *route_metrics_.back(); }
  Gauge& in_flight() { return in_flight_; }
  // Where route handlers run (see ServerOptions::handler_threads); none: on the io thread.
  net::thread_pool* handlers() { return handlers_.get(); }
  StreamClient::Wake make_wake(std::shared_ptr<WakeSlot> slot) const;
  // Registers a live connection; returns whether the server is draining (the caller then
  // drains itself: the drain's snapshot may have missed it).
  bool add_connection(Connection* connection, std::weak_ptr<Connection> weak);
  void remove_connection(Connection* connection);

 private:
  void do_accept();
  void on_accept(const beast::error_code& ec, tcp::socket socket);
  void wait_signal();
  void begin_drain();
  void stop_accepting();
  void poll_drain();
  std::vector<std::shared_ptr<Connection>> live_connections();
  void run_io();

  HttpServer& owner_;
  ServerOptions options_;
  const Router& router_;
  StreamHandler& streams_;
  Metrics& metrics_;
  std::vector<std::unique_ptr<RouteMetrics>> route_metrics_;  // by route index; unmatched last
  Gauge& connections_gauge_;
  Gauge& in_flight_;
  std::optional<std::filesystem::path> web_root_;
  std::shared_ptr<WakeHub> hub_ = std::make_shared<WakeHub>();
  std::mutex connections_mutex_;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> ready_{false};
  std::atomic<std::uint16_t> port_{0};
  Clock::time_point drain_deadline_;
  bool forced_ = false;
  // Destroyed before the registry above: destroying the io_context destroys pending handlers
  // and with them sessions, which unregister themselves.
  net::io_context io_;
  net::strand<net::io_context::executor_type> accept_strand_;
  tcp::acceptor acceptor_;
  net::steady_timer drain_timer_;
  net::steady_timer accept_retry_timer_;
  std::optional<net::signal_set> signals_;
  // Declared after io_, so destroyed (joined) before it: a handler still running posts its
  // response to a session's executor, which must exist until then.
  std::unique_ptr<net::thread_pool> handlers_;
};

int io_threads(int wanted) {
  if (wanted > 0) return wanted;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

Server::Server(HttpServer& owner, ServerOptions options, const Router& router,
               StreamHandler& streams, Metrics& metrics)
    : owner_(owner),
      options_(std::move(options)),
      router_(router),
      streams_(streams),
      metrics_(metrics),
      connections_gauge_(metrics.gauge("tickgraph_http_connections",
                                       "Open HTTP connections, WebSocket and SSE included.")),
      in_flight_(
          metrics.gauge("tickgraph_http_in_flight_requests", "HTTP requests being handled.")),
      io_(io_threads(options_.threads)),
      accept_strand_(net::make_strand(io_)),
      acceptor_(accept_strand_),
      drain_timer_(accept_strand_),
      accept_retry_timer_(accept_strand_) {
  if (options_.handler_threads > 0) {
    handlers_ =
        std::make_unique<net::thread_pool>(static_cast<std::size_t>(options_.handler_threads));
  }
  route_metrics_.reserve(router_.routes().size() + 1);
  for (const Route& route : router_.routes()) {
    route_metrics_.push_back(std::make_unique<RouteMetrics>(metrics_, route.label));
  }
  route_metrics_.push_back(std::make_unique<RouteMetrics>(metrics_, std::string(kUnmatched)));
  std::error_code ec;
  if (!options_.web_root.empty() && std::filesystem::is_directory(options_.web_root, ec)) {
    web_root_ = std::filesystem::path(options_.web_root);
  }
}

Server::~Server() {
  std::unique_lock lock(hub_->mutex);
  hub_->open = false;
}

RouteMetrics& Server::route_metrics(const Route& route) {
  const auto& routes = router_.routes();
  if (!routes.empty() && &route >= routes.data() && &route < routes.data() + routes.size()) {
    return *route_metrics_[static_cast<std::size_t>(&route - routes.data())];
  }
  return unmatched();
}

StreamClient::Wake Server::make_wake(std::shared_ptr<WakeSlot> slot) const {
  return [hub = hub_, slot = std::move(slot)] {
    std::shared_lock hub_lock(hub->mutex);
    if (!hub->open) return;
    std::shared_ptr<StreamSession> session;
    {
      std::lock_guard slot_lock(slot->mutex);
      session = slot->session.lock();
    }
    if (session == nullptr) return;
    // The handler owns the reference: the session is never destroyed on the waker's thread.
    net::any_io_executor executor = session->executor();
    net::post(executor, [session = std::move(session)] { session->on_wake(); });
  };
}

bool Server::add_connection(Connection* connection, std::weak_ptr<Connection> weak) {
  {
    std::lock_guard lock(connections_mutex_);
    connections_.emplace(connection, std::move(weak));
  }
  connections_gauge_.add(1);
  return draining();
}

void Server::remove_connection(Connection* connection) {
  std::size_t erased = 0;
  {
    std::lock_guard lock(connections_mutex_);
    erased = connections_.erase(connection);
  }
  if (erased > 0) connections_gauge_.add(-1);
}

std::vector<std::shared_ptr<Connection>> Server::live_connections() {
  std::vector<std::shared_ptr<Connection>> live;
  std::lock_guard lock(connections_mutex_);
  live.reserve(connections_.size());
  for (const auto& [raw, weak] : connections_) {
    if (auto connection = weak.lock()) live.push_back(std::move(connection));
  }
  return live;
}

Status Server::listen() {
  beast::error_code ec;
  tcp::endpoint endpoint;
  const auto address = net::ip::make_address(options_.bind, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, options_.port);
  } else {
    tcp::resolver resolver(io_);
    const auto results = resolver.resolve(options_.bind, std::to_string(options_.port), ec);
    if (ec || results.empty()) {
      return Status::unavailable("cannot resolve bind address '" + options_.bind +
                                 "': " + (ec ? ec.message() : std::string("no address")));
    }
    endpoint = results.begin()->endpoint();
  }
  const std::string where = describe(endpoint);
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return Status::unavailable("cannot open a socket for " + where + ": " + ec.message());
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  acceptor_.bind(endpoint, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return Status::unavailable("cannot bind " + where + ": " + ec.message());
  }
  acceptor_.listen(
      std::max(kMinBacklog, static_cast<int>(net::socket_base::max_listen_connections)), ec);
  if (ec) {
    beast::error_code ignored;
    acceptor_.close(ignored);
    return Status::unavailable("cannot listen on " + where + ": " + ec.message());
  }
  port_.store(acceptor_.local_endpoint(ec).port());
  return Status();
}

void Server::run_io() {
  for (;;) {
    try {
      io_.run();
      return;
    } catch (const std::exception& e) {
      // Handlers catch their own exceptions; this is a last resort that keeps the thread alive.
      std::fprintf(stderr, "tickgraph http server: unexpected exception: %s\n", e.what());
    }
  }
}

void Server::run(bool handle_signals) {
  if (!acceptor_.is_open() && !draining()) return;
  if (handle_signals) catch_signals();
  net::post(accept_strand_, [this] { do_accept(); });
  std::vector<std::thread> threads;
  const int n = io_threads(options_.threads);
  threads.reserve(static_cast<std::size_t>(n - 1));
  for (int i = 1; i < n; ++i) threads.emplace_back([this] { run_io(); });
  run_io();
  for (auto& thread : threads) thread.join();
  signals_.reset();  // restores the default dispositions
}

void Server::catch_signals() {
  if (signals_) return;
  // Registering takes the signals at once; they are delivered once the io threads run.
  signals_.emplace(accept_strand_, SIGINT, SIGTERM);
  wait_signal();
}

void Server::stop() {
  net::post(accept_strand_, [this] { begin_drain(); });
}

void Server::wait_signal() {
  signals_->async_wait([this](const beast::error_code& ec, int /*signal*/) {
    if (ec) return;
    if (draining()) {
      io_.stop();  // a second signal: stop now
      return;
    }
    begin_drain();
    wait_signal();
  });
}

void Server::do_accept() {
  if (!acceptor_.is_open()) return;
  acceptor_.async_accept(net::make_strand(io_),
                         [this](const beast::error_code& ec, tcp::socket socket) {
                           on_accept(ec, std::move(socket));
                         });
}

void Server::on_accept(const beast::error_code& ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    // Out of descriptors and the like: try again shortly rather than spin.
    accept_retry_timer_.expires_after(kAcceptRetry);
    accept_retry_timer_.async_wait([this](const beast::error_code& wait_ec) {
      if (!wait_ec) do_accept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  std::make_shared<HttpSession>(*this, std::move(socket))->start();
  do_accept();
}

void Server::begin_drain() {
  if (draining_.exchange(true)) return;
  if (owner_.on_drain) {
    try {
      owner_.on_drain();
    } catch (...) {  // NOLINT(bugprone-empty-catch): the application's hook must not stop the drain
    }
  }
  for (const auto& connection : live_connections()) connection->drain();
  drain_deadline_ = Clock::now() + options_.drain_timeout;
  poll_drain();
}

void Server::stop_accepting() {
  beast::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_timer_.cancel();
}

void Server::poll_drain() {
  bool empty = false;
  {
    std::lock_guard lock(connections_mutex_);
    empty = connections_.empty();
  }
  if (empty) {
    stop_accepting();
    io_.stop();
    return;
  }
  if (Clock::now() >= drain_deadline_) {
    if (forced_) {
      io_.stop();
      return;
    }
    forced_ = true;
    stop_accepting();
    for (const auto& connection : live_connections()) connection->force_close();
    drain_deadline_ = Clock::now() + kForcedCloseGrace;
  }
  drain_timer_.expires_after(kDrainPoll);
  drain_timer_.async_wait([this](const beast::error_code& ec) {
    if (!ec) poll_drain();
  });
}

// ---------------------------------------------------------------------------------------------
// HttpSession.

HttpSession::HttpSession(Server& server, tcp::socket&& socket)
    : server_(server), stream_(std::move(socket)) {}

HttpSession::~HttpSession() {
  if (in_flight_) server_.in_flight().add(-1);
  server_.remove_connection(this);
}

void HttpSession::start() {
  const bool draining = server_.add_connection(this, weak_from_this());
  // A connection accepted while draining is served one request (answered with Connection:
  // close), so that readiness probes see the 503; it must come soon.
  net::dispatch(stream_.get_executor(), [self = self(), draining] { self->do_read(draining); });
}

void HttpSession::drain() {
  net::post(stream_.get_executor(), [self = self()] {
    if (!self->busy_) self->close();  // idle keep-alive; a busy one closes after its response
  });
}

void HttpSession::force_close() {
  net::post(stream_.get_executor(), [self = self()] { self->close(); });
}

void HttpSession::close() {
  beast::error_code ignored;
  stream_.socket().close(ignored);
}

void HttpSession::close_gracefully() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.socket().close(ignored);
}

void HttpSession::do_read(bool draining) {
  if (buffer_.capacity() > kKeepBufferBytes && buffer_.size() == 0) buffer_.shrink_to_fit();
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
      server_.options().max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser_->body_limit(static_cast<std::uint64_t>(server_.options().max_body_bytes));
  stream_.expires_after(draining ? std::min<std::chrono::steady_clock::duration>(
                                       kDrainReadTimeout, server_.options().idle_timeout)
                                 : server_.options().idle_timeout);
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = self()](const beast::error_code& ec, std::size_t /*bytes*/) { self->on_header(ec); });
}

void HttpSession::on_header(const beast::error_code& ec) {
  if (ec) return on_read(ec);
  const auto& request = parser_->get();
  // RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked has no reliable
  // length; reading on would run the body as the next request (smuggling). Refuse and close.
  if (request.count(http::field::transfer_encoding) > 0 && !parser_->chunked()) {
    return reply_and_close(
        error_response(400, "invalid_argument", "Transfer-Encoding must end with chunked",
                       {{"header", "Transfer-Encoding"},
                        {"value", std::string(to_std(request[http::field::transfer_encoding]))}}));
  }
  if (parser_->is_done()) return on_read(ec);
  auto read_body = [self = self()] {
    http::async_read(self->stream_, self->buffer_, *self->parser_,
                     [self](const beast::error_code& read_ec, std::size_t /*bytes*/) {
                       self->on_read(read_ec);
                     });
  };
  if (beast::iequals(request[http::field::expect], "100-continue") && request.version() >= 11) {
    continue_ = "HTTP/1.1 100 Continue\r\n\r\n";
    net::async_write(
        stream_, net::buffer(continue_),
        [self = self(), read_body](const beast::error_code& write_ec, std::size_t /*bytes*/) {
          if (write_ec) return self->close();
          read_body();
        });
    return;
  }
  read_body();
}

void HttpSession::on_read(const beast::error_code& ec) {
  if (ec == http::error::end_of_stream) return close_gracefully();
  if (ec == http::error::body_limit) {
    const std::string limit = std::to_string(server_.options().max_body_bytes);
    return reply_and_close(error_response(413, "payload_too_large",
                                          "request body larger than " + limit + " bytes",
                                          {{"limit", limit}}));
  }
  if (ec == http::error::header_limit) {
    const std::string limit = std::to_string(server_.options().max_header_bytes);
    return reply_and_close(error_response(
        431, "request_header_fields_too_large",
        "request line and headers larger than " + limit + " bytes", {{"limit", limit}}));
  }
  if (ec == http::error::partial_message) return close();  // the client went away mid-request
  if (ec && ec.category() == http::make_error_code(http::error::bad_method).category()) {
    return reply_and_close(
        error_response(400, "invalid_argument", "malformed HTTP request: " + ec.message()));
  }
  if (ec) return close();  // timeout, reset, closed by the drain
  busy_ = true;
  in_flight_ = true;
  server_.in_flight().add(1);
  started_ = Clock::now();
  handle();
}

void HttpSession::handle() {
  auto& req = parser_->get();
  version_ = req.version();
  head_ = req.method() == http::verb::head;
  const bool keep_alive = req.keep_alive();

  HttpRequest request;
  request.method = std::string(to_std(req.method_string()));
  request.target = std::string(to_std(req.target()));
  auto parsed = parse_target(request.target);
  if (!parsed) {
    return respond(error_response(Status::invalid_argument("invalid request target: not an "
                                                           "absolute path, or bad "
                                                           "percent-encoding")
                                      .with_detail("target", request.target)),
                   server_.unmatched(), keep_alive);
  }
  request.path = std::move(parsed->path);
  request.query = std::move(parsed->query);

  auto match = server_.router().match(request.method, request.path);
  if (match.result == Router::Match::Result::kNotFound) {
    return respond(
        error_response(Status::not_found("no route for " + request.method + " " + request.path)
                           .with_detail("route", request.path)),
        server_.unmatched(), keep_alive);
  }
  if (match.result == Router::Match::Result::kMethodNotAllowed) {
    std::string allow;
    for (const auto& method : match.allowed) {
      if (!allow.empty()) allow += ", ";
      allow += method;
      if (method == "GET") allow += ", HEAD";
    }
    auto response = error_response(
        405, "method_not_allowed", request.method + " is not allowed on " + request.path,
        {{"route", request.path}, {"method", request.method}, {"allow", allow}});
    response.headers.emplace_back("Allow", std::move(allow));
    return respond(std::move(response), server_.unmatched(), keep_alive);
  }

  const Route& route = *match.route;
  RouteMetrics& metrics = server_.route_metrics(route);
  request.path_params = std::move(match.params);
  for (const auto& field : req) {
    auto [it, inserted] =
        request.headers.try_emplace(lower(to_std(field.name_string())), to_std(field.value()));
    if (!inserted) {
      it->second += ", ";
      it->second += to_std(field.value());
    }
  }
  request.body = std::move(req.body());
  {
    beast::error_code ec;
    const auto peer = stream_.socket().remote_endpoint(ec);
    if (!ec) request.remote = peer.address().to_string();
  }
  std::optional<HttpResponse> refused;
  try {
    refused = server_.authorize(request, route);
  } catch (const std::exception& e) {
    refused = internal_error(e.what(), route.label);
  }
  if (refused) return respond(std::move(*refused), metrics, keep_alive);

  switch (route.kind) {
    case RouteKind::kWebSocket:
      if (req.method() == http::verb::get && websocket::is_upgrade(req)) {
        return upgrade_websocket(metrics, std::move(request.on_stream_open));
      }
      {
        auto response =
            error_response(426, "upgrade_required",
                           route.label + " is a WebSocket endpoint: send Upgrade: websocket",
                           {{"route", request.path}});
        response.headers.emplace_back("Upgrade", "websocket");
        return respond(std::move(response), metrics, keep_alive);
      }
    case RouteKind::kSse:
      return open_sse(request, route, metrics, keep_alive);
    case RouteKind::kStatic:
      if (server_.web_root()) {
        return respond(
            guarded(route.label, [&] { return serve_static(*server_.web_root(), request.path); }),
            metrics, keep_alive);
      }
      break;
    case RouteKind::kPlain:
    case RouteKind::kInline:
      if ((req.method() == http::verb::post || req.method() == http::verb::put ||
           req.method() == http::verb::patch) &&
          !request.body.empty() &&
          !(route.doc.request_type.empty()
                ? accepted_body_type(request.header("content-type"))
                : media_type(request.header("content-type")) == route.doc.request_type)) {
        const std::string type(request.header("content-type"));
        const std::string wanted =
            route.doc.request_type.empty() ? "application/json or YAML" : route.doc.request_type;
        return respond(error_response(415, "unsupported_media_type",
                                      "request body must be " + wanted + ", not '" + type + "'",
                                      {{"content_type", type}, {"route", request.path}}),
                       metrics, keep_alive);
      }
      break;
  }
  if (!route.handler) {
    return respond(
        error_response(
            Status::not_found("no handler for " + route.label).with_detail("route", request.path)),
        metrics, keep_alive);
  }
  // The handler may wait on the store (a locked database, a slow query): it runs on the handler
  // pool, so that the io threads go on serving other connections and streams meanwhile. The
  // response is written back on this session's strand.
  net::thread_pool* pool = server_.handlers();
  if (pool == nullptr || route.kind == RouteKind::kInline) {
    return respond(guarded(route.label, [&] { return route.handler(request); }), metrics,
                   keep_alive);
  }
  net::post(*pool,
            [self = self(), request = std::move(request), &route, &metrics, keep_alive]() mutable {
              HttpResponse response = guarded(route.label, [&] { return route.handler(request); });
              auto executor = self->stream_.get_executor();
              net::post(executor, [self = std::move(self), response = std::move(response), &metrics,
                                   keep_alive]() mutable {
                self->respond(std::move(response), metrics, keep_alive);
              });
            });
}

void HttpSession::upgrade_websocket(
    RouteMetrics& metrics, std::function<void(const std::shared_ptr<StreamClient>&)> on_open) {
  end_request();
  busy_ = false;
  auto session = std::make_shared<WsSession>(server_, stream_.release_socket(), parser_->release(),
                                             std::move(on_open));
  session->start(metrics, started_);
  // This session has no pending operation left: it ends when the caller's handler returns.
}

void HttpSession::open_sse(HttpRequest& request, const Route& route, RouteMetrics& metrics,
                           bool keep_alive) {
  if (head_) {
    HttpResponse response;
    response.content_type = "text/event-stream";
    return respond(std::move(response), metrics, keep_alive);
  }
  auto slot = std::make_shared<WakeSlot>();
  std::variant<HttpResponse, std::shared_ptr<StreamClient>> opened;
  try {
    opened = server_.streams().open_sse(request, server_.make_wake(slot));
  } catch (const std::exception& e) {
    return respond(internal_error(e.what(), route.label), metrics, keep_alive);
  } catch (...) {
    return respond(internal_error("unknown exception", route.label), metrics, keep_alive);
  }
  if (auto* response = std::get_if<HttpResponse>(&opened)) {
    return respond(std::move(*response), metrics, keep_alive);
  }
  auto client = std::get<std::shared_ptr<StreamClient>>(std::move(opened));
  if (client == nullptr) {
    return respond(internal_error("the stream handler returned no client", route.label), metrics,
                   keep_alive);
  }
  if (request.on_stream_open) request.on_stream_open(client);
  metrics.record(200, started_);
  end_request();
  busy_ = false;
  auto session = std::make_shared<SseSession>(server_, stream_.release_socket(), std::move(client),
                                              std::move(slot), version_ >= 11);
  session->start();
}

void HttpSession::respond(HttpResponse response, RouteMetrics& metrics, bool keep_alive) {
  if (response.status < 100 || response.status > 599) {
    response = internal_error(
        "handler returned the invalid HTTP status " + std::to_string(response.status),
        metrics.label());
  }
  // Counted when the response is ready, before it is written: a client that has read its
  // response sees itself in /metrics.
  metrics.record(static_cast<unsigned>(response.status), started_);
  end_request();
  keep_alive_ = keep_alive && !linger_ && !server_.draining();
  auto prepare = [&](auto& message) {
    message.clear();
    message.result(static_cast<unsigned>(response.status));
    message.version(version_);
    message.set(http::field::server, to_beast(kServerName));
    if (!response.content_type.empty()) {
      message.set(http::field::content_type, to_beast(response.content_type));
    }
    for (const auto& [name, value] : response.headers) {
      message.insert(to_beast(name), to_beast(value));
    }
  };
  stream_.expires_after(server_.options().idle_timeout);
  auto done = [self = self()](const beast::error_code& ec, std::size_t /*bytes*/) {
    self->on_write(ec);
  };
  if (response.shared_body) {
    prepare(shared_response_);
    shared_body_ = std::move(response.shared_body);
    shared_response_.body() = {shared_body_->data(), shared_body_->size()};
    shared_response_.prepare_payload();
    shared_response_.keep_alive(keep_alive_);
    if (head_) shared_response_.body() = {};  // Content-Length stays that of the GET
    http::async_write(stream_, shared_response_, std::move(done));
    return;
  }
  prepare(response_);
  response_.body() = std::move(response.body);
  response_.prepare_payload();
  response_.keep_alive(keep_alive_);
  if (head_) response_.body().clear();  // Content-Length stays that of the GET
  http::async_write(stream_, response_, std::move(done));
}

void HttpSession::reply_and_close(HttpResponse response) {
  busy_ = true;
  linger_ = true;
  started_ = Clock::now();  // not in flight: never reached a handler
  version_ = 11;
  head_ = false;
  respond(std::move(response), server_.unmatched(), false);
}

void HttpSession::end_request() {
  if (in_flight_) {
    server_.in_flight().add(-1);
    in_flight_ = false;
  }
}

void HttpSession::on_write(const beast::error_code& ec) {
  busy_ = false;
  response_.body().clear();
  shared_body_.reset();
  if (ec) return close();
  if (linger_) return linger();
  if (!keep_alive_ || server_.draining()) return close_gracefully();
  do_read();
}

// After an error response the client may still be sending (a body we refused): closing with
// unread data would reset the connection and could destroy the response before the client reads
// it. Stop sending, read and discard for a while, then close.
void HttpSession::linger() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (discard_ == nullptr) {
    discard_ = std::make_unique<std::array<char, 4096>>();
    stream_.expires_after(kLingerTime);
  }
  stream_.async_read_some(net::buffer(*discard_),
                          [self = self()](const beast::error_code& ec, std::size_t bytes) {
                            self->lingered_ += bytes;
                            if (ec || self->lingered_ > kLingerBytes) return self->close();
                            self->linger();
                          });
}

// ---------------------------------------------------------------------------------------------
// WsSession.

WsSession::WsSession(Server& server, tcp::socket&& socket,
                     http::request<http::string_body>&& upgrade,
                     std::function<void(const std::shared_ptr<StreamClient>&)> on_open)
    : server_(server),
      ws_(std::move(socket)),
      upgrade_(std::move(upgrade)),
      on_open_(std::move(on_open)),
      stuck_timer_(ws_.get_executor()) {}

WsSession::~WsSession() {
  disconnect_once();
  server_.remove_connection(this);
}

void WsSession::disconnect_once() {
  if (client_ == nullptr || disconnected_) return;
  disconnected_ = true;
  client_->close("disconnected", CloseKind::kDisconnected);
  try {
    server_.streams().disconnect(client_);
  } catch (...) {  // NOLINT(bugprone-empty-catch): nothing to tell a client that is gone
  }
}

void WsSession::start(RouteMetrics& metrics, Clock::time_point started) {
  server_.add_connection(this, weak_from_this());
  {
    std::lock_guard lock(slot_->mutex);
    slot_->session = std::static_pointer_cast<StreamSession>(shared_from_this());
  }
  beast::get_lowest_layer(ws_).expires_never();  // the websocket stream keeps its own timeouts
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.set_option(
      websocket::stream_base::decorator([&metrics, started](websocket::response_type& response) {
        response.set(http::field::server, to_beast(kServerName));
        metrics.record(response.result_int(), started);
        if (response.result() == http::status::switching_protocols) return;
        // A refused handshake (no key, wrong version): Beast's plain-text reason as our JSON error.
        const bool version = response.result() == http::status::upgrade_required;
        HttpResponse error =
            error_response(static_cast<int>(response.result_int()),
                           version ? "upgrade_required" : "invalid_argument",
                           "WebSocket handshake refused: " + std::string(to_std(response.body())));
        response.set(http::field::content_type, to_beast(error.content_type));
        response.body() = std::move(error.body);
        response.prepare_payload();
      }));
  ws_.read_message_max(kWebSocketMaxMessage);
  ws_.async_accept(upgrade_, [self = self()](const beast::error_code& ec) { self->on_accept(ec); });
}

void WsSession::on_accept(const beast::error_code& ec) {
  upgrade_ = {};
  if (ec) return finish();
  try {
    client_ = server_.streams().connect(server_.make_wake(slot_));
  } catch (...) {
    client_ = nullptr;
  }
  if (client_ == nullptr) {
    close_reason_ = "the server could not open a stream";
    close_code_ = websocket::close_code::internal_error;
    return send_close();
  }
  ws_.text(true);
  if (on_open_) on_open_(client_);
  if (server_.draining()) client_->close(std::string(kShuttingDown), CloseKind::kShuttingDown);
  do_read();
  pump();
}

void WsSession::do_read() {
  ws_.async_read(buffer_, [self = self()](const beast::error_code& ec, std::size_t /*bytes*/) {
    self->on_read(ec);
  });
}

void WsSession::on_read(const beast::error_code& ec) {
  // An error includes the client's close frame (websocket::error::closed). After our close frame
  // the close operation finishes the session.
  if (ec) return close_sent_ ? void() : finish();
  if (finished_ || close_sent_) return;
  if (!ws_.got_text()) {
    buffer_.clear();
    client_->close("binary frames are not supported", CloseKind::kRefused);
    return pump();  // the close handshake reads the rest
  }
  const auto data = buffer_.data();
  try {
    server_.streams().on_message(
        client_, std::string_view(static_cast<const char*>(data.data()), data.size()));
  } catch (...) {
    client_->close("internal error handling a client message", CloseKind::kRefused);
  }
  buffer_.consume(buffer_.size());
  do_read();
}

void WsSession::on_wake() {
  if (finished_ || client_ == nullptr) return;
  if (writing_ && client_->closed()) watch_stuck_write();
  pump();
}

void WsSession::pump() {
  if (writing_ || close_sent_ || finished_) return;
  if (next_ == outbox_.size()) {
    outbox_.clear();
    next_ = 0;
    if (client_ != nullptr && !close_reason_) {
      auto batch = client_->take();
      outbox_ = std::move(batch.messages);
      if (batch.closed) {
        close_reason_ = std::move(*batch.closed);
        close_code_ = batch.close_kind == CloseKind::kShuttingDown
                          ? websocket::close_code::going_away
                          : websocket::close_code::policy_error;
      }
    }
  }
  if (next_ < outbox_.size()) {
    writing_ = true;
    ws_.async_write(net::buffer(*outbox_[next_]),
                    [self = self()](const beast::error_code& ec, std::size_t /*bytes*/) {
                      self->writing_ = false;
                      if (ec) return self->finish();
                      ++self->next_;
                      self->pump();
                    });
    return;
  }
  if (close_reason_) send_close();
}

void WsSession::send_close() {
  close_sent_ = true;
  const std::string reason = truncate_utf8(*close_reason_, kMaxCloseReason);
  ws_.async_close(websocket::close_reason(close_code_, to_beast(reason)),
                  [self = self()](const beast::error_code& /*ec*/) { self->finish(); });
  // A peer that does not read may never take the close frame either.
  watch_stuck_write();
}

// The client was closed while a write (or the close frame) is stuck on a peer that does not
// read: give it a little time, then drop the connection.
void WsSession::watch_stuck_write() {
  if (stuck_timer_armed_) return;
  stuck_timer_armed_ = true;
  stuck_timer_.expires_after(kClosedWhileWritingGrace);
  stuck_timer_.async_wait([self = self()](const beast::error_code& ec) {
    if (!ec && (self->writing_ || self->close_sent_)) self->finish();
  });
}

void WsSession::finish() {
  if (finished_) return;
  finished_ = true;
  stuck_timer_.cancel();
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
  disconnect_once();
}

void WsSession::drain() {
  net::post(ws_.get_executor(), [self = self()] {
    if (self->finished_ || self->client_ == nullptr) return;  // on_accept checks the drain
    self->client_->close(std::string(kShuttingDown), CloseKind::kShuttingDown);
    self->on_wake();
  });
}

void WsSession::force_close() {
  net::post(ws_.get_executor(), [self = self()] { self->finish(); });
}

// ---------------------------------------------------------------------------------------------
// SseSession.

SseSession::SseSession(Server& server, tcp::socket&& socket, std::shared_ptr<StreamClient> client,
                       std::shared_ptr<WakeSlot> slot, bool chunked)
    : server_(server),
      stream_(std::move(socket)),
      client_(std::move(client)),
      slot_(std::move(slot)),
      chunked_(chunked),
      keep_alive_timer_(stream_.get_executor()),
      stuck_timer_(stream_.get_executor()) {}

SseSession::~SseSession() {
  disconnect_once();
  server_.remove_connection(this);
}

void SseSession::disconnect_once() {
  if (disconnected_) return;
  disconnected_ = true;
  client_->close("disconnected", CloseKind::kDisconnected);
  try {
    server_.streams().disconnect(client_);
  } catch (...) {  // NOLINT(bugprone-empty-catch): nothing to tell a client that is gone
  }
}

void SseSession::start() {
  if (server_.add_connection(this, weak_from_this()))
    client_->close(std::string(kShuttingDown), CloseKind::kShuttingDown);
  {
    std::lock_guard lock(slot_->mutex);
    slot_->session = std::static_pointer_cast<StreamSession>(shared_from_this());
  }
  out_ = "HTTP/1.1 200 OK\r\nServer: ";
  out_ += kServerName;
  out_ +=
      "\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "X-Accel-Buffering: no\r\nConnection: close\r\n";
  if (chunked_) out_ += "Transfer-Encoding: chunked\r\n";
  out_ += "\r\n";
  // The read first: tcp_stream arms a read's timeout when the read starts, from the expiry set
  // last, and expires_after() while a read is pending only sets the write's. Started now, the
  // read never times out; each write gets its own deadline.
  do_read();
  write_out();
  arm_keep_alive(last_write_ + kSseKeepAlive);
}

void SseSession::write_out() {
  writing_ = true;
  stream_.expires_after(server_.options().idle_timeout);
  net::async_write(
      stream_, net::buffer(out_),
      [self = self()](const beast::error_code& ec, std::size_t /*bytes*/) { self->on_write(ec); });
}

void SseSession::on_write(const beast::error_code& ec) {
  writing_ = false;
  if (ec) return finish();
  stream_.expires_never();
  last_write_ = Clock::now();
  if (closing_) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    return finish();
  }
  pump();
}

// A read that only ends when the client goes away (it sends nothing after its request).
void SseSession::do_read() {
  stream_.async_read_some(net::buffer(read_buffer_),
                          [self = self()](const beast::error_code& ec, std::size_t /*bytes*/) {
                            if (ec) return self->finish();
                            if (!self->finished_) self->do_read();
                          });
}

// Frames `payload` as one chunk when the body is chunked.
void SseSession::frame(std::string_view payload, bool last) {
  out_.clear();
  if (chunked_) {
    std::array<char, 20> hex{};
    const int n = std::snprintf(hex.data(), hex.size(), "%zx\r\n", payload.size());
    out_.append(hex.data(), static_cast<std::size_t>(n));
  }
  out_ += payload;
  if (chunked_) out_ += last ? "\r\n0\r\n\r\n" : "\r\n";
}

void SseSession::arm_keep_alive(Clock::time_point at) {
  keep_alive_timer_.expires_at(at);
  keep_alive_timer_.async_wait([self = self()](const beast::error_code& ec) {
    if (ec || self->finished_ || self->closing_) return;
    const auto now = Clock::now();
    if (self->writing_) return self->arm_keep_alive(now + kSseKeepAlive);
    if (now - self->last_write_ >= kSseKeepAlive) {
      self->frame(": keep-alive\n\n", false);
      self->last_write_ = now;
      self->write_out();
    }
    self->arm_keep_alive(self->last_write_ + kSseKeepAlive);
  });
}

void SseSession::on_wake() {
  if (finished_) return;
  if (writing_ && client_->closed()) watch_stuck_write();
  pump();
}

void SseSession::pump() {
  if (writing_ || closing_ || finished_) return;
  auto batch = client_->take();
  std::string close_event;
  if (batch.closed) {
    // The last event is a tickgraph.v1.StreamMessage carrying an Error, like every other event.
    const std::string& reason = *batch.closed;
    const char* code = batch.close_kind == CloseKind::kTooSlow        ? "too_slow"
                       : batch.close_kind == CloseKind::kShuttingDown ? "unavailable"
                                                                      : "closed";
    const nlohmann::json error{
        {"error", {{"code", code}, {"message", reason}, {"details", nlohmann::json::object()}}}};
    close_event = "event: close\ndata: " +
                  error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
    closing_ = true;
  }
  if (batch.messages.empty() && !closing_) return;
  payload_.clear();
  for (const auto& message : batch.messages) {
    payload_ += "data: ";
    payload_ += *message;
    payload_ += "\n\n";
  }
  payload_ += close_event;
  frame(payload_, closing_);
  write_out();
  // A peer that does not read may never take the close event either.
  if (closing_) watch_stuck_write();
}

void SseSession::watch_stuck_write() {
  if (stuck_timer_armed_) return;
  stuck_timer_armed_ = true;
  stuck_timer_.expires_after(kClosedWhileWritingGrace);
  stuck_timer_.async_wait([self = self()](const beast::error_code& ec) {
    if (!ec && self->writing_) self->finish();
  });
}

void SseSession::finish() {
  if (finished_) return;
  finished_ = true;
  keep_alive_timer_.cancel();
  stuck_timer_.cancel();
  beast::error_code ignored;
  stream_.socket().close(ignored);
  disconnect_once();
}

void SseSession::drain() {
  net::post(stream_.get_executor(), [self = self()] {
    if (self->finished_) return;
    self->client_->close(std::string(kShuttingDown), CloseKind::kShuttingDown);
    self->on_wake();
  });
}

void SseSession::force_close() {
  net::post(stream_.get_executor(), [self = self()] { self->finish(); });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// HttpServer.

class HttpServer::Impl : public Server {
 public:
  using Server::Server;
};

HttpServer::HttpServer(ServerOptions options, const Router& router, StreamHandler& stream_handler,
                       Metrics& metrics)
    : impl_(std::make_unique<Impl>(*this, std::move(options), router, stream_handler, metrics)) {}

namespace {

// The stream handler of a server whose router has no stream route: never called.
class NoStreams final : public StreamHandler {
 public:
  std::shared_ptr<StreamClient> connect(StreamClient::Wake /*wake*/) override { return nullptr; }
  void on_message(const std::shared_ptr<StreamClient>& /*client*/,
                  std::string_view /*text*/) override {}
  std::variant<HttpResponse, std::shared_ptr<StreamClient>> open_sse(
      const HttpRequest& /*request*/, StreamClient::Wake /*wake*/) override {
    return error_response(Status::not_found("this server serves no streams"));
  }
  void disconnect(const std::shared_ptr<StreamClient>& /*client*/) override {}
};

StreamHandler& no_streams() {
  static NoStreams none;  // stateless
  return none;
}

}  // namespace

HttpServer::HttpServer(ServerOptions options, const Router& router, Metrics& metrics)
    : HttpServer(std::move(options), router, no_streams(), metrics) {}

HttpServer::~HttpServer() = default;

Status HttpServer::listen() { return impl_->listen(); }
std::uint16_t HttpServer::port() const { return impl_->port(); }
void HttpServer::run(bool handle_signals) { impl_->run(handle_signals); }
void HttpServer::catch_signals() { impl_->catch_signals(); }
void HttpServer::stop() { impl_->stop(); }
void HttpServer::set_ready(bool ready) { impl_->set_ready(ready); }
bool HttpServer::ready() const { return impl_->ready(); }

}  // namespace tickgraph::server
