#include "server/live_market.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <iostream>
#include <set>

#include "analytics/kernel.h"
#include "graph/compiled_graph.h"
#include "graph/plan.h"
#include "graph/push_executor.h"
#include "graph/spec.h"
#include "server/convert.h"
#include "server/errors.h"

namespace tickgraph::server {

namespace {

// How far ahead of the wall clock a tick may be stamped.
constexpr Duration kMaxFutureSkew = kHour;

Timestamp wall_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SharedText shared(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

SharedText error_message(const RequestError& e) {
  v1::StreamMessage message;
  auto* error = message.mutable_error();
  error->set_code(e.code);
  error->set_message(e.message);
  for (const auto& [key, value] : e.details) (*error->mutable_details())[key] = value;
  return shared(to_json(message));
}

RequestError bad(std::string message, std::string key, std::string value) {
  return {400, "invalid_argument", std::move(message), {{std::move(key), std::move(value)}}};
}

}  // namespace

// One (asset, interval, graph) series that clients follow.
struct Topic {
  std::string key;  // "SPX|1m|demo"; also the coalescing key
  std::string symbol;
  Interval interval = Interval::k1m;
  std::string graph;  // "" = candles only
  std::int64_t graph_version = 0;
  std::shared_ptr<const graph::Plan> plan;        // graph topics only
  std::unique_ptr<graph::PushExecutor> executor;  // graph topics only
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
    bool resumed = false;  // forming bars rebuilt from the store after (re)start
  };
  std::map<std::string, AssetLive, std::less<>> assets;
  std::map<std::string, std::unique_ptr<Topic>, std::less<>> topics;
  std::map<std::string, std::vector<Topic*>, std::less<>> topics_by_symbol;
  std::set<std::shared_ptr<StreamClient>> clients;
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
  Counter& coalesced;
  Counter& store_errors;
  Counter& too_slow;

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
        coalesced(m.counter("tickgraph_stream_coalesced_total",
                            "Forming-bar updates replaced by newer ones before a slow client "
                            "received them")),
        store_errors(m.counter("tickgraph_live_store_errors_total",
                               "Failed writes of closed live bars (kept and retried)")),
        too_slow(m.counter("tickgraph_stream_disconnects_total",
                           "Stream clients disconnected by the server", {{"reason", "too_slow"}})) {
  }

  // An event of the batch being applied: a bar of (asset, interval) closed.
  struct Closed {
    std::string symbol;
    Interval interval;
    Candle bar;
  };

  Result<AssetLive*> asset_live(std::string_view symbol) {
    if (auto it = assets.find(symbol); it != assets.end()) return &it->second;
    auto found = store.find_asset(symbol);
    if (!found) return found.status();
    if (!found->has_value())
      return Result<AssetLive*>::error("unknown asset '" + std::string(symbol) + "'");
    AssetLive live;
    live.id = (*found)->id;
    for (Interval i : options.intervals) {
      live.aggregators.emplace(i, CandleAggregator::create(BarRule::time(i)).value());
    }
    return &assets.emplace(std::string(symbol), std::move(live)).first->second;
  }

