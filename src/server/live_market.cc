#include "server/live_market.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <set>
#include <thread>
#include <unordered_map>

#include "analytics/kernel.h"
#include "core/log.h"
#include "graph/compiled_graph.h"
#include "graph/plan.h"
#include "graph/push_executor.h"
#include "graph/spec.h"
#include "ingest/tick_source.h"
#include "live/pull.h"
#include "server/convert.h"
#include "server/errors.h"

namespace tickgraph::server {

namespace {

SharedText shared(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

// A StreamMessage carrying an Error with this wire code.
SharedText error_message(std::string_view code, const std::string& text,
                         const std::vector<StatusDetail>& details) {
  v1::StreamMessage message;
  auto* error = message.mutable_error();
  error->set_code(std::string(code));
  error->set_message(text);
  for (const auto& [key, value] : details) (*error->mutable_details())[key] = value;
  return shared(to_json(message));
}

// The same for a failed Status, with the wire code its HTTP answer would have.
SharedText error_message(const Status& s) {
  return error_message(http_error_of(s.code()).code, s.message(), s.details());
}

Status bad(std::string message, std::string key, std::string value) {
  return Status::invalid_argument(std::move(message)).with_detail(std::move(key), std::move(value));
}

// The store failed: its status (unavailable for a busy or broken database: the client may
// retry), said to come from the store.
Status store_failed(const Status& s) { return s.with_prefix("store: "); }

// One holder at a time, a caller waiting at most a given time for its turn: a timed mutex that
// ThreadSanitizer follows (std::timed_mutex::try_lock_for locks through pthread_mutex_clocklock,
// which clang 14's ThreadSanitizer does not intercept).
class TurnGate {
 public:
  // Waits up to `wait` for the turn; false when it did not come.
  bool enter(std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    if (!free_.wait_for(lock, wait, [this] { return !busy_; })) return false;
    busy_ = true;
    return true;
  }
  void leave() {
    {
      std::lock_guard lock(mutex_);
      busy_ = false;
    }
    free_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable free_;
  bool busy_ = false;
};

// The turn of a TurnGate, left when it goes out of scope (or at leave()).
class Turn {
 public:
  explicit Turn(TurnGate* gate) : gate_(gate) {}
  ~Turn() { leave(); }
  Turn(const Turn&) = delete;
  Turn& operator=(const Turn&) = delete;
  void leave() {
    if (gate_ != nullptr) gate_->leave();
    gate_ = nullptr;
  }

 private:
  TurnGate* gate_;
};

// A batch's tick indexes per symbol, in batch order.
using ByAsset = std::map<std::string, std::vector<std::size_t>, std::less<>>;
// The ticks a batch adds to the store, per asset id, keyed (time, seq).
using FreshTicks = std::vector<std::pair<std::int64_t, std::vector<store::StoredTick>>>;

}  // namespace

// One (asset, interval, graph) series that clients follow.
struct Topic {
  std::string key;  // "SPX|1m|demo"; also the coalescing key
  std::string symbol;
  Interval interval = Interval::k1m;
  std::string graph;          // "" = candles only
  std::int64_t graph_id = 0;  // the stored version's id (materialised analytics)
  std::int64_t graph_version = 0;
  bool standing = false;  // kept without subscribers; final values stored (LiveOptions::standing)
  std::optional<v1::Update> last_forming;         // relay mode: the latest forming update received
  std::shared_ptr<const graph::Plan> plan;        // graph topics only
  std::unique_ptr<graph::PushExecutor> executor;  // graph topics only, not in relay mode
  // What the topic has computed, one row per primary bar fed (graph topics): the snapshot of a
  // late subscriber comes from here, so it continues exactly where the stream is.
  CandleSeries bars;
  std::vector<std::vector<double>> values;  // [column][row]
  std::vector<std::size_t> changed_rows;    // rows set by the listener since the last publish
  std::vector<double> scratch;

  struct Subscriber {
    std::weak_ptr<StreamClient> client;
    std::vector<int> columns;  // indexes into plan->columns; all when empty
  };
  std::vector<Subscriber> subscribers;

  std::vector<std::string> reads() const {  // every asset whose bars feed the topic
    if (!plan) return {symbol};
    return plan->assets;
  }
};

// Per client, under the engine lock: the topics it follows.
struct ClientState {
  std::set<std::string> topics;
  std::int64_t reported_coalesced = 0;
};

struct LiveMarket::Impl {
  store::Store& store;
  Metrics& metrics;
  LiveOptions options;

  mutable std::mutex mutex;  // the engine lock
  struct AssetLive {
    std::int64_t id = 0;
    std::map<Interval, CandleAggregator> aggregators;
    bool resumed = false;         // forming bars rebuilt from the store after (re)start
    bool standing_ready = false;  // its standing topics exist
    std::uint32_t touched = 0;    // scratch of ingest(): intervals whose forming bar changed
    // No stored or staged tick of the asset is later than this (set by resume(), raised by each
    // batch): a batch whose ticks are all later cannot hold a redelivery, so it needs no look at
    // the store.
    Timestamp last_time = INT64_MIN;
  };
  std::map<std::string, AssetLive, std::less<>> assets;
  std::map<std::string, std::unique_ptr<Topic>, std::less<>> topics;
  std::map<std::string, std::vector<Topic*>, std::less<>> topics_by_symbol;
  std::set<std::shared_ptr<StreamClient>> clients;
  // Their sizes for the metrics, which must not wait for the engine lock (held during store
  // writes, which wait out a locked database).
  std::atomic<std::size_t> client_count{0};
  std::atomic<std::size_t> topic_count{0};
  // Separate from the engine lock: candle reads check it on every request and must not wait for
  // an ingest batch's fsync.
  mutable std::mutex generations_mutex;
  std::map<std::string, std::uint64_t, std::less<>> generations;
  void bump(const std::string& symbol) {
    std::lock_guard lock(generations_mutex);
    ++generations[symbol];
  }

  Counter& closed_bars;
  Histogram& update_latency;
  Histogram& store_latency_ticks;
  Histogram& store_latency_candles;
  Histogram& store_latency_analytics;
  Counter& coalesced;
  Counter& store_errors;
  Counter& too_slow;
  Counter& relay_dropped;
  std::set<std::string> reported_standing_errors;  // one log line per failing standing graph

  Impl(store::Store& s, Metrics& m, LiveOptions o)
      : store(s),
        metrics(m),
        options(std::move(o)),
        closed_bars(m.counter("tickgraph_live_bars_closed_total", "Live bars closed")),
        update_latency(m.histogram("tickgraph_push_update_seconds",
                                   "Time to apply an ingest batch or clock step to the live bars "
                                   "and push engine, and queue the updates")),
        store_latency_ticks(m.histogram(
            "tickgraph_store_seconds", "Store call latency by operation", {{"op", "write_ticks"}})),
        store_latency_candles(m.histogram("tickgraph_store_seconds",
                                          "Store call latency by operation",
                                          {{"op", "write_candles"}})),
        store_latency_analytics(m.histogram("tickgraph_store_seconds",
                                            "Store call latency by operation",
                                            {{"op", "write_analytics"}})),
        coalesced(m.counter("tickgraph_stream_coalesced_total",
                            "Forming-bar updates replaced by newer ones before a slow client "
                            "received them")),
        store_errors(m.counter("tickgraph_live_store_errors_total",
                               "Failed writes of closed live bars (kept and retried)")),
        too_slow(m.counter("tickgraph_stream_disconnects_total",
                           "Stream clients disconnected by the server", {{"reason", "too_slow"}})),
        relay_dropped(m.counter("tickgraph_relay_dropped_total",
                                "Relayed updates dropped because they did not parse")) {}

  // An event of the batch being applied: a bar of (asset, interval) closed.
  struct Closed {
    std::string symbol;
    Interval interval;
    Candle bar;
    std::int64_t asset_id = 0;  // set when staged
  };

  // --- the durable half: what the engine changed, queued for the store ---
  // The engine applies a batch at once and publishes what it changed; what the store must get
  // (the batch's new ticks when a feed staged them, the bars that closed, the final values of
  // standing graphs) is collected in `staging` under the engine lock, queued as one Pending per
  // batch or clock step, and written in order by flush(), which never takes the engine lock.
  struct ValueRows {
    std::string graph;
    std::int64_t asset_id = 0;
    std::int64_t graph_id = 0;
    std::int64_t version = 0;
    std::vector<std::string> outputs;
    std::vector<std::pair<Timestamp, std::vector<double>>> rows;
  };
  struct Pending {
    std::string source;  // the ingest metrics' label; "" when the ticks were counted already
    IngestCounts counts;
    FreshTicks ticks;                         // per asset
    std::vector<Closed> closed;               // in order
    std::map<std::string, ValueRows> values;  // per standing topic
    bool empty() const {
      return ticks.empty() && closed.empty() && values.empty() && counts.accepted == 0 &&
             counts.late == 0;
    }
  };
  Pending staging;  // under the engine lock
  // Lock order: the engine lock, then flush_mutex, then queue_mutex. flush_mutex makes one writer
  // at a time and keeps the queued entries still while they are written; queue_mutex guards only
  // the queue's shape (a stage pushes while a flush writes the entries before it).
  std::mutex flush_mutex;
  std::mutex queue_mutex;
  std::deque<Pending> queue;
  std::atomic<std::size_t> queued{0};           // entries in the queue (read without a lock)
  std::set<std::string> reported_value_errors;  // graphs whose values failed (under flush_mutex)

  // ingest() (POST /v1/ticks) stores its ticks before it applies them, and waits for the store
  // without the engine lock: one call at a time (a retried request then finds the first one's
  // ticks stored), and the seqs its ticks take stay reserved (under the engine lock) while they
  // are written, so that a feed's tick of the same asset and time takes the next one.
  TurnGate ingest_turn;
  std::map<std::int64_t, std::unordered_map<Timestamp, std::int64_t>> in_flight_seqs;

  // LiveOptions::write_behind: the thread that writes the queue (see write_behind_loop()).
  std::mutex writer_mutex;
  std::condition_variable writer_cv;
  bool writer_stop = false;                 // under writer_mutex
  std::atomic<bool> writer_failing{false};  // retrying a failed write: enqueue() does not wake it
  std::thread write_behind_thread;

  Status flush() {
    std::lock_guard writer_lock(flush_mutex);
    return flush_locked();
  }

  // Writes what is queued as soon as enqueue() wakes it (and every LiveOptions::write_period),
  // so that no engine caller waits for the store; a failed write is logged once and tried again
  // (with a growing pause, up to 2 s) until it succeeds: entries stay queued meanwhile, and
  // stage() refuses batches past max_queued.
  void write_behind_loop() {
    bool failing = false;
    auto pause = options.write_period;
    std::unique_lock lock(writer_mutex);
    while (!writer_cv.wait_for(lock, pause, [&] { return writer_stop; })) {
      if (queued == 0) continue;
      lock.unlock();
      const Status s = flush();
      lock.lock();
      if (s.ok()) {
        if (failing) {
          log::info("store: writes resumed, the queue is written", {{"reason", "store_recovered"}});
        }
        failing = false;
        writer_failing = false;
        pause = options.write_period;
        continue;
      }
      if (!failing) {
        log::warn("store: " + s.message() + " (" + std::to_string(queued.load()) +
                      " batches queued, kept and written again)",
                  {{"reason", "store_failed"}});
      }
      failing = true;
      writer_failing = true;
      pause = std::min<std::chrono::milliseconds>(
          std::max(pause * 2, std::chrono::milliseconds(200)), std::chrono::seconds(2));
    }
  }

  // What resume() rebuilds an asset's forming bars from, read from the store: per interval
  // (finest first, the aggregators' order), the last stored bar and what was stored after it, the
  // ticks for the finest interval and the next finer interval's bars for the others.
  struct ResumeData {
    struct Level {
      std::optional<Candle> last;
      std::vector<Tick> ticks;  // the finest interval
      CandleSeries finer;       // the others
    };
    std::vector<Level> levels;
  };
  // An asset not yet live, loaded without the engine lock (see preload()).
  struct AssetLoad {
    Status status;  // not_found for an unknown symbol; the store's failure
    std::int64_t id = 0;
    ResumeData resume;
  };
  struct Preload {
    std::map<std::string, AssetLoad, std::less<>> assets;
    std::uint64_t release_epoch = 0;  // release() calls when it was read: newer ones void it
  };
  std::uint64_t release_epoch = 0;  // under the engine lock

  Result<ResumeData> read_resume(std::int64_t id) {
    ResumeData data;
    const std::set<Interval> intervals(options.intervals.begin(), options.intervals.end());
    const Interval* finer = nullptr;
    for (const Interval& interval : intervals) {
      ResumeData::Level level;
      auto last = store.latest_candles(id, interval, 1);
      if (!last) return last.status();
      if (!last->empty()) level.last = last->at(0);
      const Timestamp from =
          last->empty() ? INT64_MIN : last->time.back() + interval_duration(interval);
      if (finer == nullptr) {
        auto ticks = store.read_ticks(id, {from, INT64_MAX});
        if (!ticks) return ticks.status();
        for (const auto& t : *ticks) level.ticks.push_back({t.time, t.price, t.size});
      } else {
        auto bars = store.read_candles(id, *finer, {from, INT64_MAX});
        if (!bars) return bars.status();
        level.finer = std::move(*bars);
      }
      data.levels.push_back(std::move(level));
      finer = &interval;
    }
    return data;
  }

  // Reads, without the engine lock, what prepare() needs of the batch's assets that are not live
  // yet (their ids and resume data), so that the engine lock is not held while the store answers
  // (or waits out a locked database). Writes the queue first: what it reads must include it.
  // Returns an empty Preload when every asset is live.
  Result<Preload> preload(std::span<const TickInput> ticks) {
    Preload loaded;
    {
      std::lock_guard lock(mutex);
      const std::string* previous = nullptr;  // batches come grouped by symbol, mostly
      for (const TickInput& t : ticks) {
        if (previous != nullptr && *previous == t.symbol) continue;
        previous = &t.symbol;
        auto it = assets.find(t.symbol);
        if (it == assets.end() || !it->second.resumed) loaded.assets.try_emplace(t.symbol);
      }
      loaded.release_epoch = release_epoch;
    }
    if (loaded.assets.empty()) return loaded;
    if (Status s = write_queued(); !s.ok()) return store_failed(s);
    for (auto& [symbol, load] : loaded.assets) {
      auto found = store.find_asset(symbol);
      if (!found) {
        load.status = found.status();
        continue;
      }
      if (!found->has_value()) {
        load.status = Status::not_found("unknown asset '" + symbol + "'");
        continue;
      }
      load.id = (*found)->id;
      auto resume = read_resume(load.id);
      if (!resume) {
        load.status = resume.status();
        continue;
      }
      load.resume = std::move(*resume);
    }
    return loaded;
  }

  // The asset's live state; a new one from `preload` when it holds the asset, else (the asset
  // was released since, or another caller's batch made it live) from the store.
  Result<AssetLive*> asset_live(std::string_view symbol, const Preload* preload = nullptr) {
    if (auto it = assets.find(symbol); it != assets.end()) return &it->second;
    std::int64_t id = 0;
    const AssetLoad* load = loaded(preload, symbol);
    if (load != nullptr) {
      if (!load->status.ok()) return load->status;
      id = load->id;
    } else {
      auto found = store.find_asset(symbol);
      if (!found) return found.status();
      if (!found->has_value())
        return Status::not_found("unknown asset '" + std::string(symbol) + "'");
      id = (*found)->id;
    }
    AssetLive live;
    live.id = id;
    reset_aggregators(live);
    return &assets.emplace(std::string(symbol), std::move(live)).first->second;
  }

  // The preloaded data of `symbol`, if `preload` holds it and no release() came since.
  const AssetLoad* loaded(const Preload* preload, std::string_view symbol) const {
    if (preload == nullptr || preload->release_epoch != release_epoch) return nullptr;
    auto it = preload->assets.find(symbol);
    return it == preload->assets.end() ? nullptr : &it->second;
  }

  // After a (re)start, before the first batch of an asset: rebuilds the bar each interval had
  // forming, from what the store holds, so a restart neither loses the ticks of a forming bar nor
  // overwrites a stored bar with a partial one. Intervals go from the finest up: the finest
  // interval's content is the stored ticks after its last stored bar; each coarser one's is the
  // finer bars after its own last stored bar (stored, rebuilt here, and the finer forming one).
  // The last stored bar is replayed first and dropped, so older ticks stay late. Bars that close
  // while the content is replayed were lost by a process that stored their ticks and died before
  // storing the bar: they go to `closed`, to be written and fed like any closed bar.
  // Reads are bounded by what a dead process left unwritten (normally one bar of each interval);
  // they come from `preload` when it holds the asset (read without the engine lock), else from
  // the store here.
  Status resume(const std::string& symbol, AssetLive& live, std::vector<Closed>& closed,
                const Preload* preload = nullptr) {
    if (live.resumed) return {};
    const AssetLoad* load = loaded(preload, symbol);
    ResumeData read;
    if (load == nullptr || load->id != live.id) {
      if (Status s = write_queued(); !s.ok()) return s;  // what it reads must include them
      auto data = read_resume(live.id);
      if (!data) return data.status();
      read = std::move(*data);
      load = nullptr;
    } else if (!load->status.ok()) {
      return load->status;
    }
    const ResumeData& data = load != nullptr ? load->resume : read;
    std::vector<Closed> rebuilt;
    const Interval* finer = nullptr;
    Timestamp last_time = INT64_MIN;
    std::size_t level_index = 0;
    for (auto& [interval, agg] : live.aggregators) {
      const ResumeData::Level& level = data.levels.at(level_index++);
      const Timestamp from =
          level.last ? level.last->time + interval_duration(interval) : INT64_MIN;
      std::vector<Tick> content;
      if (finer == nullptr) {
        content = level.ticks;
        // The stored ticks are those read, and those of the stored bars (before `from`).
        if (from != INT64_MIN) last_time = from - 1;
        for (const auto& t : level.ticks) last_time = std::max(last_time, t.time);
      } else {
        auto add_bar = [&](const Candle& b) {
          content.push_back({b.time, b.open, b.volume});
          content.push_back({b.time, b.high, 0});
          content.push_back({b.time, b.low, 0});
          content.push_back({b.time, b.close, 0});
        };
        for (std::size_t k = 0; k < level.finer.size(); ++k) add_bar(level.finer.at(k));
        for (const Closed& c : rebuilt) {
          if (c.interval == *finer && c.bar.time >= from) add_bar(c.bar);
        }
        if (auto forming = live.aggregators.at(*finer).forming();
            forming && forming->time >= from) {
          add_bar(*forming);
        }
      }
      if (level.last) {
        const Candle& bar = *level.last;
        (void)agg.on_tick({bar.time, bar.open, bar.volume});
        (void)agg.on_tick({bar.time, bar.close, 0});
        (void)agg.flush();
      }
      for (const Tick& t : content) {
        TickOutcome outcome = agg.on_tick(t);
        if (outcome.closed) rebuilt.push_back({symbol, interval, *outcome.closed});
      }
      finer = &interval;
    }
    live.resumed = true;
    live.last_time = last_time;
    std::stable_sort(rebuilt.begin(), rebuilt.end(),
                     [](const Closed& a, const Closed& b) { return a.bar.time < b.bar.time; });
    closed.insert(closed.end(), rebuilt.begin(), rebuilt.end());
    return {};
  }

  // A fresh set of aggregators (after a failed resume, or for a new asset).
  void reset_aggregators(AssetLive& live) {
    live.aggregators.clear();
    for (Interval i : options.intervals) {
      live.aggregators.emplace(i, CandleAggregator::create(BarRule::time(i)).value());
    }
  }

  // Creates the asset's standing topics (warmed from the store), once.
  void ensure_standing(const std::string& symbol, AssetLive& live) {
    if (live.standing_ready || options.standing.empty()) return;
    live.standing_ready = true;
    for (const auto& standing : options.standing) {
      auto topic = topic_for(symbol, standing.interval, standing.graph);
      if (!topic) {
        // Logged once per graph; tried again after the graph changes or the asset is released.
        if (reported_standing_errors.insert(standing.graph).second) {
          log::error(
              "standing graph '" + standing.graph + "' on " + symbol + ": " + topic.message(),
              {{"graph", standing.graph}, {"symbol", symbol}});
        }
        continue;
      }
      (*topic)->standing = true;
      catch_up_materialised(**topic);
    }
  }

  // Closed bars, in the order they closed: to the bus, to the topics (which compute their final
  // values), and to the staged writes. A bar reaches the topics before the store: its ticks are
  // stored or staged first, so a process that dies before writing it rebuilds it on resume().
  void feed_closed_bars(std::vector<Closed> closed) {
    for (Closed& c : closed) {
      c.asset_id = assets.find(c.symbol)->second.id;
      if (options.on_update) emit_candle(c.symbol, c.interval, c.bar, true);
      if (auto it = topics_by_symbol.find(c.symbol); it != topics_by_symbol.end()) {
        for (Topic* topic : it->second) {
          if (topic->interval == c.interval) feed_closed(*topic, c.symbol, c.bar);
        }
      }
      staging.closed.push_back(std::move(c));
    }
  }

  // Queues what was staged (with the counts to report once it is written).
  void enqueue(std::string_view source, const IngestCounts& counts) {
    staging.source = std::string(source);
    staging.counts = counts;
    if (staging.empty()) return;
    {
      std::lock_guard q(queue_mutex);
      queue.push_back(std::move(staging));
      queued = queue.size();
      staging = Pending{};
    }
    if (!writer_failing) writer_cv.notify_one();  // written now, not at the next period
  }

  // The ingest metrics of ticks now stored.
  void count_ingested(std::string_view source, const IngestCounts& counts) {
    const Labels labels{{"source", std::string(source)}};
    metrics.counter("tickgraph_ingest_ticks_total", "Ticks ingested, by source", labels)
        .inc(static_cast<double>(counts.accepted));
    metrics
        .counter("tickgraph_ingest_late_ticks_total", "Ticks stored but too late for their bar",
                 labels)
        .inc(static_cast<double>(counts.late));
  }

  // Before a read that must see every bar the engine closed (a warm-up, a snapshot): writes what
  // is queued.
  Status write_queued() {
    if (queued == 0) return {};
    std::lock_guard writer(flush_mutex);
    return flush_locked();
  }

  // Writes every queued entry, in order, as one store batch (one commit where the store can).
  // On failure nothing is taken off the queue: the next flush writes it all again (writes are
  // idempotent). A standing graph's values that the store refuses do not hold up the ticks and
  // bars: they are kept for the next flush, unless their graph version is gone (replaced or
  // deleted), and counted in tickgraph_live_store_errors_total. flush_mutex must be held.
  Status flush_locked() {
    std::vector<Pending*> todo;
    {
      std::lock_guard q(queue_mutex);
      for (Pending& p : queue) todo.push_back(&p);
    }
    if (todo.empty()) return {};
    std::vector<ValueRows> refused;
    std::string refusal;
    Status written = store.batch([&]() -> Status {
      refused.clear();
      for (Pending* p : todo) {
        for (const auto& [asset_id, ticks] : p->ticks) {
          const auto start = std::chrono::steady_clock::now();
          auto result = store.write_ticks(asset_id, ticks);
          store_latency_ticks.observe(seconds_since(start));
          if (!result) return result.status();
        }
        std::map<std::pair<std::int64_t, Interval>, std::vector<Candle>> by_series;
        for (const Closed& c : p->closed) by_series[{c.asset_id, c.interval}].push_back(c.bar);
        for (const auto& [series, bars] : by_series) {
          const auto start = std::chrono::steady_clock::now();
          auto result = store.write_candles(series.first, series.second, bars);
          store_latency_candles.observe(seconds_since(start));
          if (!result) return result.status();
        }
        for (const auto& [key, v] : p->values) {
          std::vector<store::AnalyticsSeries> series(v.outputs.size());
          for (std::size_t c = 0; c < series.size(); ++c) {
            series[c].output = v.outputs[c];
            for (const auto& [time, values] : v.rows) {
              series[c].time.push_back(time);
              series[c].values.push_back(values[c]);
            }
          }
          const auto start = std::chrono::steady_clock::now();
          const Status s = store.write_analytics(v.asset_id, v.graph_id, v.version, series);
          store_latency_analytics.observe(seconds_since(start));
          if (!s.ok()) {
            refused.push_back(v);
            refusal = s.message();
          }
        }
      }
      return {};
    });
    if (!written.ok()) {
      store_errors.inc();
      return written;
    }
    std::set<std::string> written_bars;
    for (const Pending* p : todo) {
      for (const Closed& c : p->closed) written_bars.insert(c.symbol);
      closed_bars.inc(static_cast<double>(p->closed.size()));
      if (!p->source.empty()) count_ingested(p->source, p->counts);
    }
    for (const std::string& symbol : written_bars) bump(symbol);
    Pending retry;
    for (ValueRows& v : refused) {
      // A version that is gone (the graph deleted, or deleted and put again) takes no values.
      auto version = store.get_graph(v.graph, v.version);
      if (version && (!version->has_value() || (*version)->graph_id != v.graph_id)) continue;
      store_errors.inc();
      if (reported_value_errors.insert(v.graph).second) {
        log::warn("store: " + refusal + " (values of graph '" + v.graph + "' kept, written later)",
                  {{"graph", v.graph}, {"reason", "store_failed"}});
      }
      const std::string key = std::to_string(v.asset_id) + "|" + std::to_string(v.graph_id);
      retry.values.emplace(key, std::move(v));
    }
    std::lock_guard q(queue_mutex);
    queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(todo.size()));
    if (!retry.values.empty()) queue.push_back(std::move(retry));
    queued = queue.size();
    return {};
  }

  // A candle update (no graph) for the bus.
  void emit_candle(const std::string& symbol, Interval interval, const Candle& bar, bool final) {
    v1::Update update;
    update.set_symbol(symbol);
    update.set_interval(to_proto(interval));
    to_proto(bar, *update.mutable_candle());
    update.set_final(final);
    update.set_server_time(options.clock->now());
    options.on_update(symbol, update.SerializeAsString());
  }

  // A final row of a standing topic, to be stored as materialised analytics.
  void materialise(Topic& topic, Timestamp t, std::span<const double> row_values) {
    ValueRows& v = staging.values[topic.key];
    if (v.outputs.empty()) {
      v.graph = topic.graph;
      v.asset_id = assets.find(topic.symbol)->second.id;
      v.graph_id = topic.graph_id;
      v.version = topic.graph_version;
      for (const auto& column : topic.plan->columns) v.outputs.push_back(column.name);
    }
    v.rows.emplace_back(t, std::vector<double>(row_values.begin(), row_values.end()));
  }

  // A standing topic was just warmed from the store: stores the values of its warm rows that the
  // store lacks (a process that died between storing a bar and its values, or history from
  // before the graph ran), from the latest stored value on.
  void catch_up_materialised(Topic& topic) {
    if (!topic.plan || topic.bars.empty() || topic.plan->columns.empty()) return;
    auto stored = store.read_analytics(assets.find(topic.symbol)->second.id, topic.graph_id,
                                       topic.graph_version, topic.plan->columns[0].name,
                                       {topic.bars.time.front(), INT64_MAX});
    if (!stored) return;  // written with the next bar's values instead
    const Timestamp after = stored->time.empty() ? INT64_MIN : stored->time.back();
    for (std::size_t r = topic.bars.lower_bound(after == INT64_MIN ? INT64_MIN : after + 1);
         r < topic.bars.size(); ++r) {
      std::vector<double> row(topic.values.size());
      for (std::size_t c = 0; c < row.size(); ++c) row[c] = topic.values[c][r];
      materialise(topic, topic.bars.time[r], row);
    }
  }

  static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  void feed_closed(Topic& topic, const std::string& symbol, const Candle& bar) {
    if (!topic.plan) {
      if (symbol == topic.symbol) publish(topic, bar, true, {});
      return;
    }
    if (symbol == topic.symbol) append_row(topic, bar);
    topic.changed_rows.clear();
    topic.executor->on_bar(topic.plan->asset_index(symbol), bar);
    std::sort(topic.changed_rows.begin(), topic.changed_rows.end());
    topic.changed_rows.erase(std::unique(topic.changed_rows.begin(), topic.changed_rows.end()),
                             topic.changed_rows.end());
    for (const std::size_t row : topic.changed_rows) {
      std::vector<double> row_values(topic.values.size());
      for (std::size_t c = 0; c < topic.values.size(); ++c) row_values[c] = topic.values[c][row];
      if (topic.standing) materialise(topic, topic.bars.time[row], row_values);
      publish(topic, topic.bars.at(row), true, row_values);
    }
    // A primary bar whose own domain produced nothing (no node fires on it) is still final.
    if (symbol == topic.symbol && topic.changed_rows.empty()) {
      std::vector<double> row_values(topic.values.size());
      for (std::size_t c = 0; c < topic.values.size(); ++c) row_values[c] = topic.values[c].back();
      if (topic.standing) materialise(topic, bar.time, row_values);
      publish(topic, bar, true, row_values);
    }
  }

  void append_row(Topic& topic, const Candle& bar) {
    topic.bars.push_back(bar);
    for (auto& column : topic.values) column.push_back(analytics::kNaN);
    const std::size_t limit = 2 * std::max(options.max_history, std::size_t{1});
    if (topic.bars.size() > limit) {
      const std::size_t drop = topic.bars.size() - options.max_history;
      topic.bars = topic.bars.slice(drop, topic.bars.size());
      for (auto& column : topic.values)
        column.erase(column.begin(), column.begin() + static_cast<std::ptrdiff_t>(drop));
    }
  }

  // The listener of a topic's executor: copies the columns of the domain that fired into the
  // row of that bar time.
  void on_fired(Topic& topic, Timestamp t, int domain) {
    const auto& times = topic.bars.time;
    const auto row = std::lower_bound(times.begin(), times.end(), t);
    if (row == times.end() || *row != t) return;
    const auto r = static_cast<std::size_t>(row - times.begin());
    const graph::Plan& plan = *topic.plan;
    for (std::size_t c = 0; c < plan.columns.size(); ++c) {
      const auto& col = plan.columns[c];
      if (plan.instances[static_cast<std::size_t>(col.instance)].domain == domain) {
        topic.values[c][r] = topic.executor->value(col.slot);
      }
    }
    topic.changed_rows.push_back(r);
  }

  // The forming bar of the topic's asset changed: provisional values by peek.
  void publish_forming(Topic& topic) {
    auto live = assets.find(topic.symbol);
    if (live == assets.end()) return;
    const auto forming = live->second.aggregators.at(topic.interval).forming();
    if (!forming) return;
    if (!topic.plan) {
      publish(topic, *forming, false, {});
      return;
    }
    publish(topic, *forming, false, peek_values(topic, *forming));
  }

  // The provisional values of every column of a graph topic for its forming bar.
  std::vector<double> peek_values(Topic& topic, const Candle& forming) {
    topic.executor->peek(topic.plan->asset_index(topic.symbol), forming, topic.scratch);
    std::vector<double> row_values(topic.plan->columns.size());
    for (std::size_t c = 0; c < row_values.size(); ++c) {
      row_values[c] = topic.scratch[static_cast<std::size_t>(topic.plan->columns[c].slot)];
    }
    return row_values;
  }

  // An Update of a topic's bar; `columns` chooses the values given (empty: all).
  void fill_update(const Topic& topic, const Candle& bar, bool final,
                   std::span<const double> row_values, const std::vector<int>& columns,
                   v1::Update& update) {
    update.set_symbol(topic.symbol);
    update.set_interval(to_proto(topic.interval));
    to_proto(bar, *update.mutable_candle());
    update.set_final(final);
    update.set_graph(topic.graph);
    update.set_server_time(options.clock->now());
    if (topic.plan) {
      auto& values = *update.mutable_values();
      auto put = [&](std::size_t c) {
        google::protobuf::Value v;
        if (std::isfinite(row_values[c])) {
          v.set_number_value(row_values[c]);
        } else {
          v.set_null_value(google::protobuf::NULL_VALUE);
        }
        values[topic.plan->columns[c].name] = v;
      };
      if (columns.empty()) {
        for (std::size_t c = 0; c < row_values.size(); ++c) put(c);
      } else {
        for (const int c : columns) put(static_cast<std::size_t>(c));
      }
    }
  }

  // What fill_update() makes, as StreamMessage JSON, written directly (convert.h).
  std::string update_json(const Topic& topic, const Candle& bar, bool final,
                          std::span<const double> row_values, const std::vector<int>& columns) {
    std::vector<NamedValue> values;
    if (topic.plan) {
      auto put = [&](std::size_t c) {
        values.push_back({topic.plan->columns[c].name, row_values[c]});
      };
      if (columns.empty()) {
        for (std::size_t c = 0; c < row_values.size(); ++c) put(c);
      } else {
        for (const int c : columns) put(static_cast<std::size_t>(c));
      }
    }
    return server::update_json(topic.symbol, topic.interval, bar, final, topic.graph, values,
                               options.clock->now());
  }

  void publish(Topic& topic, const Candle& bar, bool final, std::span<const double> row_values) {
    if (topic.standing && options.on_update) {
      v1::Update update;
      fill_update(topic, bar, final, row_values, {}, update);
      options.on_update(topic.symbol, update.SerializeAsString());
    }
    std::map<std::vector<int>, SharedText> by_columns;  // one serialisation per column choice
    auto& subs = topic.subscribers;
    for (auto it = subs.begin(); it != subs.end();) {
      auto client = it->client.lock();
      if (!client || client->closed()) {
        ++it;
        continue;
      }
      auto& text = by_columns[it->columns];
      if (!text) text = shared(update_json(topic, bar, final, row_values, it->columns));
      client->push(topic.key, text, final);
      report_lag(*client);
      ++it;
    }
  }

  void report_lag(StreamClient& client) {
    auto* state = static_cast<ClientState*>(client.user_state.get());
    const std::int64_t total = client.coalesced_total();
    if (total <= state->reported_coalesced) return;
    coalesced.inc(static_cast<double>(total - state->reported_coalesced));
    state->reported_coalesced = total;
    v1::StreamMessage message;
    message.mutable_lag()->set_coalesced(total);
    message.mutable_lag()->set_pending_bytes(static_cast<std::int64_t>(client.pending_bytes()));
    client.push("~lag", shared(to_json(message)), false, false);
  }

  void reindex() {
    topic_count = topics.size();
    topics_by_symbol.clear();
    for (auto& [key, topic] : topics) {
      for (const auto& symbol : topic->reads()) topics_by_symbol[symbol].push_back(topic.get());
    }
  }

  // Loads history into a new graph topic: the latest warmup_bars of each asset it reads,
  // replayed in time order (assets in plan order on equal times), as run_push does.
  Status warm_up(Topic& topic) {
    if (Status s = write_queued(); !s.ok()) return s;
    for (const auto& symbol : topic.plan->assets) {
      if (auto live = asset_live(symbol); !live) return live.status();
    }
    auto loaded = live::latest_bars(store, *topic.plan, topic.interval, options.warmup_bars);
    if (!loaded) return loaded.status();
    const graph::MarketData& data = *loaded;
    topic.values.assign(topic.plan->columns.size(), {});
    std::vector<std::size_t> next(topic.plan->assets.size(), 0);
    for (;;) {
      int best = -1;
      Timestamp best_t = 0;
      for (std::size_t a = 0; a < next.size(); ++a) {
        const CandleSeries& s = data.find(topic.plan->assets[a])->second;
        if (next[a] < s.size() && (best < 0 || s.time[next[a]] < best_t)) {
          best = static_cast<int>(a);
          best_t = s.time[next[a]];
        }
      }
      if (best < 0) break;
      const auto b = static_cast<std::size_t>(best);
      const CandleSeries& s = data.find(topic.plan->assets[b])->second;
      const Candle bar = s.at(next[b]++);
      if (b == 0) append_row(topic, bar);
      topic.executor->on_bar(best, bar);
    }
    topic.changed_rows.clear();
    return {};
  }

  Result<Topic*> topic_for(const std::string& symbol, Interval interval,
                           const std::string& graph_name) {
    const std::string key = symbol + "|" + std::string(interval_name(interval)) + "|" + graph_name;
    if (auto it = topics.find(key); it != topics.end()) return it->second.get();
    auto topic = std::make_unique<Topic>();
    topic->key = key;
    topic->symbol = symbol;
    topic->interval = interval;
    topic->graph = graph_name;
    if (!graph_name.empty()) {
      auto stored = live::load_graph(store, graph_name);
      if (!stored) {
        return stored.code() == StatusCode::kNotFound ? stored.status().with_prefix("graph: ")
                                                      : stored.status();
      }
      topic->graph_id = stored->version.graph_id;
      topic->graph_version = stored->version.version;
      topic->plan = graph::make_plan(stored->graph, symbol);
      if (options.relay_only) {  // values come from the store and the bus
        Topic* raw = topic.get();
        topics.emplace(key, std::move(topic));
        reindex();
        return raw;
      }
      topic->executor = std::make_unique<graph::PushExecutor>(topic->plan);
      Topic* raw = topic.get();
      topic->executor->set_listener(
          [this, raw](Timestamp t, int domain) { on_fired(*raw, t, domain); });
      if (Status s = warm_up(*topic); !s.ok()) return s;
    }
    Topic* raw = topic.get();
    topics.emplace(key, std::move(topic));
    reindex();
    return raw;
  }

  // Relay mode: the snapshot of a topic from the store (closed bars and their materialised
  // values; NaN where none is stored) and the latest forming update the bus brought.
  Status relay_snapshot(Topic& t, std::size_t history, const std::vector<int>& columns,
                        v1::Snapshot& snapshot, v1::CandleSeries& candles) {
    const std::int64_t asset_id = assets.find(t.symbol)->second.id;
    auto bars = store.latest_candles(asset_id, t.interval, history);
    if (!bars) return bars.status();
    to_proto(t.symbol, t.interval, *bars, candles);
    if (t.plan) {
      auto* analytics = snapshot.add_analytics();
      analytics->set_symbol(t.symbol);
      analytics->set_interval(to_proto(t.interval));
      analytics->set_graph(t.graph);
      analytics->set_version(t.graph_version);
      analytics->mutable_ts()->Add(bars->time.begin(), bars->time.end());
      for (std::size_t c = 0; c < t.plan->columns.size(); ++c) {
        if (!columns.empty() &&
            std::find(columns.begin(), columns.end(), static_cast<int>(c)) == columns.end()) {
          continue;
        }
        std::vector<double> values(bars->size(), analytics::kNaN);
        if (!bars->empty()) {
          auto stored =
              store.read_analytics(asset_id, t.graph_id, t.graph_version, t.plan->columns[c].name,
                                   {bars->time.front(), bars->time.back()});
          if (!stored) return stored.status();
          for (std::size_t k = 0; k < stored->time.size(); ++k) {
            const std::size_t row = bars->lower_bound(stored->time[k]);
            if (row < bars->size() && bars->time[row] == stored->time[k]) {
              values[row] = stored->values[k];
            }
          }
        }
        to_proto(t.plan->columns[c].name, values, *analytics->add_series());
      }
    }
    if (t.last_forming && (bars->empty() || t.last_forming->candle().time() > bars->time.back())) {
      select_columns(t, *t.last_forming, columns, *snapshot.add_forming());
    }
    return {};
  }

  // A relayed update with only the chosen columns' values (all when `columns` is empty).
  static void select_columns(const Topic& t, const v1::Update& update,
                             const std::vector<int>& columns, v1::Update& out) {
    out = update;
    if (columns.empty() || !t.plan) return;
    auto& values = *out.mutable_values();
    values.clear();
    for (const int c : columns) {
      const std::string& name = t.plan->columns[static_cast<std::size_t>(c)].name;
      if (auto v = update.values().find(name); v != update.values().end()) values[name] = v->second;
    }
  }

  // --- ingest, under the engine lock ---

  static Status no_engine() {
    return Status::unavailable(
        "this node runs no engine (serve --no-engine): send ticks to an ingest worker or to a "
        "node that runs the engine");
  }

  // Groups the batch by asset (keeping batch order) and, after a (re)start, rebuilds each asset's
  // forming bars from the store before the batch's own ticks are applied (they would otherwise be
  // counted twice). Standing topics are made first, so that bars the rebuild closes reach them;
  // those bars go to `closed`, which the caller feeds even when a later step fails. Nothing of
  // the batch is applied yet.
  Status prepare(std::span<const TickInput> ticks, ByAsset& by_asset, std::vector<Closed>& closed,
                 const Preload* preload = nullptr) {
    for (std::size_t i = 0; i < ticks.size(); ++i) {
      auto group = by_asset.find(ticks[i].symbol);
      if (group == by_asset.end()) {
        auto live = asset_live(ticks[i].symbol, preload);
        if (!live) {
          const std::string at = "ticks[" + std::to_string(i) + "].symbol";
          if (!live.status().is(StatusCode::kNotFound)) return store_failed(live.status());
          return bad(at + ": " + live.message(), "field", at)
              .with_detail("index", std::to_string(i));
        }
        group = by_asset.emplace(ticks[i].symbol, std::vector<std::size_t>{}).first;
      }
      group->second.push_back(i);
    }
    for (const auto& [symbol, indexes] : by_asset) {
      auto& live = assets.find(symbol)->second;
      ensure_standing(symbol, live);
      if (Status s = resume(symbol, live, closed, preload); !s.ok()) {
        reset_aggregators(live);
        return store_failed(s).with_detail("asset", symbol);
      }
    }
    return {};
  }

  // A batch refused after prepare(): nothing of it is applied or staged, but the bars resume()
  // rebuilt still go on (their ticks are stored).
  Status refuse(Status e, std::vector<Closed> closed) {
    staging.ticks.clear();
    feed_closed_bars(std::move(closed));
    enqueue("", {});
    return e;
  }

  // Sorts out which ticks of the batch are new: per asset, the new ones with their key, in batch
  // order (appended to `fresh`); the others are marked in `retried`. Ticks are keyed (asset, time,
  // seq). A tick identical to one already stored at its time (and not yet matched by another tick
  // of this batch) is a retry: it keeps that key, is counted unchanged and is not applied again.
  // Any other tick takes the next free seq of its time, so a different tick with an equal time
  // never replaces an acknowledged one. The store is read only for an asset whose batch reaches
  // back to its last tick (a redelivery, a retried request, a late tick), and then only after
  // everything staged is written; a batch that moves forward in time, the usual case, cannot
  // hold a tick the store has.
  Status sort_out(std::span<const TickInput> ticks, const ByAsset& by_asset,
                  std::vector<bool>& retried, FreshTicks& fresh, IngestCounts& counts) {
    bool flushed = false;
    for (const auto& [symbol, indexes] : by_asset) {
      AssetLive& live = assets.find(symbol)->second;
      Timestamp lo = INT64_MAX;
      Timestamp hi = INT64_MIN;
      for (const std::size_t i : indexes) {
        lo = std::min(lo, ticks[i].tick.time);
        hi = std::max(hi, ticks[i].tick.time);
      }
      std::map<Timestamp, std::vector<store::StoredTick>> at_time;  // stored, unmatched
      // Next free seq per time; hashed, since a fresh batch has an entry per tick.
      std::unordered_map<Timestamp, std::int64_t> next_seq;
      next_seq.reserve(indexes.size());
      if (lo <= live.last_time) {
        std::lock_guard writer(flush_mutex);
        if (!flushed) {
          if (Status s = flush_locked(); !s.ok()) return store_failed(s);
          flushed = true;
        }
        auto existing = store.read_ticks(live.id, {lo, hi});
        if (!existing) return store_failed(existing.status()).with_detail("asset", symbol);
        for (const auto& t : *existing) {
          at_time[t.time].push_back(t);
          auto& seq = next_seq[t.time];
          seq = std::max(seq, t.seq + 1);
        }
      }
      if (auto reserved = in_flight_seqs.find(live.id); reserved != in_flight_seqs.end()) {
        for (const auto& [time, seq] : reserved->second) {
          if (time >= lo && time <= hi) next_seq[time] = std::max(next_seq[time], seq);
        }
      }
      std::vector<store::StoredTick> mine;
      mine.reserve(indexes.size());
      for (const std::size_t i : indexes) {
        const Tick& t = ticks[i].tick;
        if (auto candidates = at_time.find(t.time); candidates != at_time.end()) {
          auto& list = candidates->second;
          const auto same = std::find_if(list.begin(), list.end(), [&](const auto& c) {
            return c.price == t.price && c.size == t.size;
          });
          if (same != list.end()) {
            list.erase(same);
            retried[i] = true;
            ++counts.unchanged;
            continue;
          }
        }
        mine.push_back({t.time, next_seq[t.time]++, t.price, t.size});
      }
      live.last_time = std::max(live.last_time, hi);
      if (!mine.empty()) fresh.emplace_back(live.id, std::move(mine));
    }
    return {};
  }

  // Applies the batch's new ticks to the live bars, feeds the bars that closed (after those
  // already in `closed`) and publishes the forming bars that changed. A tick late for one
  // interval (its 1m bar closed) may still belong to a forming bar of a longer one: each interval
  // decides for itself; the tick counts as late when some interval refused it.
  void apply_ticks(std::span<const TickInput> ticks, const ByAsset& by_asset,
                   const std::vector<bool>& retried, std::vector<Closed> closed,
                   IngestCounts& counts) {
    // Per tick, its asset's live state (one lookup per asset, not per tick); per asset, a bit per
    // interval (in aggregator order) whose forming bar the batch changed.
    std::vector<AssetLive*> live_of(ticks.size());
    std::map<std::string_view, AssetLive*> touched;
    for (const auto& [symbol, indexes] : by_asset) {
      auto* live = &assets.find(symbol)->second;
      touched[symbol] = live;
      for (const std::size_t i : indexes) live_of[i] = live;
    }
    for (std::size_t i = 0; i < ticks.size(); ++i) {
      if (retried[i]) continue;
      const TickInput& t = ticks[i];
      AssetLive& live = *live_of[i];
      bool late = false;
      std::uint32_t bit = 1;
      for (auto& [interval, agg] : live.aggregators) {
        TickOutcome outcome = agg.on_tick(t.tick);
        if (outcome.verdict == TickVerdict::kLate) {
          late = true;
        } else {
          live.touched |= bit;
          if (outcome.closed) closed.push_back({t.symbol, interval, *outcome.closed});
        }
        bit <<= 1;
      }
      ++(late ? counts.late : counts.accepted);
    }
    feed_closed_bars(std::move(closed));
    for (auto& [symbol_view, live_ptr] : touched) {
      AssetLive& live = *live_ptr;
      const std::string symbol(symbol_view);
      const auto subscribed = topics_by_symbol.find(symbol);
      std::uint32_t bit = 1;
      for (auto& [interval, agg] : live.aggregators) {
        const bool changed = (live.touched & bit) != 0;
        bit <<= 1;
        if (!changed) continue;
        if (options.on_update) {
          if (const auto forming = agg.forming()) emit_candle(symbol, interval, *forming, false);
        }
        if (subscribed == topics_by_symbol.end()) continue;
        for (Topic* topic : subscribed->second) {
          if (topic->symbol == symbol && topic->interval == interval) publish_forming(*topic);
        }
      }
      live.touched = 0;
    }
  }

  void drop_unused_topics() {
    bool dropped = false;
    for (auto it = topics.begin(); it != topics.end();) {
      auto& subs = it->second->subscribers;
      std::erase_if(subs, [](const Topic::Subscriber& s) {
        auto c = s.client.lock();
        return !c || c->closed();
      });
      if (subs.empty() && !it->second->standing) {
        it = topics.erase(it);
        dropped = true;
      } else {
        ++it;
      }
    }
    if (dropped) reindex();
  }
};

LiveMarket::LiveMarket(store::Store& store, Metrics& metrics, LiveOptions options)
    : impl_(std::make_shared<Impl>(store, metrics, std::move(options))) {
  // The registry may outlive this market: the callbacks read it through a weak pointer and
  // report 0 once it is gone.
  std::weak_ptr<Impl> weak = impl_;
  metrics.gauge_callback("tickgraph_stream_clients", "Connected stream clients (WebSocket and SSE)",
                         {}, [weak] {
                           auto impl = weak.lock();
                           return impl ? static_cast<double>(impl->client_count.load()) : 0.0;
                         });
  metrics.gauge_callback("tickgraph_live_topics", "Live (asset, interval, graph) series followed",
                         {}, [weak] {
                           auto impl = weak.lock();
                           return impl ? static_cast<double>(impl->topic_count.load()) : 0.0;
                         });
  if (impl_->options.write_behind && !impl_->options.relay_only) {
    impl_->write_behind_thread = std::thread([m = impl_.get()] { m->write_behind_loop(); });
  }
}

LiveMarket::~LiveMarket() {
  Impl& m = *impl_;
  if (m.write_behind_thread.joinable()) {
    {
      std::lock_guard lock(m.writer_mutex);
      m.writer_stop = true;
    }
    m.writer_cv.notify_all();
    m.write_behind_thread.join();
  }
  // The last entries, once more. What still fails is logged: a feed delivers its unacknowledged
  // ticks again to the next process; the simulator's are not kept.
  if (m.queued > 0) {
    if (Status s = m.flush(); !s.ok()) {
      log::warn("store: " + s.message() + " (" + std::to_string(m.queued.load()) +
                    " batches not written at shutdown)",
                {{"reason", "store_failed"}});
    }
  }
}

// --- ingest: the parts both paths share (under the engine lock) ---

namespace {

// Checks the whole batch: a bad tick refuses the batch, and nothing is stored.
Status check_batch(std::span<const TickInput> ticks, Timestamp now) {
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const TickInput& t = ticks[i];
    const std::string at = "ticks[" + std::to_string(i) + "]";
    if (t.symbol.empty()) {
      return bad(at + ".symbol: missing", "field", at + ".symbol")
          .with_detail("index", std::to_string(i));
    }
    if (Status s = ingest::check_tick_values(t.tick, now); !s.ok()) {
      return s.with_prefix(at + ".")
          .with_field(at + "." + std::string(s.detail("field")))
          .with_detail("index", std::to_string(i));
    }
  }
  return {};
}

}  // namespace

Result<IngestCounts> LiveMarket::ingest(std::span<const TickInput> ticks, std::string_view source) {
  const auto start = std::chrono::steady_clock::now();
  Impl& m = *impl_;
  if (m.options.relay_only) return Impl::no_engine();
  if (Status s = check_batch(ticks, m.options.clock->now()); !s.ok()) return s;
  if (!m.ingest_turn.enter(m.options.store_wait)) {
    return Status::unavailable("the store is busy: earlier batches of ticks have been waiting " +
                               std::to_string(m.options.store_wait.count()) +
                               " ms to be written; try again");
  }
  Turn turn(&m.ingest_turn);
  auto preload = m.preload(ticks);  // assets not yet live: read before the engine lock
  if (!preload) return preload.status();
  IngestCounts counts;
  ByAsset by_asset;
  std::vector<Impl::Closed> closed;
  std::vector<bool> retried(ticks.size(), false);
  FreshTicks fresh;
  {
    std::lock_guard lock(m.mutex);
    auto fail = [&](Status e) { return m.refuse(std::move(e), std::move(closed)); };
    if (Status s = m.prepare(ticks, by_asset, closed, &*preload); !s.ok()) return fail(s);
    if (Status s = m.sort_out(ticks, by_asset, retried, fresh, counts); !s.ok()) return fail(s);
    for (const auto& [asset_id, asset_ticks] : fresh) {
      auto& reserved = m.in_flight_seqs[asset_id];
      for (const auto& t : asset_ticks) reserved[t.time] = std::max(reserved[t.time], t.seq + 1);
    }
  }
  // Stored before they are applied (a request answered with an error changed nothing), without
  // the engine lock: streams and feeds go on while the store waits out a locked database.
  const Status stored = m.store.batch([&]() -> Status {
    for (const auto& [asset_id, asset_ticks] : fresh) {
      const auto write_start = std::chrono::steady_clock::now();
      auto written = m.store.write_ticks(asset_id, asset_ticks);
      m.store_latency_ticks.observe(Impl::seconds_since(write_start));
      if (!written) return written.status();
    }
    return {};
  });
  {
    std::lock_guard lock(m.mutex);
    m.in_flight_seqs.clear();  // only this call's: ingest() calls run one at a time
    if (!stored.ok()) return m.refuse(store_failed(stored), std::move(closed));
    // An asset released meanwhile (its feed moved to another process) resumes from the store,
    // these ticks included: they are not applied here too.
    for (const auto& [symbol, indexes] : by_asset) {
      if (m.assets.contains(symbol)) continue;
      for (const std::size_t i : indexes) retried[i] = true;
    }
    std::erase_if(by_asset, [&](const auto& group) { return !m.assets.contains(group.first); });
    m.apply_ticks(ticks, by_asset, retried, std::move(closed), counts);
    m.enqueue("", {});  // the bars and values; the ticks are stored and counted here
  }
  turn.leave();
  // Closed bars are written after the engine lock is released (by the write-behind thread when
  // there is one); a failure keeps them queued.
  if (!m.write_behind_thread.joinable()) {
    if (Status s = flush(); !s.ok()) {
      log::warn("store: " + s.message() + " (closed bars kept, written later)",
                {{"reason", "store_failed"}});
    }
  }
  m.count_ingested(source, counts);
  m.update_latency.observe(Impl::seconds_since(start));
  return counts;
}

Result<IngestCounts> LiveMarket::stage(std::span<const TickInput> ticks, std::string_view source) {
  const auto start = std::chrono::steady_clock::now();
  Impl& m = *impl_;
  if (m.options.relay_only) return Impl::no_engine();
  if (Status s = check_batch(ticks, m.options.clock->now()); !s.ok()) return s;
  if (m.queued >= m.options.max_queued) {
    return Status::unavailable("the store is not keeping up: " + std::to_string(m.queued.load()) +
                               " batches are waiting to be written");
  }
  auto preload = m.preload(ticks);  // assets not yet live: read before the engine lock
  if (!preload) return preload.status();
  std::lock_guard lock(m.mutex);
  ByAsset by_asset;
  std::vector<Impl::Closed> closed;
  auto fail = [&](Status e) { return m.refuse(std::move(e), std::move(closed)); };
  if (Status s = m.prepare(ticks, by_asset, closed, &*preload); !s.ok()) return fail(s);
  std::vector<bool> retried(ticks.size(), false);
  IngestCounts counts;
  if (Status s = m.sort_out(ticks, by_asset, retried, m.staging.ticks, counts); !s.ok()) {
    return fail(s);
  }
  m.apply_ticks(ticks, by_asset, retried, std::move(closed), counts);
  m.enqueue(source, counts);
  m.update_latency.observe(Impl::seconds_since(start));
  return counts;
}

Status LiveMarket::flush() { return impl_->flush(); }

std::size_t LiveMarket::queued() const { return impl_->queued.load(); }

void LiveMarket::advance_clock(Timestamp now) {
  const auto start = std::chrono::steady_clock::now();
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.mutex);
    std::vector<Impl::Closed> closed;
    for (auto& [symbol, live] : m.assets) {
      for (auto& [interval, agg] : live.aggregators) {
        if (auto bar = agg.close_until(now)) closed.push_back({symbol, interval, *bar});
      }
    }
    if (closed.empty() && m.queued == 0) return;
    m.feed_closed_bars(std::move(closed));
    m.enqueue("", {});
    m.update_latency.observe(Impl::seconds_since(start));
  }
  if (m.write_behind_thread.joinable()) return;  // the write-behind thread writes them
  if (Status s = flush(); !s.ok()) {
    log::warn("store: " + s.message() + " (closed bars kept, written later)",
              {{"reason", "store_failed"}});
  }
}

