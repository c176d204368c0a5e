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
// Thread-safety: none of its own; the engine's lock guards every call but define_standing() and
// load_standing(), which read only the store. Calls that read the store (each after the write
// queue is written): topic() for a new graph topic (its graph and warm-up), and add(), snapshot()
// and standing() when not given what they need (the engine loads it without its lock: follow()
// for the first two, a batch's preload for standing()).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
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
#include "live/ticks.h"
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

// What standing() reads of the store at an asset's first batch, read without the engine lock
// (see Topics::standing_wanted). One entry per (asset, standing graph).
struct StandingLoad {
  struct Entry {
    std::string symbol;
    std::size_t graph = 0;  // its index in Options::standing
    // A topic of its key was there (a client follows it): its first bar then.
    bool existed = false;
    Timestamp first_row = INT64_MIN;
    Status defined_status;                   // define_topic's failure
    std::optional<TopicDefinition> defined;  // a new topic
    std::vector<std::string> reads;          // the assets whose bars it reads
    std::vector<BarBook::Mark> marks;        // theirs, before the reads
    // Where its values are stored (output: the first one; empty for a candle topic).
    std::int64_t graph_id = 0;
    std::int64_t version = 0;
    std::string output;
    bool read = false;  // warm and stored_until read
    graph::MarketData warm;
    Timestamp stored_until = INT64_MIN;  // its latest stored value from its first bar on
    bool current = false;                // set by check_standing()
  };
  std::uint64_t graph_epoch = 0;  // Topics' graph changes when it was made
  std::vector<Entry> entries;
  bool empty() const { return entries.empty(); }
};

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
  // materialise go to `staging`. A graph that fails is logged once and skipped. What `load`
  // holds current (check_standing) is used; else the graph, the warm-up and the stored values are
  // read here.
  void standing(const std::string& symbol, WriteBatch& staging, StandingLoad* load = nullptr);

  // A standing warm-up read without the engine lock, in four steps: standing_wanted() (under the
  // lock) names the batch's assets whose standing topics are not made; define_standing()
  // (without it) reads their graphs; mark_standing() (under it) marks the assets they read;
  // load_standing() (without it, after the write queue is written) reads the warm-up bars and the
  // latest stored values. Under the lock that applies the batch, check_standing() (before the
  // batch makes its assets live) keeps what is still current: no graph changed, no bar of the
  // assets read closed, no topic of the key appeared. define_standing() and load_standing() read
  // only the store and the options.
  StandingLoad standing_wanted(std::span<const TickInput> ticks) const;
  void define_standing(StandingLoad& load) const;
  void mark_standing(StandingLoad& load) const;
  void load_standing(StandingLoad& load) const;
  void check_standing(StandingLoad& load) const;

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
  // `stored_until`: the latest stored value's time, read beforehand; null: read here.
  void catch_up_materialised(Topic& topic, WriteBatch& staging, const Timestamp* stored_until);
  Result<Topic*> make_standing(const std::string& symbol, std::size_t graph, StandingLoad* load);
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
  std::uint64_t graph_epoch_ = 0;                      // graph_changed() calls
};

}  // namespace tickgraph::live
