#include "live/engine.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <optional>

#include "core/log.h"
#include "live/bar_book.h"
#include "live/pull.h"
#include "store/bar_reader.h"

namespace tickgraph::live {

namespace {

// The store failed: its status (unavailable for a busy or broken database: the caller may retry),
// said to come from the store.
Status store_failed(const Status& s) { return s.with_prefix("store: "); }

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

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

// What a batch needs of the store, read before the engine lock (Impl::preload).
struct BatchLoad {
  BarBook::Loaded book;
  StandingLoad standing;
};

}  // namespace

struct Engine::Impl {
  Impl(store::Store& s, Metrics& m, Generations& g, EngineOptions o)
      : store(s),
        options(std::move(o)),
        writes(s, m, g, options.writes),
        book(s, writes, options.intervals),
        topics(s, writes, book,
               {options.warmup_bars, options.max_history, options.standing, options.clock},
               options.streams, options.bus),
        update_latency(m.histogram("tickgraph_push_update_seconds",
                                   "Time to apply an ingest batch or clock step to the live bars "
                                   "and push engine, and queue the updates")) {}

  store::Store& store;
  const EngineOptions options;
  WriteQueue writes;
  BarBook book;              // under mutex
  Topics topics;             // under mutex
  WriteBatch staging;        // under mutex: what the step being applied gives the store
  mutable std::mutex mutex;  // the engine lock
  std::atomic<std::size_t> topic_count{0};  // for the metrics, which must not wait for the lock
  Histogram& update_latency;
  // ingest() (POST /v1/ticks) stores its ticks before it applies them, and waits for the store
  // without the engine lock: one call at a time, so a retried request finds the first one's ticks
  // stored (and their seqs stay reserved in the book while they are written).
  TurnGate ingest_turn;

  // --- under the engine lock ---

  // Closed bars, in the order they closed: to the topics (the bus, final values), then to the
  // staged writes. A bar reaches the topics before the store: its ticks are stored or staged
  // first, so a process that dies before writing it rebuilds it on resume.
  void feed_closed(std::vector<ClosedBar> closed) {
    for (ClosedBar& c : closed) {
      topics.closed(c, staging);
      staging.closed.push_back(std::move(c));
    }
  }

  // Queues what was staged, with the counts to report once it is written.
  void enqueue(std::string_view source, const IngestCounts& counts) {
    staging.source = std::string(source);
    staging.counts = counts;
    writes.push(std::move(staging));
    staging = WriteBatch{};
    topic_count = topics.size();
  }

  // Groups the batch by asset and, after a (re)start, rebuilds each asset's forming bars before
  // the batch's own ticks are applied (they would otherwise be counted twice). Standing topics
  // are made first, so that bars the rebuild closes reach them. Nothing of the batch is applied.
  Status prepare(std::span<const TickInput> ticks, ByAsset& by_asset,
                 std::vector<ClosedBar>& closed, BatchLoad& loaded) {
    topics.check_standing(loaded.standing);  // before group() makes the assets live
    if (Status s = book.group(ticks, by_asset, &loaded.book); !s.ok()) return s;
    for (const auto& [symbol, indexes] : by_asset) {
      topics.standing(symbol, staging, &loaded.standing);
    }
    return book.resume(by_asset, closed, &loaded.book);
  }

  // A batch refused after prepare(): nothing of it is applied or staged, but the bars resuming
  // rebuilt still go on (their ticks are stored).
  Status refuse(Status e, std::vector<ClosedBar> closed) {
    staging.ticks.clear();
    feed_closed(std::move(closed));
    enqueue("", {});
    return e;
  }

  void apply(std::span<const TickInput> ticks, const ByAsset& by_asset,
             const std::vector<bool>& retried, std::vector<ClosedBar> closed,
             IngestCounts& counts) {
    const std::vector<FormingBar> forming = book.apply(ticks, by_asset, retried, closed, counts);
    feed_closed(std::move(closed));
    topics.forming(forming);
  }

  // --- without the engine lock ---

