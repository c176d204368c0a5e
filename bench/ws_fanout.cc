// WebSocket fan-out: N clients on one asset's live stream of `tickgraph serve`, measuring how long
// the server's updates take to reach them.
//
// Each client connects to ws://HOST:PORT/v1/stream, sends
// {"subscribe":{"assets":[SYMBOL],"interval":INTERVAL[,"graph":G,"outputs":[…]]}} and reads until
// the end. The measuring window opens once every client has its snapshot (or the connect
// timeout has passed) and lasts --seconds. For every update received inside the window the
// latency is this machine's system clock (ns since the epoch) minus the update's serverTime (the
// server stamps it with the same clock when it builds the update, so the latency covers the
// fan-out to every subscriber, the queues and the socket, not the simulator's 100 ms batching).
// Clients the server closes (a close frame, or a dropped connection) are counted with the
// reason; at the end the rest close normally.
//
// One io_context on one thread drives every connection (the server has the other core of a
// 2-core machine): the handlers never run concurrently, so the statistics need no lock.
//
// It reports and never fails on a slow result; the exit code is 1 only when no client could
// subscribe. The last line of the output is the result as one JSON object.
//
// run: build/bin/ws_fanout --port 8080 [--clients 500] [--seconds 15] [--symbol FANOUT]
//                          [--interval INTERVAL_1S] [--graph demo [--outputs a,b]]
// clang-format off
#include <utility>  // before any Asio header: Boost 1.74 + g++ 12 + C++20 (TOOLCHAIN.md)
// clang-format on

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using json = nlohmann::json;

struct Options {
  std::string host = "127.0.0.1";
  int port = 8080;
  int clients = 500;
  double seconds = 15;
  std::string symbol = "FANOUT";
  std::string interval = "INTERVAL_1S";
  std::string graph;
  std::string api_key;  // sent as ?api_key= (the server's stream routes take it there too)
  std::vector<std::string> outputs;
  double connect_timeout = 60;  // seconds for every client to connect and get its snapshot
};

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The update's serverTime (an int64 printed as a JSON string, as protobuf's JSON mapping does),
// or -1 when the message has none.
std::int64_t server_time(std::string_view message) {
  constexpr std::string_view kKey = R"("serverTime":")";
  const auto at = message.find(kKey);
  if (at == std::string_view::npos) return -1;
  const char* first = message.data() + at + kKey.size();
  const char* last = message.data() + message.size();
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || ptr == last || *ptr != '"') return -1;
  return value;
}

enum class Phase { kConnecting, kMeasuring, kClosing };

class Client;

// Everything the clients share: the options, the phase and the statistics. Used from the single
// io thread only.
class Run {
 public:
  Run(net::io_context& io, Options options)
      : io_(io), options_(std::move(options)), window_timer_(io), stop_timer_(io) {
    json subscribe = {{"assets", json::array({options_.symbol})}, {"interval", options_.interval}};
    if (!options_.graph.empty()) subscribe["graph"] = options_.graph;
    if (!options_.outputs.empty()) subscribe["outputs"] = options_.outputs;
    subscribe_message_ = json{{"subscribe", subscribe}}.dump();
    latencies_ns_.reserve(1u << 20);
  }

  const Options& options() const { return options_; }
  const std::string& subscribe_message() const { return subscribe_message_; }
  Phase phase() const { return phase_; }

  // Starts the clients and the connect timeout; io.run() then drives everything.
  void start();

  // A client got its snapshot, or gave up before it did (`error`: why).
  void on_subscribed() {
    ++subscribed_;
    maybe_open_window();
  }
  void on_setup_failed(const std::string& error) {
    ++setup_failed_;
    ++setup_errors_[error];
    maybe_open_window();
  }

  // A message of client `index`; `now` is the wall clock when its read completed.
  void on_message(std::size_t index, std::string_view message, std::int64_t now) {
    if (phase_ != Phase::kMeasuring) return;
    ++messages_;
    if (message.starts_with(R"({"update":)")) {
      ++updates_;
      ++updates_per_client_[index];
      if (message.find(R"("final":true)") != std::string_view::npos) ++final_updates_;
      if (const std::int64_t sent = server_time(message); sent >= 0) {
        latencies_ns_.push_back(now - sent);
      } else {
        ++updates_without_time_;
      }
    } else if (message.starts_with(R"({"lag":)")) {
      ++lag_notices_;
    } else if (message.starts_with(R"({"error":)")) {
      ++errors_;
      if (first_error_.empty()) first_error_ = std::string(message.substr(0, 300));
    } else {
      ++other_messages_;
    }
  }

