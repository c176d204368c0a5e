// The topic runner: every (asset, interval, graph) series that someone follows or that runs
// standing, each with one push executor.
//
// A graph topic is warmed by replaying the latest stored bars (up to Options::warmup_bars, read by
// pull.h's latest_bars) and then fed the live bars: closed bars through the executor (final
// values), the forming bar by peek (provisional values). It records the bars it has seen and the
// values it computed, so a late follower's snapshot holds exactly the values the stream continues
// from. Every update goes to the stream sink; the bus sink gets standing topics' updates and the
// candles of every asset and interval.
//
// Standing graphs (Options::standing, ingest workers): run at an interval on every asset that
// ticks, whether or not anyone follows them. A standing topic is warmed when its asset's first
// batch arrives; its final values go to the write batch as materialised analytics (idempotent, so
// a redelivered bar rewrites the same values), and after a warm-up the values the store lacks are
// written too (a process that died between a bar and its values, or history from before the graph
// ran).
//
// Thread-safety: none of its own; the engine's lock guards every call. Calls that read the store
// (each after the write queue is written): topic() for a new graph topic (its graph and warm-up),
// add() and snapshot() when not given what they need (the engine's follow() loads it without its
// lock), and standing() for an asset's first batch.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "graph/plan.h"
#include "graph/table.h"
#include "live/bar_book.h"
#include "live/topic_source.h"
#include "live/update_sink.h"
#include "live/write_queue.h"
#include "store/store.h"

namespace tickgraph::live {

struct StandingGraph {
  std::string graph;
  Interval interval = Interval::k1m;
};

// A topic as it starts: its description, and for a graph topic the stored graph's id and its
// plan for `symbol`. not_found "graph: unknown graph …", not_found for an asset the graph reads
// that the store lacks, or the store's failure.
struct TopicDefinition {
  TopicInfo info;
  std::int64_t graph_id = 0;                // the stored version's id (materialised analytics)
  std::shared_ptr<const graph::Plan> plan;  // graph topics only
};
Result<TopicDefinition> define_topic(store::Store& store, const std::string& symbol,
                                     Interval interval, const std::string& graph);
// The indexes of `outputs` among the topic's; invalid_argument (parameter outputs) naming an
// output the topic's graph lacks.
Result<std::vector<int>> output_columns(const TopicInfo& topic,
                                        const std::vector<std::string>& outputs);

class Topics {
 public:
  struct Options {
    std::size_t warmup_bars = 5000;  // history replayed into a new topic's executor
    std::size_t max_history = 5000;  // bars a topic keeps for snapshots
    std::vector<StandingGraph> standing;
    const Clock* clock = &system_clock();  // stamps updates' server time
  };
  struct Topic;

  // `streams` and `bus` may be null; both must outlive the runner.
  Topics(store::Store& store, WriteQueue& writes, BarBook& book, Options options,
         UpdateSink* streams, UpdateSink* bus);
  ~Topics();
  Topics(const Topics&) = delete;
  Topics& operator=(const Topics&) = delete;

  // The topic, made (and warmed) when there is none. not_found "graph: unknown graph …" for an
  // unknown graph; not_found for an unknown asset the graph reads; the store's failure.
  Result<Topic*> topic(const std::string& symbol, Interval interval, const std::string& graph);
  // The topic with this key, or null.
  Topic* find(std::string_view key);
  // A new topic of `defined` (no topic of its key may exist), warmed from `warm` when given: the
  // latest bars of every asset it reads, loaded without the engine lock and still current (see
  // BarBook::Mark); else read here. Errors as topic().
  Result<Topic*> add(TopicDefinition defined, const graph::MarketData* warm);
  // Makes the asset's standing topics once (until graph_changed() or release()); values to
  // materialise go to `staging`. A graph that fails is logged once and skipped.
  void standing(const std::string& symbol, WriteBatch& staging);

  // A closed bar: to the bus, then to every topic that reads its asset at its interval.
  void closed(const ClosedBar& bar, WriteBatch& staging);
  // Forming bars that changed: to the bus, and to the topics of their asset and interval.
  void forming(std::span<const FormingBar> bars);

  // The topic's snapshot: its latest `history` bars and values, its forming bar. `columns` index
  // the outputs requested (empty = all). A candle topic's bars are `candles` when given (loaded
  // without the engine lock and still current), else read here: the store's failure.
  Result<TopicSnapshot> snapshot(Topic& topic, std::size_t history, std::vector<int> columns,
                                 const CandleSeries* candles = nullptr);
  static const TopicInfo& info(const Topic& topic);

  // Drops topics that are neither followed (UpdateSink::follows of the stream sink) nor standing.
  void drop_unfollowed();
  // Ends the graph's topics (UpdateSink::ended); standing ones start again with its new version
  // at each asset's next batch.
  void graph_changed(std::string_view name);
  // The assets' topics stop standing; those nobody follows are dropped.
  void release(std::span<const std::string> symbols);
  std::size_t size() const { return topics_.size(); }

 private:
  Status warm_up(Topic& topic, const graph::MarketData* warm);
  void catch_up_materialised(Topic& topic, WriteBatch& staging);
  void materialise(Topic& topic, Timestamp t, std::span<const double> row, WriteBatch& staging);
  void feed_closed(Topic& topic, const ClosedBar& bar, WriteBatch& staging);
  void append_row(Topic& topic, const Candle& bar) const;
  void on_fired(Topic& topic, Timestamp t, int domain);
  std::vector<double> peek_values(Topic& topic, const Candle& forming);
  void publish(Topic& topic, const Candle& bar, bool final, std::span<const double> values);
  void publish_candle(std::string_view symbol, Interval interval, const Candle& bar, bool final);
  void reindex();

  store::Store& store_;
  WriteQueue& writes_;
  BarBook& book_;
  const Options options_;
  UpdateSink* streams_;
  UpdateSink* bus_;
  std::map<std::string, std::unique_ptr<Topic>, std::less<>> topics_;
  std::map<std::string, std::vector<Topic*>, std::less<>> by_symbol_;  // by the assets they read
  std::set<std::string, std::less<>> standing_ready_;  // assets whose standing topics exist
  std::set<std::string> reported_standing_errors_;     // one log line per failing graph
};

}  // namespace tickgraph::live