  // Reads what the batch needs of the store, so that the engine lock is not held while the store
  // answers: BarBook::wanted (its assets not live yet, the stored ticks a redelivery check
  // compares with) and Topics::standing_wanted (the standing topics of its assets' first batch).
  // Writes the queue first: what it reads must include it.
  Result<BatchLoad> preload(std::span<const TickInput> ticks) {
    BatchLoad loaded;
    {
      std::lock_guard lock(mutex);
      loaded.book = book.wanted(ticks);
      loaded.standing = topics.standing_wanted(ticks);
    }
    if (loaded.book.empty() && loaded.standing.empty()) return loaded;
    if (!loaded.standing.empty()) {
      topics.define_standing(loaded.standing);  // the graphs name the assets to mark
      std::lock_guard lock(mutex);
      topics.mark_standing(loaded.standing);
    }
    if (Status s = writes.write_queued(); !s.ok()) return store_failed(s);
    book.load(loaded.book);
    topics.load_standing(loaded.standing);
    return loaded;
  }

  // After a step: the closed bars are written now, unless the write-behind thread does it; a
  // failure keeps them queued.
  void write_unless_behind() {
    if (writes.writes_behind()) return;
    if (Status s = writes.flush(); !s.ok()) {
      log::warn("store: " + s.message() + " (closed bars kept, written later)",
                {{"reason", "store_failed"}});
    }
  }
};

Engine::Engine(store::Store& store, Metrics& metrics, Generations& generations,
               EngineOptions options)
    : impl_(std::make_unique<Impl>(store, metrics, generations, std::move(options))) {}

Engine::~Engine() = default;

Result<IngestCounts> Engine::ingest(std::span<const TickInput> ticks, std::string_view source) {
  const auto start = std::chrono::steady_clock::now();
  Impl& m = *impl_;
  if (Status s = check_batch(ticks, m.options.clock->now()); !s.ok()) return s;
  if (!m.ingest_turn.enter(m.options.store_wait)) {
    return Status::unavailable("the store is busy: earlier batches of ticks have been waiting " +
                               std::to_string(m.options.store_wait.count()) +
                               " ms to be written; try again");
  }
  Turn turn(&m.ingest_turn);
  auto loaded = m.preload(ticks);
  if (!loaded) return loaded.status();
  IngestCounts counts;
  ByAsset by_asset;
  std::vector<ClosedBar> closed;
  std::vector<bool> retried(ticks.size(), false);
  FreshTicks fresh;
  {
    std::lock_guard lock(m.mutex);
    auto fail = [&](Status e) { return m.refuse(std::move(e), std::move(closed)); };
    if (Status s = m.prepare(ticks, by_asset, closed, *loaded); !s.ok()) return fail(s);
    if (Status s = m.book.sort_out(ticks, by_asset, retried, fresh, counts, &loaded->book);
        !s.ok()) {
      return fail(s);
    }
    m.book.reserve(fresh);
  }
  // Stored before they are applied (a request answered with an error changed nothing), without
  // the engine lock: streams and feeds go on while the store waits out a locked database.
  const Status stored = m.writes.write_ticks_now(fresh);
  {
    std::lock_guard lock(m.mutex);
    m.book.clear_reserved();  // only this call's: ingest() calls run one at a time
    if (!stored.ok()) return m.refuse(store_failed(stored), std::move(closed));
    // An asset released meanwhile (its feed moved to another process) resumes from the store,
    // these ticks included: they are not applied here too.
    for (const auto& [symbol, indexes] : by_asset) {
      if (m.book.contains(symbol)) continue;
      for (const std::size_t i : indexes) retried[i] = true;
    }
    std::erase_if(by_asset, [&](const auto& group) { return !m.book.contains(group.first); });
    m.apply(ticks, by_asset, retried, std::move(closed), counts);
    m.enqueue("", {});  // the bars and values; the ticks are stored and counted here
  }
  turn.leave();
  m.write_unless_behind();
  m.writes.count_ingested(source, counts);
  m.update_latency.observe(seconds_since(start));
  return counts;
}

Result<IngestCounts> Engine::stage(std::span<const TickInput> ticks, std::string_view source) {
  const auto start = std::chrono::steady_clock::now();
  Impl& m = *impl_;
  if (Status s = check_batch(ticks, m.options.clock->now()); !s.ok()) return s;
  if (m.writes.full()) {
    return Status::unavailable("the store is not keeping up: " + std::to_string(m.writes.size()) +
                               " batches are waiting to be written");
  }
  auto loaded = m.preload(ticks);
  if (!loaded) return loaded.status();
  std::lock_guard lock(m.mutex);
  ByAsset by_asset;
  std::vector<ClosedBar> closed;
  auto fail = [&](Status e) { return m.refuse(std::move(e), std::move(closed)); };
  if (Status s = m.prepare(ticks, by_asset, closed, *loaded); !s.ok()) return fail(s);
  std::vector<bool> retried(ticks.size(), false);
  IngestCounts counts;
  if (Status s = m.book.sort_out(ticks, by_asset, retried, m.staging.ticks, counts, &loaded->book);
      !s.ok()) {
    return fail(s);
  }
  m.apply(ticks, by_asset, retried, std::move(closed), counts);
  m.enqueue(source, counts);
  m.update_latency.observe(seconds_since(start));
  return counts;
}

Status Engine::flush() { return impl_->writes.flush(); }

std::size_t Engine::queued() const { return impl_->writes.size(); }

std::size_t Engine::max_queued() const { return impl_->writes.max_queued(); }

void Engine::advance_clock(Timestamp now) {
  const auto start = std::chrono::steady_clock::now();
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.mutex);
    std::vector<ClosedBar> closed = m.book.close_until(now);
    if (closed.empty() && m.writes.size() == 0) return;
    m.feed_closed(std::move(closed));
    m.enqueue("", {});
    m.update_latency.observe(seconds_since(start));
  }
  m.write_unless_behind();
}

