// A tiny HTTP/1.1 server for tests: it listens on 127.0.0.1 on an ephemeral port and answers each
// connection with the next response of a script, then closes the connection (Connection: close),
// recording every request it read. Only for tests (target tickgraph_replay_http_server).
//
// Threads and states: the constructor binds, listens and starts one server thread; the thread
// serves connections one at a time (accept, read the request head up to "\r\n\r\n" and a
// Content-Length body, record, wait the response's delay, write, close) until the destructor wakes
// it through a pipe and joins it. A delay ends early when the client hangs up (as a client that
// timed out does) or the server stops. Once the script is used up, every further request gets a
// 500 "replay script exhausted". requests() and the counters may be read from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace tickgraph::ingest::testing {

// One canned answer.
struct ReplayResponse {
  int status = 200;
  // Sent as given, after the status line. Content-Length (the whole body's length) and
  // Connection: close are added unless given here.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds delay{0};  // wait this long after reading the request
  // Close after this many bytes of the body, leaving Content-Length announcing the whole body.
  std::optional<std::size_t> close_after_body_bytes;
  // Close right after reading the request, sending nothing (an empty reply).
  bool close_without_response = false;
};

// A JSON answer of `status`.
ReplayResponse json_response(int status, std::string body);

// One request the server read.
struct RecordedRequest {
  std::string method;  // "GET"
  std::string target;  // path and query, as sent ("/v8/finance/chart/AAPL?range=5y&…")
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
  std::string body;

  // The first header named `name` (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
};

class ReplayHttpServer {
 public:
  // Binds and starts serving. Throws std::runtime_error when the socket cannot be set up.
  explicit ReplayHttpServer(std::vector<ReplayResponse> script);
  // Stops the thread (cutting short any delay) and closes every socket.
  ~ReplayHttpServer();
  ReplayHttpServer(const ReplayHttpServer&) = delete;
  ReplayHttpServer& operator=(const ReplayHttpServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string base_url() const;  // "http://127.0.0.1:PORT"

  std::vector<RecordedRequest> requests() const;
  // Requests answered from the script so far (responses sent or cut short as scripted).
  std::size_t responses_used() const;

 private:
  void serve();
  void handle(int fd);
  // Waits up to `timeout` for `fd` to become readable (data or hang-up). kStop when the
  // destructor asked the thread to stop.
  enum class Wait { kReadable, kTimeout, kStop };
  Wait wait_readable(int fd, std::chrono::milliseconds timeout) const;

  std::vector<ReplayResponse> script_;
  int listen_fd_ = -1;
  int wake_read_fd_ = -1;
  int wake_write_fd_ = -1;
  std::uint16_t port_ = 0;

  mutable std::mutex mutex_;
  std::vector<RecordedRequest> requests_;  // guarded by mutex_
  std::size_t next_ = 0;                   // guarded by mutex_

  std::thread thread_;
};

}  // namespace tickgraph::ingest::testing