  // The server closed a subscribed client (`reason`: its close reason, or the socket error).
  void on_closed_by_server(const std::string& reason) {
    ++closed_by_server_;
    ++close_reasons_[reason.empty() ? "(no reason)" : reason];
  }

  // A close handshake begun by close_window() ended (either way); after the last, the run ends.
  void on_close_done() {
    if (--closing_ == 0) io_.stop();
  }

  // Prints the report; returns the process's exit code.
  int report() const;

 private:
  void maybe_open_window();
  void open_window();
  void close_window();

  net::io_context& io_;
  Options options_;
  std::string subscribe_message_;
  net::steady_timer window_timer_;
  net::steady_timer stop_timer_;
  std::vector<std::shared_ptr<Client>> clients_;
  int closing_ = 0;  // close handshakes under way after the window
  Phase phase_ = Phase::kConnecting;

  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point window_open_;
  std::chrono::steady_clock::time_point window_close_;
  int subscribed_ = 0;
  int setup_failed_ = 0;
  std::map<std::string, int> setup_errors_;

  std::int64_t messages_ = 0;
  std::int64_t updates_ = 0;
  std::int64_t final_updates_ = 0;
  std::int64_t updates_without_time_ = 0;
  std::int64_t lag_notices_ = 0;
  std::int64_t errors_ = 0;
  std::int64_t other_messages_ = 0;
  std::string first_error_;
  std::vector<std::int64_t> updates_per_client_;
  std::vector<std::int64_t> latencies_ns_;
  int closed_by_server_ = 0;
  std::map<std::string, int> close_reasons_;
};

// One WebSocket connection: connect, upgrade, subscribe, then read until it ends.
class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(net::io_context& io, Run& run, std::size_t index) : run_(run), index_(index), ws_(io) {}

  void start(const tcp::endpoint& endpoint) {
    beast::get_lowest_layer(ws_).expires_after(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::duration<double>(run_.options().connect_timeout)));
    beast::get_lowest_layer(ws_).async_connect(
        endpoint,
        [self = shared_from_this()](const beast::error_code& ec) { self->on_connect(ec); });
  }

  // At the end of the window: begins a normal close handshake and returns true, or returns false
  // when the connection is not open.
  bool close() {
    if (state_ != State::kOpen) return false;
    state_ = State::kClosing;
    ws_.async_close(websocket::close_code::normal,
                    [self = shared_from_this()](const beast::error_code& /*ec*/) {
                      self->state_ = State::kDone;
                      self->run_.on_close_done();
                    });
    return true;
  }

 private:
  enum class State { kSetup, kOpen, kClosing, kDone };

  void on_connect(const beast::error_code& ec) {
    if (ec) return setup_failed("connect: " + ec.message());
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
    beast::get_lowest_layer(ws_).expires_never();  // the websocket stream keeps its own timeouts
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    ws_.read_message_max(64u << 20);
    const std::string host = run_.options().host + ":" + std::to_string(run_.options().port);
    ws_.async_handshake(
        host,
        run_.options().api_key.empty() ? std::string("/v1/stream")
                                       : "/v1/stream?api_key=" + run_.options().api_key,
        [self = shared_from_this()](const beast::error_code& e) { self->on_handshake(e); });
  }

  void on_handshake(const beast::error_code& ec) {
    if (ec) return setup_failed("handshake: " + ec.message());
    ws_.text(true);
    ws_.async_write(net::buffer(run_.subscribe_message()),
                    [self = shared_from_this()](const beast::error_code& e, std::size_t /*n*/) {
                      if (e) return self->setup_failed("subscribe: " + e.message());
                      self->do_read();
                    });
  }

  void do_read() {
    ws_.async_read(buffer_, [self = shared_from_this()](const beast::error_code& ec,
                                                        std::size_t /*n*/) { self->on_read(ec); });
  }

  void on_read(const beast::error_code& ec) {
    if (ec) return on_ended(ec);
    const std::int64_t now = wall_ns();
    const auto data = buffer_.cdata();
    const std::string_view message(static_cast<const char*>(data.data()), data.size());
    if (state_ == State::kSetup) {
      if (message.starts_with(R"({"snapshot":)")) {
        state_ = State::kOpen;
        run_.on_subscribed();
      } else if (message.starts_with(R"({"error":)")) {
        setup_failed("subscribe refused: " + std::string(message.substr(0, 300)));
      }
    } else {
      run_.on_message(index_, message, now);
    }
    buffer_.consume(buffer_.size());
    if (state_ != State::kDone) do_read();
  }

  void on_ended(const beast::error_code& ec) {
    const State was = state_;
    state_ = State::kDone;
    if (was == State::kClosing || was == State::kDone) return;  // our own close, or after it
    std::string reason;
    if (ec == websocket::error::closed) {
      reason = ws_.reason().reason.empty()
                   ? "close code " + std::to_string(static_cast<int>(ws_.reason().code))
                   : std::string(ws_.reason().reason.c_str());
    } else {
      reason = "connection lost: " + ec.message();
    }
    if (was == State::kSetup) return run_.on_setup_failed("closed before the snapshot: " + reason);
    if (run_.phase() != Phase::kClosing) run_.on_closed_by_server(reason);
  }

  void setup_failed(const std::string& error) {
    if (state_ != State::kSetup) return;
    state_ = State::kDone;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    run_.on_setup_failed(error);
  }

  Run& run_;
  std::size_t index_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  State state_ = State::kSetup;
};