std::optional<Candle> Engine::forming(std::string_view symbol, Interval interval) const {
  std::lock_guard lock(impl_->mutex);
  return impl_->book.forming(symbol, interval);
}

void Engine::graph_changed(std::string_view name) {
  std::lock_guard lock(impl_->mutex);
  impl_->topics.graph_changed(name);
  impl_->topic_count = impl_->topics.size();
}

void Engine::release(std::span<const std::string> symbols) {
  Impl& m = *impl_;
  // What is staged is written now (before the engine lock) if the store allows: the next owner
  // rebuilds only the bars whose ticks follow the last stored bar. The source releasing them
  // stages nothing of them meanwhile (it calls this instead).
  if (Status s = m.writes.flush(); !s.ok()) {
    log::warn("store: " + s.message() + " (while releasing assets)", {{"reason", "store_failed"}});
  }
  std::lock_guard lock(m.mutex);
  m.book.release(symbols);
  m.topics.release(symbols);
  m.topic_count = m.topics.size();
}

// What follow() reads without the engine lock: the assets' ids, the definitions of the topics
// that do not exist yet, and the bars that warm them (or a candle topic's snapshot), with the
// marks (BarBook::Mark) of the assets they read taken before the reads.
struct FollowLoad {
  struct Wanted {
    bool exists = false;  // the topic was there: nothing to define or warm
    std::optional<TopicDefinition> defined;
    std::vector<std::string> reads;    // the assets whose bars it reads
    std::vector<BarBook::Mark> marks;  // theirs, before the reads
    bool read = false;                 // warm (or candles) read
    graph::MarketData warm;
    CandleSeries candles;
  };
  std::map<std::string, std::int64_t, std::less<>> ids;  // every asset read
  std::vector<Wanted> topics;                            // per requested asset
};

namespace {

// The ids of `symbols` not in `ids` yet. `required`: an unknown one is the request's error.
Status find_ids(store::Store& store, std::span<const std::string> symbols, bool required,
                std::map<std::string, std::int64_t, std::less<>>& ids) {
  for (const auto& symbol : symbols) {
    if (ids.contains(symbol)) continue;
    auto found = store.find_asset(symbol);
    if (!found) return store_failed(found.status());
    if (found->has_value()) {
      ids.emplace(symbol, (*found)->id);
    } else if (required) {
      return Status::not_found("assets: unknown asset '" + symbol + "'")
          .with_detail("asset", symbol);
    }
  }
  return {};
}

}  // namespace