std::optional<Candle> LiveMarket::forming(std::string_view symbol, Interval interval) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->assets.find(symbol);
  if (it == impl_->assets.end()) return std::nullopt;
  auto agg = it->second.aggregators.find(interval);
  return agg == it->second.aggregators.end() ? std::nullopt : agg->second.forming();
}

void LiveMarket::graph_changed(std::string_view name) {
  Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  const SharedText text = error_message(
      "graph_changed", "graph '" + std::string(name) + "' was replaced or deleted: subscribe again",
      {{"graph", std::string(name)}});
  for (auto it = m.topics.begin(); it != m.topics.end();) {
    if (it->second->graph != name) {
      ++it;
      continue;
    }
    for (auto& sub : it->second->subscribers) {
      if (auto client = sub.client.lock()) {
        client->send(text);
        static_cast<ClientState*>(client->user_state.get())->topics.erase(it->first);
      }
    }
    it = m.topics.erase(it);
  }
  m.reindex();
  // Standing topics of the graph start again, with its new version, at each asset's next batch.
  m.reported_standing_errors.erase(std::string(name));
  for (auto& [symbol, live] : m.assets) live.standing_ready = false;
}

void LiveMarket::release(std::span<const std::string> symbols) {
  Impl& m = *impl_;
  // What is staged is written now (before the engine lock) if the store allows: the next owner
  // rebuilds only the bars whose ticks follow the last stored bar. The source releasing them
  // stages nothing of them meanwhile (it calls this instead).
  if (Status s = m.flush(); !s.ok()) {
    log::warn("store: " + s.message() + " (while releasing assets)", {{"reason", "store_failed"}});
  }
  std::lock_guard lock(m.mutex);
  ++m.release_epoch;  // what preload() read before this may be older than the store now
  for (const std::string& symbol : symbols) {
    m.assets.erase(symbol);
    for (auto it = m.topics.begin(); it != m.topics.end();) {
      Topic& topic = *it->second;
      if (topic.symbol != symbol || !topic.standing) {
        ++it;
        continue;
      }
      topic.standing = false;
      if (topic.subscribers.empty()) {
        it = m.topics.erase(it);
      } else {
        ++it;
      }
    }
  }
  m.reindex();
}