void Run::start() {
  started_ = std::chrono::steady_clock::now();
  const tcp::endpoint endpoint(net::ip::make_address(options_.host),
                               static_cast<std::uint16_t>(options_.port));
  updates_per_client_.assign(static_cast<std::size_t>(options_.clients), 0);
  for (int i = 0; i < options_.clients; ++i) {
    clients_.push_back(std::make_shared<Client>(io_, *this, static_cast<std::size_t>(i)));
    clients_.back()->start(endpoint);
  }
  window_timer_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(options_.connect_timeout)));
  window_timer_.async_wait([this](const beast::error_code& ec) {
    if (!ec && phase_ == Phase::kConnecting) open_window();
  });
}

void Run::maybe_open_window() {
  if (phase_ == Phase::kConnecting && subscribed_ + setup_failed_ == options_.clients) {
    open_window();
  }
}

void Run::open_window() {
  phase_ = Phase::kMeasuring;
  window_open_ = std::chrono::steady_clock::now();
  std::fprintf(stderr, "ws_fanout: %d/%d clients subscribed in %.2f s; %s\n", subscribed_,
               options_.clients, seconds_between(started_, window_open_),
               subscribed_ == 0 ? "nothing to measure" : "measuring");
  if (subscribed_ == 0) return close_window();
  window_timer_.cancel();
  window_timer_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(options_.seconds)));
  window_timer_.async_wait([this](const beast::error_code& ec) {
    if (!ec) close_window();
  });
}

void Run::close_window() {
  phase_ = Phase::kClosing;
  window_close_ = std::chrono::steady_clock::now();
  for (const auto& client : clients_) closing_ += client->close() ? 1 : 0;
  // Clients that are still connecting or whose close handshake does not finish must not keep the
  // run alive.
  stop_timer_.expires_after(std::chrono::seconds(closing_ == 0 ? 0 : 5));
  stop_timer_.async_wait([this](const beast::error_code& ec) {
    if (!ec) io_.stop();
  });
}

// Nearest-rank percentile of sorted values, in ms.
double percentile_ms(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e6;
}