Result<FollowLoad> Engine::load(const FollowRequest& request) {
  Impl& m = *impl_;
  store::Store& store = m.store;
  FollowLoad load;
  if (Status s = find_ids(store, request.assets, true, load.ids); !s.ok()) return s;
  load.topics.resize(request.assets.size());
  {
    std::lock_guard lock(m.mutex);
    for (std::size_t i = 0; i < request.assets.size(); ++i) {
      load.topics[i].exists =
          m.topics.find(topic_key(request.assets[i], request.interval, request.graph)) != nullptr;
    }
  }
  for (std::size_t i = 0; i < request.assets.size(); ++i) {
    FollowLoad::Wanted& wanted = load.topics[i];
    if (wanted.exists && !request.graph.empty()) continue;  // its snapshot is in memory
    wanted.reads = {request.assets[i]};
    if (!wanted.exists) {
      auto defined = define_topic(store, request.assets[i], request.interval, request.graph);
      if (!defined) return defined.status().with_detail("graph", request.graph);
      if (defined->plan) wanted.reads = defined->plan->assets;
      wanted.defined = std::move(*defined);
    }
    // An asset the graph reads that the store lacks: left to the warm-up, which names it.
    if (Status s = find_ids(store, wanted.reads, false, load.ids); !s.ok()) return s;
  }
  {
    std::lock_guard lock(m.mutex);
    for (const auto& [symbol, id] : load.ids) m.book.adopt(symbol, id);
    for (auto& wanted : load.topics) {
      for (const auto& symbol : wanted.reads) wanted.marks.push_back(m.book.mark(symbol));
    }
  }
  if (Status s = m.writes.write_queued(); !s.ok()) return store_failed(s);
  for (std::size_t i = 0; i < request.assets.size(); ++i) {
    FollowLoad::Wanted& wanted = load.topics[i];
    if (wanted.reads.empty()) continue;
    if (wanted.defined && wanted.defined->plan) {
      auto bars = latest_bars(store, *wanted.defined->plan, request.interval, m.options.warmup_bars,
                              *m.options.clock);
      if (!bars) continue;  // read again under the lock, which reports the failure
      wanted.warm = std::move(*bars);
    } else {
      auto bars = store::BarReader(store, *m.options.clock)
                      .latest(load.ids.at(request.assets[i]), request.interval, request.history);
      if (!bars) continue;
      wanted.candles = std::move(*bars);
    }
    wanted.read = true;
  }
  return load;
}

Status Engine::follow(const FollowRequest& request, const Commit& commit) {
  Impl& m = *impl_;
  auto load = this->load(request);  // the store's part, without the engine lock
  if (!load) return load.status();
  std::lock_guard lock(m.mutex);
  std::vector<TopicSnapshot> snapshots;
  auto fail = [&](Status e) {
    m.topics.drop_unfollowed();
    m.topic_count = m.topics.size();
    return e;
  };
  for (std::size_t i = 0; i < request.assets.size(); ++i) {
    FollowLoad::Wanted& wanted = load->topics[i];
    // What was read is used only if no bar of the assets it read closed since their marks.
    bool current = wanted.read;
    for (std::size_t r = 0; current && r < wanted.reads.size(); ++r) {
      current = m.book.mark(wanted.reads[r]) == wanted.marks[r];
    }
    const std::string& symbol = request.assets[i];
    Topics::Topic* topic = m.topics.find(topic_key(symbol, request.interval, request.graph));
    if (topic == nullptr) {
      auto made = wanted.defined
                      ? m.topics.add(std::move(*wanted.defined), current ? &wanted.warm : nullptr)
                      : m.topics.topic(symbol, request.interval, request.graph);
      if (!made) return fail(made.status().with_detail("graph", request.graph));
      topic = *made;
    }
    auto columns = output_columns(Topics::info(*topic), request.outputs);
    if (!columns) return fail(columns.status());
    const bool candles = current && request.graph.empty();
    auto snapshot = m.topics.snapshot(*topic, request.history, std::move(*columns),
                                      candles ? &wanted.candles : nullptr);
    if (!snapshot) return fail(store_failed(snapshot.status()));
    snapshots.push_back(std::move(*snapshot));
  }
  if (Status s = commit(snapshots); !s.ok()) return fail(s);
  m.topic_count = m.topics.size();
  return {};
}

void Engine::unfollowed() {
  std::lock_guard lock(impl_->mutex);
  impl_->topics.drop_unfollowed();
  impl_->topic_count = impl_->topics.size();
}

std::size_t Engine::topic_count() const { return impl_->topic_count.load(); }

}  // namespace tickgraph::live
