#include "ingest/testing/nats_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace tickgraph::ingest::testing {

namespace {

constexpr int kStartTimeoutMs = 10000;
constexpr int kStopTimeoutMs = 5000;

std::string errno_text() { return std::strerror(errno); }

const char* server_binary() {
  const char* env = std::getenv("TICKGRAPH_NATS_SERVER");
  return env != nullptr && *env != '\0' ? env : "/usr/sbin/nats-server";
}

// A port the kernel considers free right now (it could be taken before the server binds it,
// which start reports as a server that exits at once).
Result<int> free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::unavailable("socket: " + errno_text());
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  if (::bind(fd, generic, sizeof(address)) != 0 || ::getsockname(fd, generic, &length) != 0) {
    const std::string error = errno_text();
    ::close(fd);
    return Status::unavailable("cannot find a free port: " + error);
  }
  ::close(fd);
  return static_cast<int>(ntohs(address.sin_port));
}

bool port_accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

std::string cluster_url(int port) { return "nats://127.0.0.1:" + std::to_string(port); }

}  // namespace

Result<std::unique_ptr<NatsServer>> NatsServer::start() {
  auto port = free_port();
  if (!port.ok()) return port.status();
  Config config;
  config.port = *port;
  return start(std::move(config));
}

Result<std::unique_ptr<NatsServer>> NatsServer::start(Config config) {
  std::unique_ptr<NatsServer> server(new NatsServer());
  server->config_ = std::move(config);
  std::string pattern = (std::filesystem::temp_directory_path() / "tickgraph-nats-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return Status::unavailable("nats-server: cannot create a temporary directory: " + errno_text());
  }
  server->dir_ = pattern;
  if (Status s = server->launch(); !s.ok()) return s;
  return server;
}

NatsServer::~NatsServer() {
  if (running()) (void)stop();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string NatsServer::url() const { return "nats://127.0.0.1:" + std::to_string(config_.port); }

Status NatsServer::launch() {
  if (running())
    return Status::unavailable("nats-server on port " + std::to_string(port()) +
                               ": already running");
  // Everything the child needs is prepared before fork: between fork and exec a child of a
  // multi-threaded process may only make async-signal-safe calls.
  std::vector<std::string> args = {server_binary(), "-js",          "-a",
                                   "127.0.0.1",     "-p",           std::to_string(config_.port),
                                   "-sd",           dir_ + "/store"};
  if (!config_.name.empty()) args.insert(args.end(), {"-n", config_.name});
  if (config_.cluster_port != 0) {
    args.insert(args.end(), {"--cluster", cluster_url(config_.cluster_port), "--cluster_name",
                             config_.cluster_name});
    std::string routes;
    for (const int route_port : config_.route_ports) {
      routes += (routes.empty() ? "" : ",") + cluster_url(route_port);
    }
    if (!routes.empty()) args.insert(args.end(), {"--routes", routes});
  }
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const std::string log_path = dir_ + "/server.log";
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    return Status::unavailable("nats-server: cannot open " + log_path + ": " + errno_text());
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return Status::unavailable("nats-server: fork failed: " + errno_text());
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);  // the test died before prctl
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = pid;
  return wait_until_accepting(kStartTimeoutMs);
}

Status NatsServer::wait_until_accepting(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::unavailable("nats-server on port " + std::to_string(port()) +
                                 " exited at start (status " + std::to_string(status) +
                                 "): " + log_tail());
    }
    if (port_accepts(port())) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (void)signal_and_wait(SIGKILL, kStopTimeoutMs);
  return Status::unavailable("nats-server on port " + std::to_string(port()) +
                             " did not accept within " + std::to_string(timeout_ms) +
                             " ms: " + log_tail());
}