void LiveMarket::relay(std::string_view bytes) {
  Impl& m = *impl_;
  v1::Update update;
  if (!update.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    m.relay_dropped.inc();
    return;
  }
  auto interval = from_proto(update.interval(), "interval");
  if (!interval) {
    m.relay_dropped.inc();
    return;
  }
  if (update.final() && update.graph().empty()) m.bump(update.symbol());
  std::lock_guard lock(m.mutex);
  const std::string key =
      update.symbol() + "|" + std::string(interval_name(*interval)) + "|" + update.graph();
  auto it = m.topics.find(key);
  if (it == m.topics.end()) return;
  Topic& topic = *it->second;
  if (!update.final()) topic.last_forming = update;
  std::map<std::vector<int>, SharedText> by_columns;
  for (const auto& sub : topic.subscribers) {
    auto client = sub.client.lock();
    if (!client || client->closed()) continue;
    auto& text = by_columns[sub.columns];
    if (!text) {
      v1::StreamMessage message;
      Impl::select_columns(topic, update, sub.columns, *message.mutable_update());
      text = shared(to_json(message));
    }
    client->push(topic.key, text, update.final());
    m.report_lag(*client);
  }
}

Status LiveMarket::subscribe(const std::shared_ptr<StreamClient>& client,
                             const SubscribeRequest& request) {
  Impl& m = *impl_;
  if (request.assets.empty())
    return bad("assets: at least one asset is required", "parameter", "assets");
  if (request.history > m.options.max_history) {
    return bad("history: at most " + std::to_string(m.options.max_history) + " bars", "parameter",
               "history");
  }
  const std::size_t history = request.history == 0 ? m.options.default_history : request.history;
  const std::string too_many =
      "at most " + std::to_string(m.options.max_subscriptions) + " subscriptions per connection";
  if (request.assets.size() > m.options.max_subscriptions) {
    return Status::resource_exhausted(too_many).with_parameter("assets");
  }
  std::lock_guard lock(m.mutex);
  // The snapshot is read from the store: it must hold every bar already published.
  if (Status s = m.write_queued(); !s.ok()) return store_failed(s);
  for (const auto& symbol : request.assets) {
    auto live = m.asset_live(symbol);
    if (!live && !live.status().is(StatusCode::kNotFound)) return store_failed(live.status());
    if (!live) {
      return Status::not_found("assets: unknown asset '" + symbol + "'")
          .with_detail("asset", symbol);
    }
  }
  v1::StreamMessage message;
  auto* snapshot = message.mutable_snapshot();
  std::vector<std::pair<Topic*, std::vector<int>>> chosen;
  for (const auto& symbol : request.assets) {
    auto topic = m.topic_for(symbol, request.interval, request.graph);
    if (!topic) {
      m.drop_unused_topics();
      return topic.status().with_detail("graph", request.graph);
    }
    Topic& t = **topic;
    std::vector<int> columns;
    for (const auto& output : request.outputs) {
      int found = -1;
      if (t.plan) {
        for (std::size_t c = 0; c < t.plan->columns.size(); ++c) {
          if (t.plan->columns[c].name == output) found = static_cast<int>(c);
        }
      }
      if (found < 0) {
        m.drop_unused_topics();
        return bad("outputs: '" + output + "' is not an output of graph '" + request.graph + "'",
                   "parameter", "outputs");
      }
      columns.push_back(found);
    }
    chosen.emplace_back(&t, std::move(columns));
    // The snapshot: recent closed bars, their values, and the forming bar.
    auto* candles = snapshot->add_candles();
    if (m.options.relay_only) {
      if (Status s = m.relay_snapshot(t, history, chosen.back().second, *snapshot, *candles);
          !s.ok()) {
        m.drop_unused_topics();
        return store_failed(s);
      }
      continue;
    }
    if (t.plan) {
      const std::size_t n = std::min(history, t.bars.size());
      const std::size_t first = t.bars.size() - n;
      to_proto(symbol, t.interval, t.bars.slice(first, t.bars.size()), *candles);
      auto* analytics = snapshot->add_analytics();
      analytics->set_symbol(symbol);
      analytics->set_interval(to_proto(t.interval));
      analytics->set_graph(t.graph);
      analytics->set_version(t.graph_version);
      analytics->mutable_ts()->Add(t.bars.time.begin() + static_cast<std::ptrdiff_t>(first),
                                   t.bars.time.end());
      const auto& cols = chosen.back().second;
      for (std::size_t c = 0; c < t.plan->columns.size(); ++c) {
        if (!cols.empty() &&
            std::find(cols.begin(), cols.end(), static_cast<int>(c)) == cols.end()) {
          continue;
        }
        to_proto(t.plan->columns[c].name, std::span<const double>(t.values[c]).subspan(first),
                 *analytics->add_series());
      }
    } else {
      auto bars = m.store.latest_candles(m.assets.find(symbol)->second.id, t.interval, history);
      if (!bars) {
        m.drop_unused_topics();
        return store_failed(bars.status());
      }
      to_proto(symbol, t.interval, *bars, *candles);
    }
    auto live = m.assets.find(symbol);
    if (auto forming = live->second.aggregators.at(t.interval).forming()) {
      // With its provisional values, as the next forming update will have them.
      const std::vector<double> values =
          t.plan ? m.peek_values(t, *forming) : std::vector<double>{};
      m.fill_update(t, *forming, false, values, chosen.back().second, *snapshot->add_forming());
    }
  }
  auto* state = static_cast<ClientState*>(client->user_state.get());
  std::size_t added = 0;
  for (const auto& [topic, columns] : chosen) added += state->topics.count(topic->key) == 0 ? 1 : 0;
  if (state->topics.size() + added > m.options.max_subscriptions) {
    m.drop_unused_topics();
    return Status::resource_exhausted(too_many).with_parameter("assets");
  }
  client->send(shared(to_json(message)));
  for (auto& [topic, columns] : chosen) {
    if (state->topics.insert(topic->key).second) {
      topic->subscribers.push_back({client, std::move(columns)});
      continue;
    }
    // Subscribing again to a followed topic changes its outputs to the new choice.
    for (auto& sub : topic->subscribers) {
      if (sub.client.lock() == client) sub.columns = columns;
    }
  }
  return {};
}