  // After a (re)start, before the first batch of an asset: rebuilds the bar each interval had
  // forming, from what the store holds, so a restart neither loses the ticks of a forming bar nor
  // overwrites a stored bar with a partial one. Intervals go from the finest up: the finest
  // interval's forming bar is the stored ticks since its last stored bar; each coarser one's is its
  // stored finer bars since its own last stored bar, plus the finer forming bar. A coarse bar
  // already stored is closed: it is replayed and flushed, so older ticks stay late.
  // Reads are bounded by the ratio of neighbouring intervals (at most 60 finer bars), and by the
  // ticks of one finest bar.
  Status resume(AssetLive& live, Timestamp first_tick) {
    if (live.resumed) return {};
    live.resumed = true;
    const Interval* finer = nullptr;
    for (auto& [interval, agg] : live.aggregators) {
      auto last = store.latest_candles(live.id, interval, 1);
      if (!last) return last.status();
      // The bar to rebuild: the one holding the latest content below, or the first tick's.
      Timestamp latest = first_tick;
      std::vector<Tick> content;
      if (finer == nullptr) {
        const Timestamp from = last->empty() ? bar_open_time(first_tick, interval)
                                             : last->time.back() + interval_duration(interval);
        auto ticks = store.read_ticks(live.id, {from, INT64_MAX});
        if (!ticks) return ticks.status();
        for (const auto& t : *ticks) content.push_back({t.time, t.price, t.size});
      } else {
        const auto& below = live.aggregators.at(*finer);
        const Timestamp from = last->empty() ? bar_open_time(first_tick, interval)
                                             : last->time.back() + interval_duration(interval);
        auto bars = store.read_candles(live.id, *finer, {from, INT64_MAX});
        if (!bars) return bars.status();
        auto add_bar = [&](const Candle& b) {
          content.push_back({b.time, b.open, b.volume});
          content.push_back({b.time, b.high, 0});
          content.push_back({b.time, b.low, 0});
          content.push_back({b.time, b.close, 0});
        };
        for (std::size_t k = 0; k < bars->size(); ++k) add_bar(bars->at(k));
        if (auto forming = below.forming(); forming && forming->time >= from) add_bar(*forming);
      }
      if (!content.empty()) latest = std::max(latest, content.back().time);
      const Timestamp open = bar_open_time(latest, interval);
      if (!last->empty() && last->time.back() >= open) {
        // Closed and stored: replay it so that lateness continues from it, and close it unwritten.
        const Candle bar = last->at(0);
        (void)agg.on_tick({bar.time, bar.open, bar.volume});
        (void)agg.on_tick({bar.time, bar.close, 0});
        (void)agg.flush();
      } else {
        for (const Tick& t : content) {
          if (t.time >= open) (void)agg.on_tick(t);
        }
      }
      finer = &interval;
    }
    return {};
  }

  // Writes the closed bars (one transaction per asset and interval), then feeds them to the
  // topics in the order they closed.
  // Closed bars whose store write failed: kept, in order, and written before any newer bar (the
  // aggregators have moved past them, and their ticks are stored, so a retry would not rebuild
  // them). Topics get a bar only once it is stored.
  std::vector<Closed> unwritten;

