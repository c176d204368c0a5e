#include "live/topics.h"

#include <algorithm>

#include "analytics/kernel.h"
#include "core/log.h"
#include "graph/plan.h"
#include "graph/push_executor.h"
#include "live/pull.h"
#include "store/bar_reader.h"

namespace tickgraph::live {

struct Topics::Topic {
  TopicInfo info;
  std::int64_t graph_id = 0;                // the stored version's id (materialised analytics)
  bool standing = false;                    // kept without followers; final values stored
  std::shared_ptr<const graph::Plan> plan;  // graph topics only
  std::unique_ptr<graph::PushExecutor> executor;  // graph topics only
  // What the topic has computed, one row per primary bar fed (graph topics).
  CandleSeries bars;
  std::vector<std::vector<double>> values;  // [column][row]
  std::vector<std::size_t> changed_rows;    // rows set by the listener since the last publish
  std::vector<double> scratch;

  std::vector<std::string> reads() const {  // every asset whose bars feed the topic
    if (!plan) return {info.symbol};
    return plan->assets;
  }
};

Topics::Topics(store::Store& store, WriteQueue& writes, BarBook& book, Options options,
               UpdateSink* streams, UpdateSink* bus)
    : store_(store),
      writes_(writes),
      book_(book),
      options_(std::move(options)),
      streams_(streams),
      bus_(bus) {}

Topics::~Topics() = default;

const TopicInfo& Topics::info(const Topic& topic) { return topic.info; }

Result<TopicDefinition> define_topic(store::Store& store, const std::string& symbol,
                                     Interval interval, const std::string& graph) {
  TopicDefinition topic;
  topic.info.key = topic_key(symbol, interval, graph);
  topic.info.symbol = symbol;
  topic.info.interval = interval;
  topic.info.graph = graph;
  if (graph.empty()) return topic;
  auto stored = load_graph(store, graph);
  if (!stored) {
    return stored.code() == StatusCode::kNotFound ? stored.status().with_prefix("graph: ")
                                                  : stored.status();
  }
  topic.graph_id = stored->version.graph_id;
  topic.info.graph_version = stored->version.version;
  topic.plan = graph::make_plan(stored->graph, symbol);
  for (const auto& column : topic.plan->columns) topic.info.outputs.push_back(column.name);
  return topic;
}

Result<Topics::Topic*> Topics::topic(const std::string& symbol, Interval interval,
                                     const std::string& graph_name) {
  if (Topic* found = find(topic_key(symbol, interval, graph_name))) return found;
  auto defined = define_topic(store_, symbol, interval, graph_name);
  if (!defined) return defined.status();
  return add(std::move(*defined), nullptr);
}

Topics::Topic* Topics::find(std::string_view key) {
  auto it = topics_.find(key);
  return it == topics_.end() ? nullptr : it->second.get();
}

Result<Topics::Topic*> Topics::add(TopicDefinition defined, const graph::MarketData* warm) {
  auto topic = std::make_unique<Topic>();
  topic->info = std::move(defined.info);
  topic->graph_id = defined.graph_id;
  topic->plan = std::move(defined.plan);
  if (topic->plan) {
    topic->executor = std::make_unique<graph::PushExecutor>(topic->plan);
    Topic* raw = topic.get();
    topic->executor->set_listener(
        [this, raw](Timestamp t, int domain) { on_fired(*raw, t, domain); });
    if (Status s = warm_up(*topic, warm); !s.ok()) return s;
  }
  Topic* raw = topic.get();
  topics_.emplace(raw->info.key, std::move(topic));
  reindex();
  return raw;
}

// The latest warmup_bars of each asset the graph reads, replayed in time order (assets in plan
// order on equal times), as run_push does.
Status Topics::warm_up(Topic& topic, const graph::MarketData* warm) {
  graph::MarketData read;
  if (warm == nullptr) {
    if (Status s = writes_.write_queued(); !s.ok()) return s;
    for (const auto& symbol : topic.plan->assets) {
      if (auto id = book_.asset(symbol); !id) return id.status();
    }
    auto loaded = latest_bars(store_, *topic.plan, topic.info.interval, options_.warmup_bars,
                              *options_.clock);
    if (!loaded) return loaded.status();
    read = std::move(*loaded);
    warm = &read;
  }
  const graph::MarketData& data = *warm;
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

void Topics::standing(const std::string& symbol, WriteBatch& staging, StandingLoad* load) {
  if (options_.standing.empty() || !standing_ready_.insert(symbol).second) return;
  for (std::size_t g = 0; g < options_.standing.size(); ++g) {
    const std::string& graph = options_.standing[g].graph;
    StandingLoad::Entry* entry = nullptr;
    if (load != nullptr) {
      for (auto& e : load->entries) {
        if (e.current && e.symbol == symbol && e.graph == g) entry = &e;
      }
    }
    // Made from what was read before the lock when it is current; else read now.
    auto make = [&]() -> Result<Topic*> {
      if (entry != nullptr && !entry->defined_status.ok()) return entry->defined_status;
      if (entry != nullptr && entry->defined) return add(std::move(*entry->defined), &entry->warm);
      return topic(symbol, options_.standing[g].interval, graph);  // found when it existed
    };
    Result<Topic*> made = make();
    if (!made) {
      // Logged once per graph; tried again after the graph changes or the asset is released.
      if (reported_standing_errors_.insert(graph).second) {
        log::error("standing graph '" + graph + "' on " + symbol + ": " + made.message(),
                   {{"graph", graph}, {"symbol", symbol}});
      }
      continue;
    }
    (*made)->standing = true;
    catch_up_materialised(**made, staging, entry != nullptr ? &entry->stored_until : nullptr);
  }
}

StandingLoad Topics::standing_wanted(std::span<const TickInput> ticks) const {
  StandingLoad load;
  load.graph_epoch = graph_epoch_;
  if (options_.standing.empty()) return load;
  std::set<std::string_view> symbols;
  for (const TickInput& t : ticks) {
    if (!standing_ready_.contains(t.symbol)) symbols.insert(t.symbol);
  }
  for (const std::string_view symbol : symbols) {
    for (std::size_t g = 0; g < options_.standing.size(); ++g) {
      StandingLoad::Entry& e = load.entries.emplace_back();
      e.symbol = std::string(symbol);
      e.graph = g;
      auto it = topics_.find(
          topic_key(e.symbol, options_.standing[g].interval, options_.standing[g].graph));
      if (it == topics_.end()) continue;
      const Topic& topic = *it->second;
      e.existed = true;
      e.first_row = topic.bars.empty() ? INT64_MAX : topic.bars.time.front();
      e.reads = topic.reads();
      e.graph_id = topic.graph_id;
      e.version = topic.info.graph_version;
      if (topic.plan && !topic.plan->columns.empty()) e.output = topic.plan->columns[0].name;
    }
  }
  return load;
}

void Topics::define_standing(StandingLoad& load) const {
  for (auto& e : load.entries) {
    if (e.existed) continue;
    auto defined = define_topic(store_, e.symbol, options_.standing[e.graph].interval,
                                options_.standing[e.graph].graph);
    if (!defined) {
      e.defined_status = defined.status();
      continue;
    }
    e.reads = defined->plan ? defined->plan->assets : std::vector<std::string>{e.symbol};
    e.graph_id = defined->graph_id;
    e.version = defined->info.graph_version;
    if (defined->plan && !defined->plan->columns.empty()) {
      e.output = defined->plan->columns[0].name;
    }
    e.defined = std::move(*defined);
  }
}

void Topics::mark_standing(StandingLoad& load) const {
  for (auto& e : load.entries) {
    for (const auto& symbol : e.reads) e.marks.push_back(book_.mark(symbol));
  }
}

void Topics::load_standing(StandingLoad& load) const {
  for (auto& e : load.entries) {
    if (!e.defined_status.ok()) continue;
    Timestamp from = e.first_row;
    if (e.defined && e.defined->plan) {
      auto warm = latest_bars(store_, *e.defined->plan, e.defined->info.interval,
                              options_.warmup_bars, *options_.clock);
      if (!warm) continue;  // read again under the lock, which reports the failure
      e.warm = std::move(*warm);
      const CandleSeries& primary = e.warm.find(e.symbol)->second;
      from = primary.empty() ? INT64_MAX : primary.time.front();
    }
    if (!e.output.empty() && from != INT64_MAX) {
      auto asset = store_.find_asset(e.symbol);
      if (!asset || !asset->has_value()) continue;
      auto stored =
          store_.read_analytics((*asset)->id, e.graph_id, e.version, e.output, {from, INT64_MAX});
      if (!stored) continue;
      e.stored_until = stored->time.empty() ? INT64_MIN : stored->time.back();
    }
    e.read = true;
  }
}

void Topics::check_standing(StandingLoad& load) const {
  for (auto& e : load.entries) {
    const bool exists = topics_.contains(
        topic_key(e.symbol, options_.standing[e.graph].interval, options_.standing[e.graph].graph));
    e.current = load.graph_epoch == graph_epoch_ && exists == e.existed &&
                (e.read || !e.defined_status.ok());
    for (std::size_t r = 0; e.current && r < e.reads.size(); ++r) {
      e.current = book_.mark(e.reads[r]) == e.marks[r];
    }
  }
}

// From the latest stored value on, the warm rows' values the store lacks.
void Topics::catch_up_materialised(Topic& topic, WriteBatch& staging,
                                   const Timestamp* stored_until) {
  if (!topic.plan || topic.bars.empty() || topic.plan->columns.empty()) return;
  Timestamp after = INT64_MIN;
  if (stored_until != nullptr) {
    after = *stored_until;
  } else {
    auto stored = store_.read_analytics(book_.id_of(topic.info.symbol), topic.graph_id,
                                        topic.info.graph_version, topic.plan->columns[0].name,
                                        {topic.bars.time.front(), INT64_MAX});
    if (!stored) return;  // written with the next bar's values instead
    after = stored->time.empty() ? INT64_MIN : stored->time.back();
  }
  for (std::size_t r = topic.bars.lower_bound(after == INT64_MIN ? INT64_MIN : after + 1);
       r < topic.bars.size(); ++r) {
    std::vector<double> row(topic.values.size());
    for (std::size_t c = 0; c < row.size(); ++c) row[c] = topic.values[c][r];
    materialise(topic, topic.bars.time[r], row, staging);
  }
}

void Topics::materialise(Topic& topic, Timestamp t, std::span<const double> row,
                         WriteBatch& staging) {
  ValueRows& v = staging.values[topic.info.key];
  if (v.outputs.empty()) {
    v.graph = topic.info.graph;
    v.asset_id = book_.id_of(topic.info.symbol);
    v.graph_id = topic.graph_id;
    v.version = topic.info.graph_version;
    v.outputs = topic.info.outputs;
  }
  v.rows.emplace_back(t, std::vector<double>(row.begin(), row.end()));
}

void Topics::closed(const ClosedBar& c, WriteBatch& staging) {
  if (bus_ != nullptr) publish_candle(c.symbol, c.interval, c.bar, true);
  auto it = by_symbol_.find(c.symbol);
  if (it == by_symbol_.end()) return;
  for (Topic* topic : it->second) {
    if (topic->info.interval == c.interval) feed_closed(*topic, c, staging);
  }
}

void Topics::feed_closed(Topic& topic, const ClosedBar& c, WriteBatch& staging) {
  const bool primary = c.symbol == topic.info.symbol;
  if (!topic.plan) {
    if (primary) publish(topic, c.bar, true, {});
    return;
  }
  if (primary) append_row(topic, c.bar);
  topic.changed_rows.clear();
  topic.executor->on_bar(topic.plan->asset_index(c.symbol), c.bar);
  std::sort(topic.changed_rows.begin(), topic.changed_rows.end());
  topic.changed_rows.erase(std::unique(topic.changed_rows.begin(), topic.changed_rows.end()),
                           topic.changed_rows.end());
  std::vector<double> row(topic.values.size());
  for (const std::size_t r : topic.changed_rows) {
    for (std::size_t col = 0; col < row.size(); ++col) row[col] = topic.values[col][r];
    if (topic.standing) materialise(topic, topic.bars.time[r], row, staging);
    publish(topic, topic.bars.at(r), true, row);
  }
  // A primary bar whose own domain produced nothing (no node fires on it) is still final.
  if (primary && topic.changed_rows.empty()) {
    for (std::size_t col = 0; col < row.size(); ++col) row[col] = topic.values[col].back();
    if (topic.standing) materialise(topic, c.bar.time, row, staging);
    publish(topic, c.bar, true, row);
  }
}

void Topics::append_row(Topic& topic, const Candle& bar) const {
  topic.bars.push_back(bar);
  for (auto& column : topic.values) column.push_back(analytics::kNaN);
  const std::size_t limit = 2 * std::max(options_.max_history, std::size_t{1});
  if (topic.bars.size() > limit) {
    const std::size_t drop = topic.bars.size() - options_.max_history;
    topic.bars = topic.bars.slice(drop, topic.bars.size());
    for (auto& column : topic.values) {
      column.erase(column.begin(), column.begin() + static_cast<std::ptrdiff_t>(drop));
    }
  }
}

// The executor's listener: copies the columns of the domain that fired into the row of that bar.
void Topics::on_fired(Topic& topic, Timestamp t, int domain) {
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

void Topics::forming(std::span<const FormingBar> bars) {
  for (const FormingBar& f : bars) {
    if (bus_ != nullptr) publish_candle(f.symbol, f.interval, f.bar, false);
    auto it = by_symbol_.find(f.symbol);
    if (it == by_symbol_.end()) continue;
    for (Topic* topic : it->second) {
      if (topic->info.symbol != f.symbol || topic->info.interval != f.interval) continue;
      if (!topic->plan) {
        publish(*topic, f.bar, false, {});
      } else {
        publish(*topic, f.bar, false, peek_values(*topic, f.bar));
      }
    }
  }
}

// The provisional values of every column of a graph topic for its forming bar.
std::vector<double> Topics::peek_values(Topic& topic, const Candle& forming) {
  topic.executor->peek(topic.plan->asset_index(topic.info.symbol), forming, topic.scratch);
  std::vector<double> row(topic.plan->columns.size());
  for (std::size_t c = 0; c < row.size(); ++c) {
    row[c] = topic.scratch[static_cast<std::size_t>(topic.plan->columns[c].slot)];
  }
  return row;
}

void Topics::publish(Topic& topic, const Candle& bar, bool final, std::span<const double> values) {
  const Update update{topic.info, bar, final, values, options_.clock->now()};
  if (topic.standing && bus_ != nullptr) bus_->publish(update);
  if (streams_ != nullptr) streams_->publish(update);
}

void Topics::publish_candle(std::string_view symbol, Interval interval, const Candle& bar,
                            bool final) {
  TopicInfo candles;
  candles.key = topic_key(symbol, interval, "");
  candles.symbol = std::string(symbol);
  candles.interval = interval;
  bus_->publish({candles, bar, final, {}, options_.clock->now()});
}

Result<TopicSnapshot> Topics::snapshot(Topic& topic, std::size_t history, std::vector<int> columns,
                                       const CandleSeries* candles) {
  TopicSnapshot snapshot;
  snapshot.topic = &topic.info;
  snapshot.columns = std::move(columns);
  if (topic.plan) {
    const std::size_t n = std::min(history, topic.bars.size());
    const std::size_t first = topic.bars.size() - n;
    snapshot.bars = topic.bars.slice(first, topic.bars.size());
    for (const auto& column : topic.values) {
      snapshot.values.emplace_back(column.begin() + static_cast<std::ptrdiff_t>(first),
                                   column.end());
    }
  } else if (candles != nullptr) {
    snapshot.bars = *candles;
  } else {
    if (Status s = writes_.write_queued(); !s.ok()) return s;
    auto bars = store::BarReader(store_, *options_.clock)
                    .latest(book_.id_of(topic.info.symbol), topic.info.interval, history);
    if (!bars) return bars.status();
    snapshot.bars = std::move(*bars);
  }
  if (auto forming = book_.forming(topic.info.symbol, topic.info.interval)) {
    // With its provisional values, as the next forming update will have them.
    if (topic.plan) snapshot.forming_values = peek_values(topic, *forming);
    snapshot.forming = forming;
    snapshot.forming_time = options_.clock->now();
  }
  return snapshot;
}

Result<std::vector<int>> output_columns(const TopicInfo& topic,
                                        const std::vector<std::string>& outputs) {
  std::vector<int> chosen;
  for (const auto& output : outputs) {
    const auto& names = topic.outputs;
    const auto it = std::find(names.rbegin(), names.rend(), output);  // the last, as before
    if (it == names.rend()) {
      return Status::invalid_argument("outputs: '" + output + "' is not an output of graph '" +
                                      topic.graph + "'")
          .with_parameter("outputs");
    }
    chosen.push_back(static_cast<int>(names.rend() - it) - 1);
  }
  return chosen;
}

void Topics::drop_unfollowed() {
  const std::size_t before = topics_.size();
  std::erase_if(topics_, [&](const auto& entry) {
    return !entry.second->standing && (streams_ == nullptr || !streams_->follows(entry.first));
  });
  if (topics_.size() != before) reindex();
}

void Topics::graph_changed(std::string_view name) {
  for (auto it = topics_.begin(); it != topics_.end();) {
    if (it->second->info.graph != name) {
      ++it;
      continue;
    }
    if (streams_ != nullptr) streams_->ended(it->second->info);
    it = topics_.erase(it);
  }
  reindex();
  reported_standing_errors_.erase(std::string(name));
  standing_ready_.clear();
  ++graph_epoch_;
}

void Topics::release(std::span<const std::string> symbols) {
  for (const std::string& symbol : symbols) {
    standing_ready_.erase(symbol);
    for (auto& [key, topic] : topics_) {
      if (topic->info.symbol == symbol) topic->standing = false;
    }
  }
  drop_unfollowed();
}

void Topics::reindex() {
  by_symbol_.clear();
  for (auto& [key, topic] : topics_) {
    for (const auto& symbol : topic->reads()) by_symbol_[symbol].push_back(topic.get());
  }
}

}  // namespace tickgraph::live