void LiveMarket::unsubscribe(const std::shared_ptr<StreamClient>& client,
                             const std::vector<std::string>& assets) {
  Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  auto* state = static_cast<ClientState*>(client->user_state.get());
  for (auto it = state->topics.begin(); it != state->topics.end();) {
    auto topic = m.topics.find(*it);
    const bool match =
        topic == m.topics.end() || assets.empty() ||
        std::find(assets.begin(), assets.end(), topic->second->symbol) != assets.end();
    if (!match) {
      ++it;
      continue;
    }
    if (topic != m.topics.end()) {
      std::erase_if(topic->second->subscribers,
                    [&](const Topic::Subscriber& s) { return s.client.lock() == client; });
    }
    it = state->topics.erase(it);
  }
  m.drop_unused_topics();
}

std::uint64_t LiveMarket::generation(std::string_view symbol) const {
  std::lock_guard lock(impl_->generations_mutex);
  auto it = impl_->generations.find(symbol);
  return it == impl_->generations.end() ? 0 : it->second;
}

void LiveMarket::bump(std::string_view symbol) { impl_->bump(std::string(symbol)); }

std::size_t LiveMarket::client_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->clients.size();
}

std::shared_ptr<StreamClient> LiveMarket::connect(StreamClient::Wake wake) {
  auto client =
      std::make_shared<StreamClient>(impl_->options.limits, std::move(wake), *impl_->options.clock);
  client->user_state = std::make_shared<ClientState>();
  std::lock_guard lock(impl_->mutex);
  impl_->clients.insert(client);
  impl_->client_count = impl_->clients.size();
  return client;
}

