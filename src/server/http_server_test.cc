// The HTTP server over real sockets on 127.0.0.1. The client is plain POSIX sockets (HTTP/1.1
// and RFC 6455 framing written out by hand), so the tests do not share Beast with the server.
#include "server/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "server/errors.h"

namespace tickgraph::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// A blocking client.

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  json body_json() const { return json::parse(body); }
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class Client {
 public:
  explicit Client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket failed");
    timeval timeout{};
    timeout.tv_sec = 5;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("connect failed: " + std::string(std::strerror(errno)));
    }
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the server closed; the reads will tell
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // One recv into the buffer; false on end of stream, error or timeout.
  bool fill() {
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  bool fill_to(std::size_t size) {
    while (buffer_.size() < size) {
      if (!fill()) return false;
    }
    return true;
  }

  std::string take(std::size_t n) {
    std::string out = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return out;
  }

  std::optional<std::string> read_line() {  // without the CRLF
    for (;;) {
      const std::size_t end = buffer_.find("\r\n");
      if (end != std::string::npos) {
        std::string line = take(end);
        buffer_.erase(0, 2);
        return line;
      }
      if (!fill()) return std::nullopt;
    }
  }

  // The status line and headers of a response.
  std::optional<Response> read_head() {
    Response response;
    const auto status_line = read_line();
    if (!status_line || status_line->size() < 12) return std::nullopt;
    response.status = std::stoi(status_line->substr(9, 3));
    for (;;) {
      const auto line = read_line();
      if (!line) return std::nullopt;
      if (line->empty()) return response;
      const std::size_t colon = line->find(':');
      std::string value = line->substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      response.headers[lower(line->substr(0, colon))] = value;
    }
  }

  // One chunk of a chunked body; "" for the last one, nullopt on a broken stream.
  std::optional<std::string> read_chunk() {
    const auto size_line = read_line();
    if (!size_line) return std::nullopt;
    const std::size_t size = std::stoul(*size_line, nullptr, 16);
    if (!fill_to(size + 2)) return std::nullopt;
    std::string data = take(size);
    buffer_.erase(0, 2);
    return data;
  }

  std::optional<Response> read_response(bool head = false) {
    auto response = read_head();
    if (!response) return std::nullopt;
    if (head || response->status < 200 || response->status == 204 || response->status == 304) {
      return response;
    }
    if (response->header("transfer-encoding") == "chunked") {
      for (;;) {
        auto chunk = read_chunk();
        if (!chunk) return std::nullopt;
        if (chunk->empty()) break;
        response->body += *chunk;
      }
      buffer_.erase(0, 2);  // the empty trailer
    } else if (!response->header("content-length").empty()) {
      const std::size_t size = std::stoul(response->header("content-length"));
      if (!fill_to(size)) return std::nullopt;
      response->body = take(size);
    } else {
      while (fill()) {
      }
      response->body = take(buffer_.size());
    }
    return response;
  }

  // Whether the server closes the connection (within the receive timeout) without sending more.
  bool closed_by_server() {
    if (!buffer_.empty()) return false;
    char byte = 0;
    const ssize_t n = ::recv(fd_, &byte, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  std::string& buffer() { return buffer_; }
  // Closes our side, as a peer does once it got what it wanted.
  void hang_up() { ::shutdown(fd_, SHUT_RDWR); }

 private:
  int fd_;
  std::string buffer_;
};

std::optional<Response> fetch(std::uint16_t port, const std::string& method,
                              const std::string& target, const std::string& extra = "") {
  Client client(port);
  client.send(method + " " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n");
  return client.read_response(method == "HEAD");
}

// ---------------------------------------------------------------------------------------------
// A WebSocket client (RFC 6455): masked frames out, unmasked frames in.

struct Frame {
  int opcode = 0;
  std::string payload;
  int close_code() const {
    return payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                     static_cast<unsigned char>(payload[1])
                               : 0;
  }
  std::string close_reason() const { return payload.size() > 2 ? payload.substr(2) : ""; }
};

class WsClient {
 public:
  explicit WsClient(std::uint16_t port, const std::string& target = "/v1/stream") : client_(port) {
    client_.send(
        "GET " + target +
        " HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    handshake = client_.read_head();
  }

  void send_frame(int opcode, std::string_view payload) {
    std::string frame;
    frame.push_back(static_cast<char>(0x80 | opcode));
    if (payload.size() < 126) {
      frame.push_back(static_cast<char>(0x80 | payload.size()));
    } else {
      frame.push_back(static_cast<char>(0x80 | 126));
      frame.push_back(static_cast<char>((payload.size() >> 8) & 0xFF));
      frame.push_back(static_cast<char>(payload.size() & 0xFF));
    }
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    frame.append(mask, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) {
      frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    }
    client_.send(frame);
  }
  void send_text(std::string_view text) { send_frame(0x1, text); }
  void send_close(int code) {
    const std::string payload{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    send_frame(0x8, payload);
  }

  std::optional<Frame> read_frame() {
    if (!client_.fill_to(2)) return std::nullopt;
    const auto b0 = static_cast<unsigned char>(client_.buffer()[0]);
    const auto b1 = static_cast<unsigned char>(client_.buffer()[1]);
    std::size_t header = 2;
    std::size_t size = b1 & 0x7Fu;
    if (size == 126) {
      if (!client_.fill_to(4)) return std::nullopt;
      size = (static_cast<unsigned char>(client_.buffer()[2]) << 8) |
             static_cast<unsigned char>(client_.buffer()[3]);
      header = 4;
    } else if (size == 127) {
      return std::nullopt;  // not used by these tests
    }
    if (!client_.fill_to(header + size)) return std::nullopt;
    client_.take(header);
    Frame frame;
    frame.opcode = b0 & 0x0F;
    frame.payload = client_.take(size);
    return frame;
  }

  Client& raw() { return client_; }
  std::optional<Response> handshake;

 private:
  Client client_;
};

// ---------------------------------------------------------------------------------------------
// The application side.

SharedText text(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

// Echoes WebSocket text ("echo <text>"); "close me" closes the client as too slow. SSE clients
// start with three events {"n":1..3}; ?fail=1 is refused with a 400.
class TestStreams : public StreamHandler {
 public:
  std::shared_ptr<StreamClient> connect(StreamClient::Wake wake) override {
    auto client = std::make_shared<StreamClient>(StreamLimits{}, std::move(wake));
    add(client);
    return client;
  }
  void on_message(const std::shared_ptr<StreamClient>& client, std::string_view message) override {
    if (message == "close me") {
      client->close("too slow: test", CloseKind::kTooSlow);
    } else {
      client->send(text("echo " + std::string(message)));
    }
  }
  std::variant<HttpResponse, std::shared_ptr<StreamClient>> open_sse(
      const HttpRequest& request, StreamClient::Wake wake) override {
    if (request.query_param("fail")) {
      return error_response(Status::invalid_argument("bad parameter").with_parameter("fail"));
    }
    auto client = std::make_shared<StreamClient>(StreamLimits{}, std::move(wake));
    for (int i = 1; i <= 3; ++i) client->send(text(R"({"n":)" + std::to_string(i) + "}"));
    add(client);
    return client;
  }
  void disconnect(const std::shared_ptr<StreamClient>& client) override {
    std::lock_guard lock(mutex_);
    ++disconnects_[client.get()];
    changed_.notify_all();
  }

  // The n-th client opened (0-based), waiting for it.
  std::shared_ptr<StreamClient> client(std::size_t n) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 5s, [&] { return clients_.size() > n; });
    return clients_.size() > n ? clients_[n] : nullptr;
  }
  // How often disconnect() was called for `client`, after waiting for at least `at_least`.
  int disconnects(const std::shared_ptr<StreamClient>& client, int at_least = 1) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 5s, [&] { return disconnects_[client.get()] >= at_least; });
    return disconnects_[client.get()];
  }

 private:
  void add(const std::shared_ptr<StreamClient>& client) {
    std::lock_guard lock(mutex_);
    clients_.push_back(client);
    changed_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::shared_ptr<StreamClient>> clients_;
  std::map<const StreamClient*, int> disconnects_;
};

HttpResponse json_response(std::string body) {
  HttpResponse response;
  response.body = std::move(body);
  return response;
}

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() {
    router_.add("GET", "/healthz", {},
                [](const HttpRequest&) { return json_response(R"({"status":"ok"})"); });
    router_.add("GET", "/v1/assets/{symbol}", {}, [](const HttpRequest& request) {
      auto response = json_response(json{{"symbol", request.path_param("symbol")},
                                         {"interval", request.query_param("interval").value_or("")},
                                         {"agent", request.header("user-agent")}}
                                        .dump());
      response.headers.emplace_back("X-Test", "yes");
      return response;
    });
    router_.add("POST", "/v1/echo", {}, [](const HttpRequest& request) {
      HttpResponse response = json_response(request.body);
      response.content_type = std::string(request.header("content-type"));
      return response;
    });
    router_.add("GET", "/v1/throw", {},
                [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
    router_.add("GET", "/v1/slow", {}, [this](const HttpRequest&) {
      slow_started_ = true;
      std::this_thread::sleep_for(300ms);
      return json_response(R"({"slow":true})");
    });
    router_.add("GET", "/v1/wait", {}, [this](const HttpRequest&) {
      std::unique_lock lock(wait_mutex_);
      ++waiting_;
      wait_cv_.notify_all();
      wait_cv_.wait(lock, [this] { return released_; });
      return json_response(R"({"waited":true})");
    });
    router_.add("GET", "/v1/stream", {}, nullptr, RouteKind::kWebSocket);
    router_.add("GET", "/v1/stream/sse", {}, nullptr, RouteKind::kSse);
    router_.add(
        "GET", "/", {},
        [](const HttpRequest&) {
          HttpResponse response;
          response.content_type = "text/plain";
          response.body = "no web UI";
          return response;
        },
        RouteKind::kStatic);
  }

  ~HttpServerTest() override { stop(); }

  void start(ServerOptions options = {}) {
    options.bind = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    server_ = std::make_unique<HttpServer>(options, router_, streams_, metrics_);
    server_->on_drain = [this] { drained_ = true; };
    const Status status = server_->listen();
    ASSERT_TRUE(status.ok()) << status.message();
    port_ = server_->port();
    ASSERT_NE(port_, 0);
    thread_ = std::thread([this] {
      server_->run(false);
      returned_ = true;
    });
  }

  // Stops the server; returns how long run() took to return.
  std::chrono::milliseconds stop() {
    const auto begin = std::chrono::steady_clock::now();
    if (thread_.joinable()) {
      server_->stop();
      thread_.join();
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 begin);
  }

  Router router_;
  TestStreams streams_;
  Metrics metrics_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  std::atomic<bool> slow_started_{false};
  std::mutex wait_mutex_;  // /v1/wait: waits until released_
  std::condition_variable wait_cv_;
  int waiting_ = 0;
  bool released_ = false;
  std::atomic<bool> drained_{false};
  std::atomic<bool> returned_{false};
};

// ---------------------------------------------------------------------------------------------
// Plain requests.

TEST_F(HttpServerTest, ServesJsonRouteWithDecodedParams) {
  // A plain route gets its decoded path parameter, query and headers; its JSON comes back with
  // the server's headers and the handler's own.
  start();
  const auto response = fetch(port_, "GET", "/v1/assets/S%20P?interval=1m", "User-Agent: t\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(response->header("server"), "tickgraph");
  EXPECT_EQ(response->header("x-test"), "yes");
  EXPECT_EQ(response->body_json(), json({{"symbol", "S P"}, {"interval", "1m"}, {"agent", "t"}}));
}

TEST_F(HttpServerTest, HandlersThatWaitDoNotHoldTheIoThreads) {
  // More requests waiting in their handlers (on a store, say) than there are io threads (2): the
  // server still answers another connection at once, because handlers run on their own pool.
  start();
  std::vector<std::thread> waiters;
  std::vector<int> statuses(3, 0);
  auto release = [&] {  // on every way out, so that the waiters end
    {
      std::lock_guard lock(wait_mutex_);
      released_ = true;
    }
    wait_cv_.notify_all();
    for (auto& t : waiters) {
      if (t.joinable()) t.join();
    }
  };
  struct Guard {
    std::function<void()> f;
    ~Guard() { f(); }
  } guard{release};
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    waiters.emplace_back([this, i, &statuses] {
      const auto response = fetch(port_, "GET", "/v1/wait");
      statuses[i] = response ? response->status : -1;
    });
  }
  {
    std::unique_lock lock(wait_mutex_);
    ASSERT_TRUE(wait_cv_.wait_for(lock, 5s, [this] { return waiting_ == 3; }))
        << waiting_ << " of 3 requests reached their handler";
  }
  const auto other = fetch(port_, "GET", "/v1/assets/X");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  release();
  EXPECT_EQ(statuses, std::vector<int>(3, 200));
}

TEST_F(HttpServerTest, UnknownRouteIsJson404) {
  // A path no route claims answers 404 with a JSON error naming the path.
  start();
  const auto response = fetch(port_, "GET", "/v1/nope");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  const json body = response->body_json();
  EXPECT_EQ(body["code"], "not_found");
  EXPECT_EQ(body["details"]["route"], "/v1/nope");
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllow) {
  // A known path with another method answers 405 and lists the allowed methods.
  start();
  const auto response = fetch(port_, "DELETE", "/healthz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->header("allow"), "GET, HEAD");
  EXPECT_EQ(response->body_json()["code"], "method_not_allowed");
}

TEST_F(HttpServerTest, HeadSendsHeadersWithoutBody) {
  // HEAD gets GET's headers (Content-Length included) and no body: the next response on the
  // same connection starts right after the headers.
  start();
  Client client(port_);
  client.send("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  const auto head = client.read_response(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-length"), "15");
  EXPECT_EQ(head->header("content-type"), "application/json");
  const auto get = client.read_response();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, R"({"status":"ok"})");
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  // One connection serves requests one after another and pipelined, in order.
  start();
  Client client(port_);
  for (int i = 0; i < 5; ++i) {
    client.send("GET /v1/assets/A" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n");
    const auto response = client.read_response();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->body_json()["symbol"], "A" + std::to_string(i));
  }
  client.send(
      "GET /v1/assets/X HTTP/1.1\r\nHost: t\r\n\r\nGET /v1/nope HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /v1/assets/Y HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(client.read_response()->body_json()["symbol"], "X");
  EXPECT_EQ(client.read_response()->status, 404);
  const auto last = client.read_response();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->body_json()["symbol"], "Y");
  EXPECT_EQ(last->header("connection"), "close");
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(HttpServerTest, OversizedBodyIs413) {
  // A body over max_body_bytes is refused with 413 before the handler runs.
  ServerOptions options;
  options.max_body_bytes = 1024;
  start(options);
  Client client(port_);
  const std::string body(4096, 'x');
  client.send(
      "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Content-Length: 4096\r\n\r\n" +
      body);
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->body_json()["code"], "payload_too_large");
  EXPECT_EQ(response->header("connection"), "close");
  // A body within the limit still works.
  const auto small = fetch(port_, "POST", "/v1/echo",
                           "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->status, 200);
}

TEST_F(HttpServerTest, HugeHeaderIs431) {
  // Headers over max_header_bytes are refused with 431 and a JSON body.
  ServerOptions options;
  options.max_header_bytes = 1024;
  start(options);
  const auto response =
      fetch(port_, "GET", "/healthz", "X-Big: " + std::string(4000, 'a') + "\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->body_json()["code"], "request_header_fields_too_large");
}

TEST_F(HttpServerTest, BodyMustBeJsonOrYaml) {
  // A body that is neither JSON nor YAML gets 415; JSON with a charset and YAML pass.
  start();
  const auto plain =
      fetch(port_, "POST", "/v1/echo", "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 415);
  EXPECT_EQ(plain->body_json()["code"], "unsupported_media_type");
  EXPECT_EQ(plain->body_json()["details"]["content_type"], "text/plain");
  const auto missing = fetch(port_, "POST", "/v1/echo", "Content-Length: 2\r\n\r\n{}");
  EXPECT_EQ(missing->status, 415);
  const auto charset =
      fetch(port_, "POST", "/v1/echo",
            "Content-Type: Application/JSON; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(charset->status, 200);
  EXPECT_EQ(charset->body, "{}");
  const auto yaml = fetch(port_, "POST", "/v1/echo",
                          "Content-Type: application/yaml\r\nContent-Length: 5\r\n\r\na: 1\n");
  EXPECT_EQ(yaml->status, 200);
  EXPECT_EQ(yaml->body, "a: 1\n");
}

TEST_F(HttpServerTest, MalformedRequestIs400AndServerGoesOn) {
  // Garbage instead of a request line gets a JSON 400 and a closed connection; the next
  // connection is served.
  start();
  {
    Client client(port_);
    client.send("THIS IS NOT HTTP\r\n\r\n");
    const auto response = client.read_response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 400);
    EXPECT_EQ(response->body_json()["code"], "invalid_argument");
    EXPECT_TRUE(client.closed_by_server());
  }
  const auto next = fetch(port_, "GET", "/healthz");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, BadPercentEncodingIs400NamingTarget) {
  // A target whose percent-encoding is broken gets a 400 naming the target.
  start();
  const auto response = fetch(port_, "GET", "/v1/assets/%zz?x=1");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(response->body_json()["details"]["target"], "/v1/assets/%zz?x=1");
}

TEST_F(HttpServerTest, ThrowingHandlerIs500AndConnectionGoesOn) {
  // A handler's exception becomes a JSON 500 with its message; the connection keeps serving.
  start();
  Client client(port_);
  client.send("GET /v1/throw HTTP/1.1\r\nHost: t\r\n\r\n");
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->body_json()["code"], "internal");
  EXPECT_EQ(response->body_json()["message"], "boom");
  client.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  const auto next = client.read_response();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, ExpectContinueGetsInterimResponse) {
  // A client that waits for "100 Continue" before its body (curl does for large bodies) gets it.
  start();
  Client client(port_);
  client.send(
      "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  const auto interim = client.read_head();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  client.send("{}");
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "{}");
}

TEST_F(HttpServerTest, CountsRequestsByRouteAndStatus) {
  // Requests are counted per route label and status; 404s as "unmatched".
  start();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(fetch(port_, "GET", "/healthz")->status, 200);
  ASSERT_EQ(fetch(port_, "GET", "/v1/nope")->status, 404);
  const std::string text = metrics_.render();
  EXPECT_NE(text.find(R"(tickgraph_http_requests_total{route="GET /healthz",status="200"} 3)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(tickgraph_http_requests_total{route="unmatched",status="404"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(tickgraph_http_request_duration_seconds_count{route="GET /healthz"} 3)"),
            std::string::npos);
  EXPECT_NE(text.find("tickgraph_http_in_flight_requests 0"), std::string::npos);
}

TEST_F(HttpServerTest, ListenFailureNamesAddressAndReason) {
  // Binding a port that is taken fails with a message naming the address and the reason.
  start();
  ServerOptions options;
  options.port = port_;
  HttpServer second(options, router_, streams_, metrics_);
  const Status status = second.listen();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("127.0.0.1:" + std::to_string(port_)), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("in use"), std::string::npos) << status.message();
}

// ---------------------------------------------------------------------------------------------
// WebSocket.

TEST_F(HttpServerTest, WebSocketEchoesThroughStreamClient) {
  // A WebSocket upgrade answers with the RFC 6455 accept key; a text frame reaches on_message
  // and what the handler queues on the client comes back as text frames, in order.
  start();
  WsClient ws(port_);
  ASSERT_TRUE(ws.handshake);
  EXPECT_EQ(ws.handshake->status, 101);
  EXPECT_EQ(ws.handshake->header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  ws.send_text("hello");
  ws.send_text("again");
  for (const std::string expected : {"echo hello", "echo again"}) {
    const auto frame = ws.read_frame();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->opcode, 0x1);
    EXPECT_EQ(frame->payload, expected);
  }
  // Messages pushed from another thread arrive too.
  const auto client = streams_.client(0);
  ASSERT_TRUE(client);
  std::thread pusher([&] {
    for (int i = 0; i < 100; ++i) client->send(text(std::to_string(i)));
  });
  pusher.join();
  for (int i = 0; i < 100; ++i) {
    const auto frame = ws.read_frame();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->payload, std::to_string(i));
  }
}

TEST_F(HttpServerTest, WebSocketClientCloseDisconnectsOnce) {
  // A client's close frame is answered and disconnect() runs exactly once.
  start();
  WsClient ws(port_);
  ASSERT_EQ(ws.handshake->status, 101);
  const auto client = streams_.client(0);
  ASSERT_TRUE(client);
  ws.send_close(1000);
  const auto frame = ws.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, 0x8);
  EXPECT_EQ(frame->close_code(), 1000);
  EXPECT_TRUE(ws.raw().closed_by_server());
  ws.raw().hang_up();
  EXPECT_EQ(streams_.disconnects(client), 1);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(streams_.disconnects(client), 1);
  EXPECT_TRUE(client->closed());
}

TEST_F(HttpServerTest, ClosedStreamClientSendsPolicyCloseWithReason) {
  // A client the application closes ("too slow: …") gets close code 1008 with that reason.
  start();
  WsClient ws(port_);
  ASSERT_EQ(ws.handshake->status, 101);
  ws.send_text("close me");
  const auto frame = ws.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, 0x8);
  EXPECT_EQ(frame->close_code(), 1008);
  EXPECT_EQ(frame->close_reason(), "too slow: test");
  ws.send_close(1000);
  EXPECT_TRUE(ws.raw().closed_by_server());
  ws.raw().hang_up();
  EXPECT_EQ(streams_.disconnects(streams_.client(0)), 1);
}

TEST_F(HttpServerTest, LongCloseReasonIsTruncatedOnCharacterBoundary) {
  // A close reason longer than a close frame allows is cut to 123 bytes of valid UTF-8.
  start();
  WsClient ws(port_);
  ASSERT_EQ(ws.handshake->status, 101);
  std::string reason = "too slow: ";
  while (reason.size() < 200) reason += "é";  // two bytes each
  streams_.client(0)->close(reason, CloseKind::kTooSlow);
  const auto frame = ws.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->close_code(), 1008);
  EXPECT_LE(frame->close_reason().size(), 123u);
  EXPECT_GE(frame->close_reason().size(), 122u);
  EXPECT_EQ(reason.compare(0, frame->close_reason().size(), frame->close_reason()), 0);
  EXPECT_EQ((frame->close_reason().size() - 10) % 2, 0u);  // no half character
}

