#include "server/relay.h"

#include <algorithm>
#include <optional>

#include "analytics/kernel.h"
#include "live/topics.h"
#include "server/convert.h"
#include "store/bar_reader.h"

namespace tickgraph::server {

struct Relay::Topic {
  live::TopicInfo info;
  std::int64_t graph_id = 0;
  std::optional<v1::Update> last_forming;  // the latest forming update received
};

namespace {

Status store_failed(const Status& s) { return s.with_prefix("store: "); }

// The values of an update, one per output (NaN where it has none).
std::vector<double> values_of(const live::TopicInfo& topic, const v1::Update& update) {
  std::vector<double> values(topic.outputs.size(), analytics::kNaN);
  for (std::size_t c = 0; c < values.size(); ++c) {
    auto v = update.values().find(topic.outputs[c]);
    if (v != update.values().end() && v->second.has_number_value()) {
      values[c] = v->second.number_value();
    }
  }
  return values;
}

}  // namespace

Counter& relay_dropped_counter(Metrics& metrics) {
  return metrics.counter("tickgraph_relay_dropped_total",
                         "Relayed updates dropped because they did not parse");
}

Relay::Relay(store::Store& store, Metrics& metrics, live::Generations& generations,
             live::UpdateSink& streams)
    : store_(store),
      generations_(generations),
      streams_(streams),
      dropped_(relay_dropped_counter(metrics)) {}

Relay::~Relay() = default;

void Relay::relay(std::string_view bytes) {
  v1::Update update;
  if (!update.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    dropped_.inc();
    return;
  }
  auto interval = from_proto(update.interval(), "interval");
  if (!interval) {
    dropped_.inc();
    return;
  }
  if (update.final() && update.graph().empty()) generations_.bump(update.symbol());
  std::lock_guard lock(mutex_);
  auto it = topics_.find(live::topic_key(update.symbol(), *interval, update.graph()));
  if (it == topics_.end()) return;
  Topic& topic = *it->second;
  if (!update.final()) topic.last_forming = update;
  const Candle bar = from_proto(update.candle());
  const std::vector<double> values =
      topic.info.graph.empty() ? std::vector<double>{} : values_of(topic.info, update);
  streams_.publish({topic.info, bar, update.final(), values, update.server_time()});
}

Result<Relay::Topic*> Relay::topic(const std::string& symbol, Interval interval,
                                   const std::string& graph_name) {
  if (auto it = topics_.find(live::topic_key(symbol, interval, graph_name)); it != topics_.end()) {
    return it->second.get();
  }
  // The graph gives the outputs; the values come from the store and the bus.
  auto defined = live::define_topic(store_, symbol, interval, graph_name);
  if (!defined) return defined.status();
  auto topic = std::make_unique<Topic>();
  topic->info = std::move(defined->info);
  topic->graph_id = defined->graph_id;
  Topic* raw = topic.get();
  topics_.emplace(raw->info.key, std::move(topic));
  topic_count_ = topics_.size();
  return raw;
}

Result<live::TopicSnapshot> Relay::snapshot(Topic& t, std::int64_t asset_id, std::size_t history,
                                            std::vector<int> columns) {
  live::TopicSnapshot snapshot;
  snapshot.topic = &t.info;
  snapshot.columns = std::move(columns);
  auto bars = store::BarReader(store_).latest(asset_id, t.info.interval, history);
  if (!bars) return bars.status();
  snapshot.bars = std::move(*bars);
  const CandleSeries& b = snapshot.bars;
  for (std::size_t c = 0; c < t.info.outputs.size(); ++c) {
    std::vector<double>& values = snapshot.values.emplace_back(b.size(), analytics::kNaN);
    if (!snapshot.wants(c) || b.empty()) continue;
    auto stored = store_.read_analytics(asset_id, t.graph_id, t.info.graph_version,
                                        t.info.outputs[c], {b.time.front(), b.time.back()});
    if (!stored) return stored.status();
    for (std::size_t k = 0; k < stored->time.size(); ++k) {
      const std::size_t row = b.lower_bound(stored->time[k]);
      if (row < b.size() && b.time[row] == stored->time[k]) values[row] = stored->values[k];
    }
  }
  if (t.last_forming && (b.empty() || t.last_forming->candle().time() > b.time.back())) {
    snapshot.forming = from_proto(t.last_forming->candle());
    if (!t.info.graph.empty()) snapshot.forming_values = values_of(t.info, *t.last_forming);
    snapshot.forming_time = t.last_forming->server_time();
  }
  return snapshot;
}

Status Relay::follow(const live::FollowRequest& request, const Commit& commit) {
  std::lock_guard lock(mutex_);
  std::vector<std::int64_t> ids;
  for (const auto& symbol : request.assets) {
    auto found = store_.find_asset(symbol);
    if (!found) return store_failed(found.status());
    if (!found->has_value()) {
      return Status::not_found("assets: unknown asset '" + symbol + "'")
          .with_detail("asset", symbol);
    }
    ids.push_back((*found)->id);
  }
  std::vector<live::TopicSnapshot> snapshots;
  Status failed;
  for (std::size_t i = 0; i < request.assets.size(); ++i) {
    auto t = topic(request.assets[i], request.interval, request.graph);
    if (!t) {
      failed = t.status().with_detail("graph", request.graph);
      break;
    }
    auto columns = live::output_columns((*t)->info, request.outputs);
    if (!columns) {
      failed = columns.status();
      break;
    }
    auto s = snapshot(**t, ids[i], request.history, std::move(*columns));
    if (!s) {
      failed = store_failed(s.status());
      break;
    }
    snapshots.push_back(std::move(*s));
  }
  if (failed.ok()) failed = commit(snapshots);
  if (!failed.ok()) {
    std::erase_if(topics_, [&](const auto& entry) { return !streams_.follows(entry.first); });
    topic_count_ = topics_.size();
  }
  return failed;
}

void Relay::unfollowed() {
  std::lock_guard lock(mutex_);
  std::erase_if(topics_, [&](const auto& entry) { return !streams_.follows(entry.first); });
  topic_count_ = topics_.size();
}

void Relay::graph_changed(std::string_view name) {
  std::lock_guard lock(mutex_);
  std::erase_if(topics_, [&](const auto& entry) {
    if (entry.second->info.graph != name) return false;
    streams_.ended(entry.second->info);
    return true;
  });
  topic_count_ = topics_.size();
}

}  // namespace tickgraph::server