void LiveMarket::on_message(const std::shared_ptr<StreamClient>& client, std::string_view text) {
  v1::ClientMessage message;
  if (Status s = from_json(text, message, "message"); !s.ok()) {
    client->send(error_message(bad(s.message(), "message", "ClientMessage")));
    return;
  }
  if (message.has_unsubscribe()) {
    unsubscribe(client,
                {message.unsubscribe().assets().begin(), message.unsubscribe().assets().end()});
    return;
  }
  if (!message.has_subscribe()) {
    client->send(error_message(
        bad("message: expected 'subscribe' or 'unsubscribe'", "message", "ClientMessage")));
    return;
  }
  const v1::Subscribe& s = message.subscribe();
  auto interval = from_proto(s.interval(), "subscribe.interval");
  if (!interval) {
    client->send(error_message(bad(interval.message(), "field", "subscribe.interval")));
    return;
  }
  if (s.history() < 0) {
    client->send(
        error_message(bad("subscribe.history: must be >= 0", "field", "subscribe.history")));
    return;
  }
  SubscribeRequest request{{s.assets().begin(), s.assets().end()},
                           *interval,
                           s.graph(),
                           {s.outputs().begin(), s.outputs().end()},
                           static_cast<std::size_t>(s.history())};
  if (Status error = subscribe(client, request); !error.ok()) client->send(error_message(error));
}

