// The streaming pieces `tickgraph ingest` and `tickgraph serve` share:
// - Feed: a Kafka or NATS JetStream tick source running on its own thread into the live market
//   (live::MarketSink), with its counters and lag exported as metrics;
// - Bus: the NATS connection of the scale-out bus: the engine's updates out on
//   `tickgraph.v1.updates.<symbol>`, graph changes in and out on `tickgraph.v1.control.graphs`,
//   and, on a node without an engine, the updates in (relayed to stream clients).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "core/metrics.h"
#include "core/result.h"
#include "ingest/kafka_source.h"
#include "ingest/nats_bus.h"
#include "ingest/nats_source.h"
#include "live/market_sink.h"
#include "live/update_sink.h"

namespace tickgraph::server {
class LiveMarket;
}

namespace tickgraph::cli {

struct FeedOptions {
  enum class Kind { kKafka, kNats } kind = Kind::kKafka;
  ingest::KafkaSourceOptions kafka;
  ingest::NatsSourceOptions nats;
  bool auto_create = false;
};

// Adds `--kafka-config key=value` settings to the source's librdkafka properties; an error naming
// the first setting without a key and '='.
Status add_kafka_config(const std::vector<std::string>& settings,
                        ingest::KafkaSourceOptions& options);

class Feed {
 public:
  // Opens the source and starts consuming into `live`.
  static Result<std::unique_ptr<Feed>> start(const FeedOptions& options, store::Store& store,
                                             live::Engine& live, Metrics& metrics);
  ~Feed();  // stop()
  Feed(const Feed&) = delete;
  Feed& operator=(const Feed&) = delete;

  // Stops consuming: what was read is stored and committed, the group is left. Idempotent.
  void stop();
  // Set when the source ended by itself (a fatal error): its message.
  bool failed() const { return failed_; }
  std::string failure() const;

 private:
  Feed(const FeedOptions& options, store::Store& store, live::Engine& live, Metrics& metrics);
  void export_metrics();

  FeedOptions options_;
  live::MarketSink sink_;
  Metrics& metrics_;
  std::unique_ptr<ingest::KafkaTickSource> kafka_;
  std::unique_ptr<ingest::NatsTickSource> nats_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  mutable std::mutex failure_mutex_;
  std::string failure_;
  std::map<std::string, std::int64_t> exported_;  // counter values already added, by key
  std::thread thread_;
  std::thread metrics_thread_;
};

// The NATS topics of the scale-out bus.
inline constexpr std::string_view kUpdatesSubject = "tickgraph.v1.updates.";
inline constexpr std::string_view kGraphsSubject = "tickgraph.v1.control.graphs";

class Bus {
 public:
  // Connects to `servers` (comma-separated nats:// URLs).
  static Result<std::unique_ptr<Bus>> connect(std::string_view servers, Metrics& metrics);
  Bus();  // not connected: use connect()
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // The sink of an engine that publishes (EngineOptions::bus): each update as a
  // tickgraph.v1.Update on `tickgraph.v1.updates.<symbol>`. It only queues on the connection, so
  // the engine may call it under its lock.
  live::UpdateSink& updates();
  // Every process: graph changes published by others are given to `changed` (by name), which
  // ends this process's series of that graph.
  Status follow_graph_changes(std::function<void(std::string_view name)> changed);
  // A node without an engine: updates from the bus go to its stream clients.
  Status relay_updates(server::LiveMarket& live);
  // The ApiOptions::on_graph_changed that tells the others.
  void publish_graph_change(const std::string& name, std::int64_t version);

  ingest::NatsBus& nats() { return *bus_; }

 private:
  class Updates;
  std::unique_ptr<ingest::NatsBus> bus_;
  std::unique_ptr<Updates> updates_;
  std::string origin_;  // this process, in GraphChange.origin
  Counter* publish_errors_ = nullptr;
};

}  // namespace tickgraph::cli
