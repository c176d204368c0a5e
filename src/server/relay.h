// Relay mode (`serve --no-engine`): the topic source of an API node that runs no engine. Its
// snapshots come from the store (closed bars and their materialised analytics, NaN where none is
// stored) and the latest forming update the bus brought; the updates given to relay() (from the
// NATS bus, published by ingest workers' engines) go to the stream sink. The other
// implementation of live::TopicSource is the engine itself (live/engine.h).
//
// Thread-safety: every public function may be called from any thread; one mutex of its own, held
// while a follow reads the store (snapshots must not miss a relayed update) and while an update
// is handed to the sink.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/metrics.h"
#include "live/generations.h"
#include "live/topic_source.h"
#include "live/update_sink.h"
#include "store/store.h"

namespace tickgraph::server {

// tickgraph_relay_dropped_total: relayed updates dropped because they did not parse.
Counter& relay_dropped_counter(Metrics& metrics);

class Relay : public live::TopicSource {
 public:
  // `streams` gets the relayed updates; `generations` is bumped by every relayed final candle.
  Relay(store::Store& store, Metrics& metrics, live::Generations& generations,
        live::UpdateSink& streams);
  ~Relay() override;

  // One serialised tickgraph.v1.Update from another process's engine. An update that does not
  // parse is counted (tickgraph_relay_dropped_total) and dropped.
  void relay(std::string_view update);

  // live::TopicSource
  Status follow(const live::FollowRequest& request, const Commit& commit) override;
  void unfollowed() override;
  void graph_changed(std::string_view name) override;
  std::size_t topic_count() const override { return topic_count_.load(); }

 private:
  struct Topic;
  Result<Topic*> topic(const std::string& symbol, Interval interval, const std::string& graph);
  Result<live::TopicSnapshot> snapshot(Topic& topic, std::int64_t asset_id, std::size_t history,
                                       std::vector<int> columns);

  store::Store& store_;
  live::Generations& generations_;
  live::UpdateSink& streams_;
  Counter& dropped_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Topic>, std::less<>> topics_;
  std::atomic<std::size_t> topic_count_{0};
};

}  // namespace tickgraph::server
