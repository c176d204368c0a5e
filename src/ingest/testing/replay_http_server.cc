#include "ingest/testing/replay_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace tickgraph::ingest::testing {

namespace {

constexpr std::size_t kMaxHead = std::size_t{64} * 1024;
constexpr std::chrono::milliseconds kReadTimeout{5000};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

std::runtime_error socket_error(const char* what) {
  return std::runtime_error(std::string("replay server: ") + what + ": " + std::strerror(errno));
}

// Writes all of `data`; false when the peer is gone.
bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

ReplayResponse json_response(int status, std::string body) {
  ReplayResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json;charset=utf-8"}};
  r.body = std::move(body);
  return r;
}

std::optional<std::string> RecordedRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return std::nullopt;
}

ReplayHttpServer::ReplayHttpServer(std::vector<ReplayResponse> script)
    : script_(std::move(script)) {
  std::array<int, 2> wake{};
  if (::pipe2(wake.data(), O_CLOEXEC) != 0) throw socket_error("pipe");
  wake_read_fd_ = wake[0];
  wake_write_fd_ = wake[1];

  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) {
    const auto error = socket_error("socket");
    close_fd(wake_read_fd_);
    close_fd(wake_write_fd_);
    throw error;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;  // ephemeral
  socklen_t length = sizeof(address);
  // sockaddr_in and sockaddr are layout-compatible by the socket API's design.
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  if (::bind(listen_fd_, generic, sizeof(address)) != 0 || ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, generic, &length) != 0) {
    const auto error = socket_error("bind/listen on 127.0.0.1");
    close_fd(listen_fd_);
    close_fd(wake_read_fd_);
    close_fd(wake_write_fd_);
    throw error;
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

ReplayHttpServer::~ReplayHttpServer() {
  const char byte = 1;
  while (::write(wake_write_fd_, &byte, 1) < 0 && errno == EINTR) {
  }
  if (thread_.joinable()) thread_.join();
  close_fd(listen_fd_);
  close_fd(wake_read_fd_);
  close_fd(wake_write_fd_);
}

std::string ReplayHttpServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::vector<RecordedRequest> ReplayHttpServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t ReplayHttpServer::responses_used() const {
  std::lock_guard lock(mutex_);
  return std::min(next_, script_.size());
}

ReplayHttpServer::Wait ReplayHttpServer::wait_readable(int fd,
                                                       std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::array<pollfd, 2> fds{{{fd, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}}};
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long>(left.count(), 0)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || fds[1].revents != 0) return Wait::kStop;
    if (fds[0].revents != 0) return Wait::kReadable;
    if (left.count() <= 0) return Wait::kTimeout;
  }
}

void ReplayHttpServer::serve() {
  for (;;) {
    std::array<pollfd, 2> fds{{{listen_fd_, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}}};
    const int n = ::poll(fds.data(), fds.size(), -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    handle(fd);
    close_fd(fd);
  }
}

void ReplayHttpServer::handle(int fd) {
  // Request head.
  std::string data;
  std::size_t head_end = std::string::npos;
  std::array<char, 4096> buffer{};
  auto read_more = [&]() {
    if (wait_readable(fd, kReadTimeout) != Wait::kReadable) return false;
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) return false;
    data.append(buffer.data(), static_cast<std::size_t>(n));
    return true;
  };
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (data.size() > kMaxHead || !read_more()) return;
  }

  RecordedRequest request;
  std::string_view head(data.data(), head_end);
  const std::size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const std::size_t space1 = request_line.find(' ');
  const std::size_t space2 = request_line.rfind(' ');
  if (space1 == std::string_view::npos || space2 == space1) return;
  request.method = request_line.substr(0, space1);
  request.target = request_line.substr(space1 + 1, space2 - space1 - 1);
  std::size_t content_length = 0;
  if (line_end != std::string_view::npos) {
    std::string_view rest = head.substr(line_end + 2);
    while (!rest.empty()) {
      const std::size_t eol = rest.find("\r\n");
      const std::string_view line = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 2);
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name(trim(line.substr(0, colon)));
      std::string value(trim(line.substr(colon + 1)));
      if (iequals(name, "Content-Length")) {
        const auto [end, error] =
            std::from_chars(value.data(), value.data() + value.size(), content_length);
        if (error != std::errc() || end != value.data() + value.size()) return;
      }
      request.headers.emplace_back(std::move(name), std::move(value));
    }
  }
  const std::size_t body_start = head_end + 4;
  while (data.size() < body_start + content_length) {
    if (!read_more()) return;
  }
  request.body = data.substr(body_start, content_length);

  ReplayResponse response;
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(std::move(request));
    if (next_ < script_.size()) {
      response = script_[next_];
    } else {
      response.status = 500;
      response.body = "replay script exhausted";
    }
    ++next_;
  }

  if (response.delay.count() > 0 && wait_readable(fd, response.delay) != Wait::kTimeout) {
    return;  // the client hung up (or sent more than one request), or the server is stopping
  }
  if (response.close_without_response) return;

  std::string out =
      "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status) + "\r\n";
  bool has_length = false;
  bool has_connection = false;
  for (const auto& [name, value] : response.headers) {
    has_length = has_length || iequals(name, "Content-Length");
    has_connection = has_connection || iequals(name, "Connection");
    out += name + ": " + value + "\r\n";
  }
  if (!has_length) out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  if (!has_connection) out += "Connection: close\r\n";
  out += "\r\n";
  const std::size_t body_bytes =
      std::min(response.body.size(), response.close_after_body_bytes.value_or(std::string::npos));
  out.append(response.body, 0, body_bytes);
  if (!send_all(fd, out)) return;
  ::shutdown(fd, SHUT_WR);
}

}  // namespace tickgraph::ingest::testing