TEST_F(HttpServerTest, BinaryFrameClosesWithPolicyError) {
  // Binary frames are not part of the protocol: the server closes with 1008.
  start();
  WsClient ws(port_);
  ASSERT_EQ(ws.handshake->status, 101);
  ws.send_frame(0x2, "\x01\x02");
  const auto frame = ws.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, 0x8);
  EXPECT_EQ(frame->close_code(), 1008);
  ws.send_close(1000);
  EXPECT_TRUE(ws.raw().closed_by_server());
  ws.raw().hang_up();
  EXPECT_EQ(streams_.disconnects(streams_.client(0)), 1);
}

TEST_F(HttpServerTest, WebSocketRouteWithoutUpgradeIs426) {
  // A plain GET on the WebSocket route says an upgrade is required.
  start();
  const auto response = fetch(port_, "GET", "/v1/stream");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 426);
  EXPECT_EQ(response->body_json()["code"], "upgrade_required");
  EXPECT_EQ(response->header("upgrade"), "websocket");
}

TEST_F(HttpServerTest, RefusedHandshakeIsJsonError) {
  // An upgrade without Sec-WebSocket-Key is refused with a JSON 400, not Beast's plain text.
  start();
  const auto response = fetch(port_, "GET", "/v1/stream",
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Version: 13\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(response->body_json()["code"], "invalid_argument");
}

// ---------------------------------------------------------------------------------------------
// SSE.

// `n` events from a chunked SSE body (a chunk may hold several), or what came before it broke.
std::string read_events(Client& client, int n) {
  std::string events;
  std::size_t count = 0;
  while (count < static_cast<std::size_t>(n)) {
    const auto chunk = client.read_chunk();
    if (!chunk || chunk->empty()) break;
    events += *chunk;
    count = 0;
    for (std::size_t at = events.find("\n\n"); at != std::string::npos;
         at = events.find("\n\n", at + 2)) {
      ++count;
    }
  }
  return events;
}

TEST_F(HttpServerTest, SseDeliversEventsInOrderThenCloseEvent) {
  // An SSE stream sends the queued events, then pushed ones as they come, each as its own
  // chunk, and ends with a close event carrying the reason.
  start();
  Client client(port_);
  client.send("GET /v1/stream/sse?assets=SPX HTTP/1.1\r\nHost: t\r\n\r\n");
  const auto head = client.read_head();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-type"), "text/event-stream");
  EXPECT_EQ(head->header("cache-control"), "no-cache");
  EXPECT_EQ(head->header("transfer-encoding"), "chunked");
  EXPECT_EQ(read_events(client, 3), "data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: {\"n\":3}\n\n");

  const auto stream = streams_.client(0);
  ASSERT_TRUE(stream);
  stream->send(text(R"({"n":4})"));
  const auto fourth = client.read_chunk();  // arrives while the stream stays open
  ASSERT_TRUE(fourth);
  EXPECT_EQ(*fourth, "data: {\"n\":4}\n\n");

  stream->close("too slow: \"quoted\"", CloseKind::kTooSlow);
  const auto last = client.read_chunk();
  ASSERT_TRUE(last);
  EXPECT_EQ(*last,
            "event: close\ndata: {\"error\":{\"code\":\"too_slow\",\"details\":{},\"message\":"
            "\"too slow: \\\"quoted\\\"\"}}\n\n");
  EXPECT_EQ(client.read_chunk(), std::string());
  EXPECT_EQ(streams_.disconnects(stream), 1);
}

TEST_F(HttpServerTest, QuietSseStreamOutlivesIdleTimeout) {
  // An SSE stream with nothing to say stays open past idle_timeout (which only bounds writes)
  // and still delivers what comes later.
  ServerOptions options;
  options.idle_timeout = std::chrono::seconds(1);
  start(options);
  Client client(port_);
  client.send("GET /v1/stream/sse HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(client.read_head());
  ASSERT_EQ(read_events(client, 3).size(), 3 * std::string("data: {\"n\":1}\n\n").size());
  std::this_thread::sleep_for(2500ms);
  streams_.client(0)->send(text(R"({"n":4})"));
  const auto chunk = client.read_chunk();
  ASSERT_TRUE(chunk);
  EXPECT_EQ(*chunk, "data: {\"n\":4}\n\n");
}

TEST_F(HttpServerTest, SseClientGoingAwayDisconnects) {
  // A client that closes its SSE connection is noticed without any write.
  start();
  {
    Client client(port_);
    client.send("GET /v1/stream/sse HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(client.read_head());
  }
  const auto stream = streams_.client(0);
  ASSERT_TRUE(stream);
  EXPECT_EQ(streams_.disconnects(stream), 1);
}

TEST_F(HttpServerTest, SseHandlerErrorIsNormalResponse) {
  // When open_sse answers with an error, it is sent as an ordinary JSON response.
  start();
  const auto response = fetch(port_, "GET", "/v1/stream/sse?fail=1");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(response->body_json()["details"]["parameter"], "fail");
}

// ---------------------------------------------------------------------------------------------
// Static files.

class StaticFilesTest : public HttpServerTest {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tickgraph_http_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "web" / "assets");
    write(dir_ / "secret.txt", "secret");
    write(dir_ / "web" / "index.html", "<html>app</html>");
    write(dir_ / "web" / "robots.txt", "User-agent: *");
    write(dir_ / "web" / "assets" / "app-1234.js", "console.log(1)");
    ServerOptions options;
    options.web_root = (dir_ / "web").string();
    start(options);
  }
  void TearDown() override {
    stop();
    std::filesystem::remove_all(dir_);
  }
  static void write(const std::filesystem::path& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
  }
  std::filesystem::path dir_;
};

TEST_F(StaticFilesTest, ServesFilesWithTypesAndCaching) {
  // Files come with their content type; hashed assets are immutable, index.html is not cached.
  const auto index = fetch(port_, "GET", "/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->body, "<html>app</html>");
  EXPECT_EQ(index->header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(index->header("cache-control"), "no-cache");
  const auto js = fetch(port_, "GET", "/assets/app-1234.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->body, "console.log(1)");
  EXPECT_EQ(js->header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js->header("cache-control"), "public, max-age=31536000, immutable");
  const auto robots = fetch(port_, "GET", "/robots.txt");
  EXPECT_EQ(robots->header("content-type"), "text/plain; charset=utf-8");
  const auto head = fetch(port_, "HEAD", "/assets/app-1234.js");
  EXPECT_EQ(head->header("content-length"), "14");
}

TEST_F(StaticFilesTest, ClientRoutesFallBackToIndex) {
  // Paths without an extension are the single-page app's routes: index.html. Missing files
  // with an extension are 404.
  const auto route = fetch(port_, "GET", "/charts/SPX");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->status, 200);
  EXPECT_EQ(route->body, "<html>app</html>");
  const auto missing = fetch(port_, "GET", "/assets/missing.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body_json()["code"], "not_found");
}

TEST_F(StaticFilesTest, TraversalIsRejected) {
  // ".." never leaves the web root, plain or percent-encoded; "//" does not make a path absolute.
  for (const std::string target :
       {"/../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt"}) {
    const auto response = fetch(port_, "GET", target);
    ASSERT_TRUE(response) << target;
    EXPECT_EQ(response->status, 404) << target;
    EXPECT_EQ(response->body.find("secret\""), std::string::npos);
    EXPECT_NE(response->body, "secret");
  }
  const auto absolute = fetch(port_, "GET", "/" + (dir_ / "secret.txt").string());
  ASSERT_TRUE(absolute);
  EXPECT_NE(absolute->body, "secret");
}

TEST_F(HttpServerTest, StaticRouteHandlerRunsWithoutWebRoot) {
  // Without a web root the static route's own handler answers.
  start();
  const auto response = fetch(port_, "GET", "/anything");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "no web UI");
}

// ---------------------------------------------------------------------------------------------
// Drain.

TEST_F(HttpServerTest, StopLetsInFlightRequestFinish) {
  // stop() while a slow handler runs: the handler's response still arrives, with
  // Connection: close, on_drain ran, and run() returns.
  start();
  Client slow(port_);
  Client idle(port_);
  idle.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_EQ(idle.read_response()->status, 200);
  slow.send("GET /v1/slow HTTP/1.1\r\nHost: t\r\n\r\n");
  while (!slow_started_) std::this_thread::sleep_for(1ms);
  std::thread stopper([this] { stop(); });
  const auto response = slow.read_response();
  stopper.join();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, R"({"slow":true})");
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(slow.closed_by_server());
  EXPECT_TRUE(idle.closed_by_server());  // the idle keep-alive connection was closed
  EXPECT_TRUE(drained_);
  EXPECT_TRUE(returned_);
  EXPECT_THROW(Client{port_}, std::runtime_error);  // no longer accepting
}

TEST_F(HttpServerTest, StopClosesStreamsGoingAway) {
  // stop() closes WebSocket clients with 1001 and SSE clients with a close event, then returns.
  start();
  WsClient ws(port_);
  ASSERT_EQ(ws.handshake->status, 101);
  Client sse(port_);
  sse.send("GET /v1/stream/sse HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(sse.read_head());
  ASSERT_EQ(read_events(sse, 3), "data: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: {\"n\":3}\n\n");
  ASSERT_TRUE(streams_.client(1));

  std::thread stopper([this] { stop(); });
  const auto frame = ws.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, 0x8);
  EXPECT_EQ(frame->close_code(), 1001);
  EXPECT_EQ(frame->close_reason(), "server shutting down");
  ws.send_close(1001);
  EXPECT_TRUE(ws.raw().closed_by_server());
  ws.raw().hang_up();
  const auto last = sse.read_chunk();
  ASSERT_TRUE(last);
  EXPECT_EQ(*last,
            "event: close\ndata: {\"error\":{\"code\":\"unavailable\",\"details\":{},"
            "\"message\":\"server shutting down\"}}\n\n");
  stopper.join();
  EXPECT_TRUE(returned_);
  EXPECT_EQ(streams_.disconnects(streams_.client(0)), 1);
  EXPECT_EQ(streams_.disconnects(streams_.client(1)), 1);
}

TEST_F(HttpServerTest, StopBeforeRunReturnsAtOnce) {
  // stop() before run(): run() drains at once instead of serving.
  ServerOptions options;
  options.port = 0;
  HttpServer server(options, router_, streams_, metrics_);
  ASSERT_TRUE(server.listen().ok());
  server.stop();
  const auto begin = std::chrono::steady_clock::now();
  server.run(false);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1s);
}

TEST_F(HttpServerTest, DrainTimeoutBoundsStop) {
  // A WebSocket peer that never answers the close frame cannot hold the drain past its timeout.
  ServerOptions options;
  options.drain_timeout = std::chrono::seconds(1);
  start(options);
  WsClient ws(port_);
  ASSERT_EQ(ws.handshake->status, 101);
  const auto took = stop();
  EXPECT_TRUE(returned_);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(streams_.disconnects(streams_.client(0)), 1);
}

}  // namespace
}  // namespace tickgraph::server