int Run::report() const {
  const double window = std::max(1e-9, seconds_between(window_open_, window_close_));
  std::vector<std::int64_t> sorted = latencies_ns_;
  std::sort(sorted.begin(), sorted.end());
  const double p50 = percentile_ms(sorted, 50);
  const double p90 = percentile_ms(sorted, 90);
  const double p99 = percentile_ms(sorted, 99);
  const double max = sorted.empty() ? 0 : static_cast<double>(sorted.back()) / 1e6;
  const double min = sorted.empty() ? 0 : static_cast<double>(sorted.front()) / 1e6;
  const auto [fewest, most] =
      std::minmax_element(updates_per_client_.begin(), updates_per_client_.end());
  const std::int64_t fewest_updates = updates_per_client_.empty() ? 0 : *fewest;
  const std::int64_t most_updates = updates_per_client_.empty() ? 0 : *most;
  const auto silent =
      std::count(updates_per_client_.begin(), updates_per_client_.end(), std::int64_t{0});

  std::printf("ws_fanout: %d clients on %s %s (graph: %s), window %.2f s\n", options_.clients,
              options_.symbol.c_str(), options_.interval.c_str(),
              options_.graph.empty() ? "none" : options_.graph.c_str(), window);
  std::printf("  subscribed      %d/%d (setup failures %d)\n", subscribed_, options_.clients,
              setup_failed_);
  for (const auto& [error, count] : setup_errors_) {
    std::printf("    setup failure x%d: %s\n", count, error.c_str());
  }
  std::printf(
      "  messages        %lld (%.0f msgs/s): updates %lld (final %lld), lag %lld, "
      "errors %lld, other %lld\n",
      static_cast<long long>(messages_), static_cast<double>(messages_) / window,
      static_cast<long long>(updates_), static_cast<long long>(final_updates_),
      static_cast<long long>(lag_notices_), static_cast<long long>(errors_),
      static_cast<long long>(other_messages_));
  std::printf("  per client      updates min %lld max %lld; %lld clients got none\n",
              static_cast<long long>(fewest_updates), static_cast<long long>(most_updates),
              static_cast<long long>(silent));
  if (!first_error_.empty()) std::printf("    first error: %s\n", first_error_.c_str());
  if (updates_without_time_ > 0) {
    std::printf("    updates without serverTime: %lld\n",
                static_cast<long long>(updates_without_time_));
  }
  std::printf("  latency (ms)    p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  (min %.2f; n = %zu)\n",
              p50, p90, p99, max, min, sorted.size());
  std::printf("  closed by the server: %d\n", closed_by_server_);
  for (const auto& [reason, count] : close_reasons_) {
    std::printf("    x%d: %s\n", count, reason.c_str());
  }

  json out = {{"bench", "ws_fanout"},
              {"clients", options_.clients},
              {"subscribed", subscribed_},
              {"setup_failed", setup_failed_},
              {"symbol", options_.symbol},
              {"interval", options_.interval},
              {"graph", options_.graph},
              {"window_s", window},
              {"messages", messages_},
              {"updates", updates_},
              {"final_updates", final_updates_},
              {"lag_notices", lag_notices_},
              {"errors", errors_},
              {"msgs_per_s", static_cast<double>(messages_) / window},
              {"clients_without_updates", silent},
              {"latency_ms",
               {{"p50", p50}, {"p90", p90}, {"p99", p99}, {"max", max}, {"n", sorted.size()}}},
              {"closed_by_server", closed_by_server_},
              {"close_reasons", close_reasons_}};
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  return subscribed_ > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"WebSocket fan-out benchmark for tickgraph serve"};
  app.add_option("--host", options.host, "Server address (an IP)")->capture_default_str();
  app.add_option("--port", options.port, "Server port")->required()->check(CLI::Range(1, 65535));
  app.add_option("--clients", options.clients, "WebSocket connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--seconds", options.seconds, "Measuring window")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--symbol", options.symbol, "Asset to subscribe to")->capture_default_str();
  app.add_option("--interval", options.interval, "Interval (INTERVAL_1S … INTERVAL_1W)")
      ->capture_default_str();
  auto* graph = app.add_option("--graph", options.graph, "Also subscribe to this graph's values");
  app.add_option("--api-key", options.api_key, "API key of a server with auth on");
  app.add_option("--outputs", options.outputs, "The graph's outputs (default all)")
      ->delimiter(',')
      ->needs(graph);
  app.add_option("--connect-timeout", options.connect_timeout,
                 "Seconds for every client to connect and get its snapshot")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    net::io_context io(1);
    Run run(io, options);
    run.start();
    io.run();
    return run.report();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ws_fanout: %s\n", e.what());
    return 1;
  }
}
