// What a stream protocol follows: the live engine (engine.h), or on an API node that runs no
// engine, a relay of another process's updates (server/relay.h). One interface, two
// implementations.
//
// follow() makes the topics of a request, takes their snapshots and calls `commit` with them
// while no update can be published, so that a follower registered in `commit` misses or repeats
// nothing between the snapshot and the stream. Topics nobody follows any more are dropped by
// unfollowed(), which asks the stream sink.
#pragma once

#include <algorithm>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/candle.h"
#include "core/interval.h"
#include "core/result.h"
#include "live/update_sink.h"

namespace tickgraph::live {

struct FollowRequest {
  std::vector<std::string> assets;
  Interval interval = Interval::k1m;
  std::string graph;                 // "" = candles only
  std::vector<std::string> outputs;  // empty = all of the graph's outputs
  std::size_t history = 0;           // closed bars in each snapshot
};

// A topic's state when it was followed: its latest closed bars with their values, and the forming
// bar with provisional values.
struct TopicSnapshot {
  const TopicInfo* topic = nullptr;  // valid during commit
  std::vector<int> columns;          // the requested outputs, as indexes; empty = all
  CandleSeries bars;
  std::vector<std::vector<double>> values;  // [column][row], every column; empty for candles
  std::optional<Candle> forming;
  std::vector<double> forming_values;  // every column
  Timestamp forming_time = 0;          // the forming update's server time

  // Whether output `c` was requested.
  bool wants(std::size_t c) const {
    return columns.empty() ||
           std::find(columns.begin(), columns.end(), static_cast<int>(c)) != columns.end();
  }
};

class TopicSource {
 public:
  using Commit = std::function<Status(std::span<const TopicSnapshot>)>;

  virtual ~TopicSource() = default;
  // Errors: not_found (an asset, prefixed "assets: ", detail asset; a graph, prefixed "graph: "),
  // invalid_argument for an output the graph lacks (parameter outputs), the store's failure
  // ("store: "), or what `commit` returned. On error nothing new is followed.
  virtual Status follow(const FollowRequest& request, const Commit& commit) = 0;
  // Drops the topics that the stream sink no longer follows (UpdateSink::follows); standing
  // topics stay.
  virtual void unfollowed() = 0;
  // A graph was replaced or deleted: its topics end (UpdateSink::ended), their followers must
  // follow again.
  virtual void graph_changed(std::string_view name) = 0;
  // Topics held.
  virtual std::size_t topic_count() const = 0;
};

}  // namespace tickgraph::live