std::variant<HttpResponse, std::shared_ptr<StreamClient>> LiveMarket::open_sse(
    const HttpRequest& request, StreamClient::Wake wake) {
  SubscribeRequest subscribe_request;
  const auto assets = request.query_param("assets");
  if (!assets || assets->empty()) {
    return error_response(bad("assets: required (comma-separated symbols)", "parameter", "assets"));
  }
  subscribe_request.assets = split_list(*assets);
  const auto interval_text = request.query_param("interval");
  if (!interval_text) {
    return error_response(
        bad("interval: required (1s, 1m, 5m, 15m, 1h, 4h, 1d or 1w)", "parameter", "interval"));
  }
  auto interval = parse_interval(*interval_text);
  if (!interval) {
    return error_response(interval.status().with_prefix("interval: ").with_parameter("interval"));
  }
  subscribe_request.interval = *interval;
  if (auto g = request.query_param("graph")) subscribe_request.graph = std::string(*g);
  if (auto o = request.query_param("outputs")) {
    if (subscribe_request.graph.empty()) {
      return error_response(bad("outputs: needs a graph", "parameter", "outputs"));
    }
    subscribe_request.outputs = split_list(*o);
  }
  if (auto h = request.query_param("history")) {
    std::size_t value = 0;
    const auto [ptr, ec] = std::from_chars(h->data(), h->data() + h->size(), value);
    if (ec != std::errc() || ptr != h->data() + h->size()) {
      return error_response(
          bad("history: not a whole number: '" + std::string(*h) + "'", "parameter", "history"));
    }
    subscribe_request.history = value;
  }
  auto client = connect(std::move(wake));
  if (Status error = subscribe(client, subscribe_request); !error.ok()) {
    disconnect(client);
    return error_response(error);
  }
  return client;
}

void LiveMarket::disconnect(const std::shared_ptr<StreamClient>& client) {
  unsubscribe(client, {});
  if (client->close_kind() == CloseKind::kTooSlow) impl_->too_slow.inc();
  client->close("disconnected", CloseKind::kDisconnected);
  std::lock_guard lock(impl_->mutex);
  impl_->clients.erase(client);
  impl_->client_count = impl_->clients.size();
}

}  // namespace tickgraph::server
