#include "cli/feed.h"

#include <chrono>
#include <random>

#include "core/log.h"
#include "server/convert.h"
#include "server/live_market.h"
#include "tickgraph/v1/stream.pb.h"

namespace tickgraph::cli {

Status add_kafka_config(const std::vector<std::string>& settings,
                        ingest::KafkaSourceOptions& options) {
  for (const std::string& setting : settings) {
    const auto eq = setting.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::invalid_argument("--kafka-config: expected key=value, got '" + setting + "'");
    }
    options.config[setting.substr(0, eq)] = setting.substr(eq + 1);
  }
  return {};
}

Feed::Feed(const FeedOptions& options, store::Store& store, live::Engine& live, Metrics& metrics)
    : options_(options),
      sink_(store, live, options.kind == FeedOptions::Kind::kKafka ? "kafka" : "nats",
            options.auto_create),
      metrics_(metrics) {}

Result<std::unique_ptr<Feed>> Feed::start(const FeedOptions& options, store::Store& store,
                                          live::Engine& live, Metrics& metrics) {
  std::unique_ptr<Feed> feed(new Feed(options, store, live, metrics));
  if (options.kind == FeedOptions::Kind::kKafka) {
    auto source = ingest::KafkaTickSource::open(options.kafka);
    if (!source) return source.status();
    feed->kafka_ = std::move(*source);
  } else {
    auto source = ingest::NatsTickSource::open(options.nats);
    if (!source) return source.status();
    feed->nats_ = std::move(*source);
  }
  Feed* f = feed.get();
  f->thread_ = std::thread([f] {
    const Status s =
        f->kafka_ ? f->kafka_->run(f->sink_, f->stop_) : f->nats_->run(f->sink_, f->stop_);
    if (!s.ok()) {
      log::error("ingest stopped: " + s.message(), {{"code", status_code_name(s.code())}});
      std::lock_guard lock(f->failure_mutex_);
      f->failure_ = s.message();
      f->failed_ = true;
    }
  });
  f->metrics_thread_ = std::thread([f] {
    while (!f->stop_) {
      f->export_metrics();
      for (int i = 0; i < 10 && !f->stop_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });
  return feed;
}

Feed::~Feed() { stop(); }

void Feed::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (metrics_thread_.joinable()) metrics_thread_.join();
}

std::string Feed::failure() const {
  std::lock_guard lock(failure_mutex_);
  return failure_;
}

// Copies the source's counters and lag into the registry (counters by the difference since the
// last copy, since the registry's counters only add).
void Feed::export_metrics() {
  auto count = [this](const std::string& name, const std::string& help, const Labels& labels,
                      std::int64_t total) {
    std::string key = name;
    for (const auto& [k, v] : labels) key += "|" + k + "=" + v;
    auto& seen = exported_[key];
    auto& counter = metrics_.counter(name, help, labels);
    if (total > seen) counter.inc(static_cast<double>(total - seen));
    seen = std::max(seen, total);
  };
  const std::string poison_help = "Messages sent to the dead-letter destination, by reason";
  const std::string lag_help =
      "Messages in the feed not yet ingested: per Kafka partition (end - position) or per "
      "JetStream stream (the consumer's pending count)";
  // The counters every source has, under the same names (ingest/feed_policy.h).
  const auto common = [&](const std::string& name, const ingest::FeedStats& s) {
    const Labels source{{"source", name}};
    for (const auto& [reason, n] : s.poison) {
      count("tickgraph_ingest_poison_total", poison_help, {{"source", name}, {"reason", reason}},
            n);
    }
    count("tickgraph_ingest_store_retries_total",
          "Failed store calls of a feed, each retried after a pause (reading paused meanwhile)",
          source, s.store_retries);
    count("tickgraph_ingest_redelivered_total",
          "Messages the feed delivered again (not acknowledged in time, or after a failover)",
          source, s.redelivered);
    metrics_.gauge("tickgraph_ingest_paused", "1 while a feed backs off a failing store", source)
        .set(s.paused ? 1 : 0);
  };
  if (kafka_) {
    const auto s = kafka_->stats();
    common("kafka", s);
    count("tickgraph_ingest_rebalances_total", "Consumer-group rebalances seen by this worker",
          {{"source", "kafka"}}, s.rebalances);
    for (const auto& p : s.partitions) {
      if (p.lag < 0) continue;  // the partition's end is not known yet
      metrics_
          .gauge("tickgraph_ingest_lag_messages", lag_help,
                 {{"source", "kafka"},
                  {"topic", options_.kafka.topic},
                  {"partition", std::to_string(p.partition)}})
          .set(static_cast<double>(p.lag));
    }
  } else if (nats_) {
    const auto s = nats_->stats();
    common("nats", s);
    if (s.pending >= 0) {
      metrics_
          .gauge("tickgraph_ingest_lag_messages", lag_help,
                 {{"source", "nats"}, {"stream", s.stream}})
          .set(static_cast<double>(s.pending));
    }
  }
}

// --- the bus ---

class Bus::Updates final : public live::UpdateSink {
 public:
  Updates(ingest::NatsBus& bus, Counter& errors) : bus_(bus), errors_(errors) {}
  void publish(const live::Update& update) override {
    v1::Update message;
    server::to_proto(update, {}, message);
    // Publishing only queues on the connection (libnats buffers during a reconnect too).
    const std::string subject = std::string(kUpdatesSubject) + update.topic.symbol;
    if (!bus_.publish(subject, message.SerializeAsString()).ok()) errors_.inc();
  }

 private:
  ingest::NatsBus& bus_;
  Counter& errors_;
};

Bus::Bus() = default;
Bus::~Bus() = default;

live::UpdateSink& Bus::updates() { return *updates_; }

Result<std::unique_ptr<Bus>> Bus::connect(std::string_view servers, Metrics& metrics) {
  auto urls = ingest::parse_nats_servers(servers);
  if (!urls) return urls.status();
  ingest::NatsOptions options;
  options.servers = *urls;
  auto nats = ingest::NatsBus::connect(options);
  if (!nats) return nats.status();
  auto bus = std::make_unique<Bus>();
  bus->bus_ = std::move(*nats);
  std::random_device random;
  bus->origin_ = std::to_string(random()) + "-" + std::to_string(random());
  bus->publish_errors_ = &metrics.counter("tickgraph_bus_publish_errors_total",
                                          "Updates or graph changes the NATS bus refused");
  bus->updates_ = std::make_unique<Updates>(*bus->bus_, *bus->publish_errors_);
  ingest::NatsBus* raw = bus->bus_.get();
  metrics.gauge_callback("tickgraph_bus_connected", "1 while connected to NATS", {},
                         [raw] { return raw->stats().connected ? 1.0 : 0.0; });
  return bus;
}

Status Bus::follow_graph_changes(std::function<void(std::string_view name)> changed) {
  return bus_->subscribe(kGraphsSubject, [this, changed = std::move(changed)](
                                             std::string_view, std::string_view data) {
    v1::GraphChange change;
    if (!change.ParseFromArray(data.data(), static_cast<int>(data.size()))) return;
    if (change.origin() == origin_) return;
    changed(change.name());
  });
}

Status Bus::relay_updates(server::LiveMarket& live) {
  return bus_->subscribe(std::string(kUpdatesSubject) + ">",
                         [&live](std::string_view, std::string_view data) { live.relay(data); });
}

void Bus::publish_graph_change(const std::string& name, std::int64_t version) {
  v1::GraphChange change;
  change.set_name(name);
  change.set_version(version);
  change.set_deleted(version == 0);
  change.set_origin(origin_);
  if (!bus_->publish(kGraphsSubject, change.SerializeAsString()).ok()) publish_errors_->inc();
}

}  // namespace tickgraph::cli
