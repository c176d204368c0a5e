// Real nats-server processes for tests (only for tests: compiled into nats_tests): one JetStream
// server on a free 127.0.0.1 port with a temporary store, or a cluster of several such servers
// routed to each other, each of which can be killed and restarted.
//
// Processes. Each server is a child process of the test (/usr/sbin/nats-server, or
// $TICKGRAPH_NATS_SERVER) started with fork and exec, its output in a log file next to its
// store; it is asked to die with the test process (PR_SET_PDEATHSIG), so a crashing test leaves
// no server behind. Only processes started here are ever signalled: stop sends SIGTERM, then
// SIGKILL after a few seconds; kill sends SIGKILL at once (a crash). start and restart return
// once the client port accepts connections; restart reuses the port and the store, so the server
// comes back with its streams. The destructor stops what runs and removes the temporary
// directories.
//
// Not thread-safe: drive a server or cluster from one thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace tickgraph::ingest::testing {

class NatsServer {
 public:
  // What a server is started with; the cluster fields are empty for a single server.
  struct Config {
    int port = 0;
    std::string name;              // server name (-n), needed by clustered JetStream
    int cluster_port = 0;          // 0: not clustered
    std::string cluster_name;      // --cluster_name
    std::vector<int> route_ports;  // the other nodes' cluster ports
  };

  // Starts one JetStream server on a free port.
  static Result<std::unique_ptr<NatsServer>> start();
  // Starts a server as configured (the port must be free), with its own temporary store.
  static Result<std::unique_ptr<NatsServer>> start(Config config);

  ~NatsServer();
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  int port() const { return config_.port; }
  std::string url() const;  // nats://127.0.0.1:port
  bool running() const { return pid_ > 0; }

  // SIGKILL, as a crash or a power cut would; the store stays for restart.
  Status kill();
  // SIGTERM (a clean shutdown), SIGKILL if it has not exited within a few seconds.
  Status stop();
  // Starts it again with the same port, name and store; waits until the port accepts.
  Status restart();
  // The end of the server's log, for failure messages.
  std::string log_tail(std::size_t bytes = 2000) const;

 private:
  NatsServer() = default;
  Status launch();
  Status wait_until_accepting(int timeout_ms);
  Status signal_and_wait(int signal, int timeout_ms);

  Config config_;
  std::string dir_;  // temporary: store/ and server.log
  pid_t pid_ = -1;
};

class NatsCluster {
 public:
  // Starts `nodes` JetStream servers on free ports, routed to each other, then waits (at most
  // 30 s) until JetStream has a leader and can create replicated streams.
  static Result<std::unique_ptr<NatsCluster>> start(int nodes = 3);

  std::vector<std::string> urls() const;  // of every node, running or not
  NatsServer& node(int i) { return *nodes_.at(static_cast<std::size_t>(i)); }
  int size() const { return static_cast<int>(nodes_.size()); }

  Status kill(int i) { return node(i).kill(); }
  Status restart(int i) { return node(i).restart(); }

 private:
  std::vector<std::unique_ptr<NatsServer>> nodes_;
};

// Waits until JetStream answers on `urls` (its meta leader is elected), at most `timeout_ms`.
Status wait_for_jetstream(const std::vector<std::string>& urls, int timeout_ms);

}  // namespace tickgraph::ingest::testing