  Status apply_closed(std::vector<Closed> closed) {
    if (!unwritten.empty()) {
      closed.insert(closed.begin(), unwritten.begin(), unwritten.end());
      unwritten.clear();
    }
    if (closed.empty()) return {};
    std::map<std::pair<std::string, Interval>, std::vector<Candle>> by_series;
    for (const Closed& c : closed) by_series[{c.symbol, c.interval}].push_back(c.bar);
    for (auto& [series, bars] : by_series) {
      const auto start = std::chrono::steady_clock::now();
      auto written = store.write_candles(assets.find(series.first)->second.id, series.second, bars);
      store_latency_candles.observe(seconds_since(start));
      if (!written) {
        // Writes are idempotent: the series already written are rewritten unchanged next time.
        unwritten = std::move(closed);
        store_errors.inc();
        return written.status();
      }
      bump(series.first);
    }
    closed_bars.inc(static_cast<double>(closed.size()));
    for (const Closed& c : closed) {
      auto it = topics_by_symbol.find(c.symbol);
      if (it == topics_by_symbol.end()) continue;
      for (Topic* topic : it->second) {
        if (topic->interval == c.interval) feed_closed(*topic, c.symbol, c.bar);
      }
    }
    return {};
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
      publish(topic, topic.bars.at(row), true, row_values);
    }
    // A primary bar whose own domain produced nothing (no node fires on it) is still final.
    if (symbol == topic.symbol && topic.changed_rows.empty()) {
      std::vector<double> row_values(topic.values.size());
      for (std::size_t c = 0; c < topic.values.size(); ++c) row_values[c] = topic.values[c].back();
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
    update.set_server_time(wall_now());
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

  std::string update_json(const Topic& topic, const Candle& bar, bool final,
                          std::span<const double> row_values, const std::vector<int>& columns) {
    v1::StreamMessage message;
    fill_update(topic, bar, final, row_values, columns, *message.mutable_update());
    return to_json(message);
  }

  void publish(Topic& topic, const Candle& bar, bool final, std::span<const double> row_values) {
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
    topics_by_symbol.clear();
    for (auto& [key, topic] : topics) {
      for (const auto& symbol : topic->reads()) topics_by_symbol[symbol].push_back(topic.get());
    }
  }

  // Loads history into a new graph topic: the latest warmup_bars of each asset it reads,
  // replayed in time order (assets in plan order on equal times), as run_push does.
  Status warm_up(Topic& topic) {
    graph::MarketData data;
    for (const auto& symbol : topic.plan->assets) {
      auto live = asset_live(symbol);
      if (!live) return live.status();
      auto bars = store.latest_candles((*live)->id, topic.interval, options.warmup_bars);
      if (!bars) return bars.status();
      data.emplace(symbol, std::move(*bars));
    }
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
      auto stored = store.get_graph(graph_name);
      if (!stored) return stored.status();
      if (!stored->has_value()) {
        return Result<Topic*>::error("graph: unknown graph '" + graph_name + "'");
      }
      auto spec = graph::parse_spec((*stored)->spec, "graph '" + graph_name + "'");
      if (!spec) return spec.status();
      graph::CompileOptions compile_options;
      compile_options.asset_exists = [this](std::string_view s) {
        auto found = store.find_asset(s);
        return found && found->has_value();
      };
      auto compiled = graph::compile(*spec, compile_options);
      if (!compiled) return compiled.status();
      topic->graph_version = (*stored)->version;
      topic->plan = graph::make_plan(*compiled, symbol);
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

  void drop_unused_topics() {
    bool dropped = false;
    for (auto it = topics.begin(); it != topics.end();) {
      auto& subs = it->second->subscribers;
      std::erase_if(subs, [](const Topic::Subscriber& s) {
        auto c = s.client.lock();
        return !c || c->closed();
      });
      if (subs.empty()) {
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
                           if (!impl) return 0.0;
                           std::lock_guard lock(impl->mutex);
                           return static_cast<double>(impl->clients.size());
                         });
  metrics.gauge_callback("tickgraph_live_topics", "Live (asset, interval, graph) series followed",
                         {}, [weak] {
                           auto impl = weak.lock();
                           if (!impl) return 0.0;
                           std::lock_guard lock(impl->mutex);
                           return static_cast<double>(impl->topics.size());
                         });
}

LiveMarket::~LiveMarket() = default;

std::variant<IngestCounts, RequestError> LiveMarket::ingest(std::span<const TickInput> ticks,
                                                            std::string_view source) {
  const auto start = std::chrono::steady_clock::now();
  Impl& m = *impl_;
  const Timestamp now = wall_now();
  // Check the whole batch first: a bad tick refuses the batch, and nothing is stored.
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const TickInput& t = ticks[i];
    const std::string at = "ticks[" + std::to_string(i) + "]";
    if (!std::isfinite(t.tick.price) || t.tick.price <= 0) {
      return bad(at + ".price: must be a finite number > 0", "field", at + ".price");
    }
    if (!std::isfinite(t.tick.size) || t.tick.size < 0) {
      return bad(at + ".size: must be a finite number >= 0", "field", at + ".size");
    }
    if (t.symbol.empty()) return bad(at + ".symbol: missing", "field", at + ".symbol");
    // A tick far in the future would open bars the clock never closes and make every later
    // real tick late; one at or before the epoch is a unit mistake (and overflows bar arithmetic
    // at the extremes).
    if (t.tick.time <= 0) {
      return bad(at + ".time: must be after 1970-01-01 (ns since the Unix epoch), got " +
                     std::to_string(t.tick.time),
                 "field", at + ".time");
    }
    if (t.tick.time > now + kMaxFutureSkew) {
      return bad(at + ".time: more than an hour in the future (" + format_timestamp(t.tick.time) +
                     "); times are ns since the Unix epoch, UTC",
                 "field", at + ".time");
    }
  }
  std::lock_guard lock(m.mutex);
  // Group by asset, keeping batch order; seq numbers ticks with equal times so that a retried
  // batch maps onto the same keys.
  std::map<std::string, std::vector<std::size_t>, std::less<>> by_asset;
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    if (!by_asset.contains(ticks[i].symbol)) {
      auto live = m.asset_live(ticks[i].symbol);
      if (!live) {
        const std::string at = "ticks[" + std::to_string(i) + "].symbol";
        if (!live.message().starts_with("unknown asset")) {
          return RequestError{503, "unavailable", "store: " + live.message(), {}};
        }
        return bad(at + ": " + live.message(), "field", at);
      }
    }
    by_asset[ticks[i].symbol].push_back(i);
  }
  // After a (re)start, rebuild each asset's forming bars from the store before this batch's own
  // ticks are written (they would otherwise be counted twice).
  for (const auto& [symbol, indexes] : by_asset) {
    if (Status s = m.resume(m.assets.find(symbol)->second, ticks[indexes.front()].tick.time);
        !s.ok()) {
      return RequestError{503, "unavailable", "store: " + s.message(), {{"asset", symbol}}};
    }
  }
  IngestCounts counts;
  // Ticks are keyed (asset, time, seq). A tick identical to one already stored at its time (and
  // not yet matched by another tick of this batch) is a retry: it keeps that key, is reported
  // unchanged and is not applied to the live bars again. Any other tick takes the next free seq
  // of its time, so a different tick with an equal time never replaces an acknowledged one.
  std::vector<bool> retried(ticks.size(), false);
  for (const auto& [symbol, indexes] : by_asset) {
    const std::int64_t asset_id = m.assets.find(symbol)->second.id;
    Timestamp lo = INT64_MAX;
    Timestamp hi = INT64_MIN;
    for (const std::size_t i : indexes) {
      lo = std::min(lo, ticks[i].tick.time);
      hi = std::max(hi, ticks[i].tick.time);
    }
    auto existing = m.store.read_ticks(asset_id, {lo, hi});
    if (!existing) {
      return RequestError{503, "unavailable", "store: " + existing.message(), {{"asset", symbol}}};
    }
    std::map<Timestamp, std::vector<store::StoredTick>> at_time;  // stored, unmatched
    std::map<Timestamp, std::int64_t> next_seq;
    for (const auto& t : *existing) {
      at_time[t.time].push_back(t);
      next_seq[t.time] = std::max(next_seq[t.time], t.seq + 1);
    }
    std::vector<store::StoredTick> fresh;
    for (const std::size_t i : indexes) {
      const Tick& t = ticks[i].tick;
      auto& candidates = at_time[t.time];
      const auto same = std::find_if(candidates.begin(), candidates.end(), [&](const auto& c) {
        return c.price == t.price && c.size == t.size;
      });
      if (same != candidates.end()) {
        candidates.erase(same);
        retried[i] = true;
        ++counts.unchanged;
        continue;
      }
      fresh.push_back({t.time, next_seq[t.time]++, t.price, t.size});
    }
    if (fresh.empty()) continue;
    const auto write_start = std::chrono::steady_clock::now();
    auto written = m.store.write_ticks(asset_id, fresh);
    m.store_latency_ticks.observe(Impl::seconds_since(write_start));
    if (!written) {
      return RequestError{503, "unavailable", "store: " + written.message(), {{"asset", symbol}}};
    }
  }
  // A tick late for one interval (its 1m bar closed) may still belong to a forming bar of a
  // longer one: each interval decides for itself, and the forming bars that changed are
  // published. The tick counts as late when some interval refused it.
  std::vector<Impl::Closed> closed;
  std::set<std::pair<std::string, Interval>> touched;
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    if (retried[i]) continue;
    const TickInput& t = ticks[i];
    auto& live = m.assets.find(t.symbol)->second;
    bool late = false;
    for (auto& [interval, agg] : live.aggregators) {
      TickOutcome outcome = agg.on_tick(t.tick);
      if (outcome.verdict == TickVerdict::kLate) {
        late = true;
        continue;
      }
      touched.insert({t.symbol, interval});
      if (outcome.closed) closed.push_back({t.symbol, interval, *outcome.closed});
    }
    ++(late ? counts.late : counts.accepted);
  }
  // The ticks are stored and applied: the batch is acknowledged even when a closed bar's write
  // fails; that bar is kept and written with the next one.
  if (Status s = m.apply_closed(std::move(closed)); !s.ok()) {
    std::cerr << "tickgraph: store: " << s.message() << " (closed bars kept, written later)\n";
  }
  for (const auto& [symbol, interval] : touched) {
    auto it = m.topics_by_symbol.find(symbol);
    if (it == m.topics_by_symbol.end()) continue;
    for (Topic* topic : it->second) {
      if (topic->symbol == symbol && topic->interval == interval) m.publish_forming(*topic);
    }
  }
  const Labels labels{{"source", std::string(source)}};
  m.metrics.counter("tickgraph_ingest_ticks_total", "Ticks ingested, by source", labels)
      .inc(static_cast<double>(counts.accepted));
  m.metrics
      .counter("tickgraph_ingest_late_ticks_total", "Ticks stored but too late for their bar",
               labels)
      .inc(static_cast<double>(counts.late));
  m.update_latency.observe(Impl::seconds_since(start));
  return counts;
}

void LiveMarket::advance_clock(Timestamp now) {
  const auto start = std::chrono::steady_clock::now();
  Impl& m = *impl_;
  std::lock_guard lock(m.mutex);
  std::vector<Impl::Closed> closed;
  for (auto& [symbol, live] : m.assets) {
    for (auto& [interval, agg] : live.aggregators) {
      if (auto bar = agg.close_until(now)) closed.push_back({symbol, interval, *bar});
    }
  }
  if (closed.empty() && m.unwritten.empty()) return;
  if (Status s = m.apply_closed(std::move(closed)); !s.ok()) {
    std::cerr << "tickgraph: store: " << s.message() << " (closed bars kept, written later)\n";
  }
  m.update_latency.observe(Impl::seconds_since(start));
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
  const RequestError notice{
      409,
      "graph_changed",
      "graph '" + std::string(name) + "' was replaced or deleted: subscribe again",
      {{"graph", std::string(name)}}};
  const SharedText text = error_message(notice);
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
}

std::optional<RequestError> LiveMarket::subscribe(const std::shared_ptr<StreamClient>& client,
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
    return RequestError{429, "resource_exhausted", too_many, {{"parameter", "assets"}}};
  }
  std::lock_guard lock(m.mutex);
  for (const auto& symbol : request.assets) {
    auto live = m.asset_live(symbol);
    if (!live && !live.message().starts_with("unknown asset")) {
      return RequestError{503, "unavailable", "store: " + live.message(), {}};
    }
    if (!live) {
      return RequestError{
          404, "not_found", "assets: unknown asset '" + symbol + "'", {{"asset", symbol}}};
    }
  }
  v1::StreamMessage message;
  auto* snapshot = message.mutable_snapshot();
  std::vector<std::pair<Topic*, std::vector<int>>> chosen;
  for (const auto& symbol : request.assets) {
    auto topic = m.topic_for(symbol, request.interval, request.graph);
    if (!topic) {
      const bool unknown = topic.message().rfind("graph: unknown", 0) == 0;
      RequestError e{unknown ? 404 : 400,
                     unknown ? "not_found" : "invalid_argument",
                     topic.message(),
                     {{"graph", request.graph}}};
      m.drop_unused_topics();
      return e;
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
        return RequestError{503, "unavailable", "store: " + bars.message(), {}};
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
    return RequestError{429, "resource_exhausted", too_many, {{"parameter", "assets"}}};
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
  return std::nullopt;
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
  auto client = std::make_shared<StreamClient>(impl_->options.limits, std::move(wake));
  client->user_state = std::make_shared<ClientState>();
  std::lock_guard lock(impl_->mutex);
  impl_->clients.insert(client);
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
  if (auto error = subscribe(client, request)) client->send(error_message(*error));
}

std::variant<HttpResponse, std::shared_ptr<StreamClient>> LiveMarket::open_sse(
    const HttpRequest& request, StreamClient::Wake wake) {
  SubscribeRequest subscribe_request;
  const auto assets = request.query_param("assets");
  if (!assets || assets->empty()) {
    return bad_request("assets: required (comma-separated symbols)", {{"parameter", "assets"}});
  }
  subscribe_request.assets = split_list(*assets);
  const auto interval_text = request.query_param("interval");
  if (!interval_text) {
    return bad_request("interval: required (1s, 1m, 5m, 15m, 1h, 4h, 1d or 1w)",
                       {{"parameter", "interval"}});
  }
  auto interval = parse_interval(*interval_text);
  if (!interval) return bad_request("interval: " + interval.message(), {{"parameter", "interval"}});
  subscribe_request.interval = *interval;
  if (auto g = request.query_param("graph")) subscribe_request.graph = std::string(*g);
  if (auto o = request.query_param("outputs")) {
    if (subscribe_request.graph.empty()) {
      return bad_request("outputs: needs a graph", {{"parameter", "outputs"}});
    }
    subscribe_request.outputs = split_list(*o);
  }
  if (auto h = request.query_param("history")) {
    std::size_t value = 0;
    const auto [ptr, ec] = std::from_chars(h->data(), h->data() + h->size(), value);
    if (ec != std::errc() || ptr != h->data() + h->size()) {
      return bad_request("history: not a whole number: '" + std::string(*h) + "'",
                         {{"parameter", "history"}});
    }
    subscribe_request.history = value;
  }
  auto client = connect(std::move(wake));
  if (auto error = subscribe(client, subscribe_request)) {
    disconnect(client);
    return error_response(error->status, error->code, error->message, error->details);
  }
  return client;
}

void LiveMarket::disconnect(const std::shared_ptr<StreamClient>& client) {
  unsubscribe(client, {});
  if (auto reason = client->close_reason(); reason && reason->starts_with("too slow")) {
    impl_->too_slow.inc();
  }
  client->close("disconnected");
  std::lock_guard lock(impl_->mutex);
  impl_->clients.erase(client);
}

}  // namespace tickgraph::server
