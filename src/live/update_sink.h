// How updates leave the live engine: a topic is one (asset, interval, graph) series; each bar it
// computes is an Update, published to an UpdateSink. The server's stream protocol (WebSocket and
// SSE clients) and the NATS bus (ingest workers feeding API nodes) implement it; the engine knows
// neither.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/candle.h"
#include "core/interval.h"

namespace tickgraph::live {

// What a topic is, for those who receive its updates.
struct TopicInfo {
  std::string key;  // "SPX|1m|demo"; "SPX|1m|" for candles only
  std::string symbol;
  Interval interval = Interval::k1m;
  std::string graph;  // "" = candles only
  std::int64_t graph_version = 0;
  std::vector<std::string> outputs;  // the graph's output columns, in order
};

inline std::string topic_key(std::string_view symbol, Interval interval, std::string_view graph) {
  std::string key(symbol);
  key += '|';
  key += interval_name(interval);
  key += '|';
  key += graph;
  return key;
}

// One bar of a topic: the forming bar with provisional values, or a closed bar with its final
// ones. Valid only during the call that receives it.
struct Update {
  const TopicInfo& topic;
  const Candle& bar;
  bool final = false;
  std::span<const double> values;  // one per topic.outputs (NaN = none); empty for candles
  Timestamp server_time = 0;
};

class UpdateSink {
 public:
  virtual ~UpdateSink() = default;
  // Called under the engine's lock, in the order the updates happened: must not block (queue,
  // or hand to clients whose delivery never blocks) and must not call back into the engine.
  virtual void publish(const Update& update) = 0;
  // The topic ended because its graph was replaced or deleted: its followers must follow again.
  virtual void ended(const TopicInfo& topic) { (void)topic; }
  // Whether anyone still follows the topic (a topic nobody follows and that does not run standing
  // is dropped). Called under the engine's lock.
  virtual bool follows(const std::string& key) {
    (void)key;
    return false;
  }
};

}  // namespace tickgraph::live