Status NatsServer::signal_and_wait(int signal, int timeout_ms) {
  if (!running()) return {};
  if (::kill(pid_, signal) != 0 && errno != ESRCH) {
    return Status::unavailable("nats-server pid " + std::to_string(pid_) +
                               ": kill failed: " + errno_text());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_ || (done < 0 && errno == ECHILD)) {
      pid_ = -1;
      return {};
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::unavailable("nats-server pid " + std::to_string(pid_) + " still runs " +
                                 std::to_string(timeout_ms) + " ms after signal " +
                                 std::to_string(signal));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Status NatsServer::kill() { return signal_and_wait(SIGKILL, kStopTimeoutMs); }

Status NatsServer::stop() {
  if (signal_and_wait(SIGTERM, kStopTimeoutMs).ok()) return {};
  return signal_and_wait(SIGKILL, kStopTimeoutMs);
}

Status NatsServer::restart() {
  if (running()) {
    if (Status s = stop(); !s.ok()) return s;
  }
  return launch();
}

std::string NatsServer::log_tail(std::size_t bytes) const {
  std::ifstream in(dir_ + "/server.log", std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::string all = text.str();
  return all.size() > bytes ? "…" + all.substr(all.size() - bytes) : all;
}

Result<std::unique_ptr<NatsCluster>> NatsCluster::start(int nodes) {
  std::vector<int> ports;
  std::vector<int> cluster_ports;
  for (int i = 0; i < nodes; ++i) {
    auto port = free_port();
    auto cluster_port = free_port();
    if (!port.ok()) return port.status();
    if (!cluster_port.ok()) return cluster_port.status();
    ports.push_back(*port);
    cluster_ports.push_back(*cluster_port);
  }
  std::unique_ptr<NatsCluster> cluster(new NatsCluster());
  for (int i = 0; i < nodes; ++i) {
    NatsServer::Config config;
    config.port = ports[static_cast<std::size_t>(i)];
    config.name = "tickgraph-n" + std::to_string(i);
    config.cluster_port = cluster_ports[static_cast<std::size_t>(i)];
    config.cluster_name = "tickgraph-test";
    for (int j = 0; j < nodes; ++j) {
      if (j != i) config.route_ports.push_back(cluster_ports[static_cast<std::size_t>(j)]);
    }
    auto node = NatsServer::start(std::move(config));
    if (!node.ok())
      return Status::unavailable("cluster node " + std::to_string(i) + ": " + node.message());
    cluster->nodes_.push_back(std::move(node).value());
  }
  if (Status s = wait_for_jetstream(cluster->urls(), 30000); !s.ok()) return s;
  return cluster;
}

std::vector<std::string> NatsCluster::urls() const {
  std::vector<std::string> out;
  out.reserve(nodes_.size());
  for (const auto& node : nodes_) out.push_back(node->url());
  return out;
}

Status wait_for_jetstream(const std::vector<std::string>& urls, int timeout_ms) {
  std::vector<const char*> servers;
  servers.reserve(urls.size());
  for (const auto& url : urls) servers.push_back(url.c_str());
  natsOptions* options = nullptr;
  natsConnection* connection = nullptr;
  jsCtx* js = nullptr;
  natsStatus s = natsOptions_Create(&options);
  if (s == NATS_OK)
    s = natsOptions_SetServers(options, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsConnection_Connect(&connection, options);
  if (s == NATS_OK) s = natsConnection_JetStream(&js, connection, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last_error = s == NATS_OK ? "" : natsStatus_GetText(s);
  bool ready = false;
  while (s == NATS_OK && !ready && std::chrono::steady_clock::now() < deadline) {
    // Account info is answered by the meta leader once there is one; in a cluster, a leader
    // that already knows every peer is what creating a replicated stream needs.
    jsAccountInfo* info = nullptr;
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = 1000;
    jsErrCode code{};
    const natsStatus info_status = js_GetAccountInfo(&info, js, &js_options, &code);
    if (info_status == NATS_OK) {
      jsAccountInfo_Destroy(info);
      ready = true;
    } else {
      last_error = natsStatus_GetText(info_status);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (js != nullptr) jsCtx_Destroy(js);
  if (connection != nullptr) natsConnection_Destroy(connection);
  if (options != nullptr) natsOptions_Destroy(options);
  if (ready) return {};
  return Status::unavailable("JetStream not ready within " + std::to_string(timeout_ms) +
                             " ms: " + last_error);
}

}  // namespace tickgraph::ingest::testing
