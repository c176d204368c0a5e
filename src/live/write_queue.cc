#include "live/write_queue.h"

#include <algorithm>

#include "core/log.h"

namespace tickgraph::live {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Histogram& store_latency(Metrics& metrics, std::string op) {
  return metrics.histogram("tickgraph_store_seconds", "Store call latency by operation",
                           {{"op", std::move(op)}});
}

}  // namespace

WriteQueue::WriteQueue(store::Store& store, Metrics& metrics, Generations& generations,
                       Options options)
    : store_(store),
      metrics_(metrics),
      generations_(generations),
      options_(options),
      closed_bars_(metrics.counter("tickgraph_live_bars_closed_total", "Live bars closed")),
      latency_ticks_(store_latency(metrics, "write_ticks")),
      latency_candles_(store_latency(metrics, "write_candles")),
      latency_analytics_(store_latency(metrics, "write_analytics")),
      store_errors_(metrics.counter("tickgraph_live_store_errors_total",
                                    "Failed writes of closed live bars (kept and retried)")) {
  if (options_.write_behind) writer_ = std::thread([this] { write_behind_loop(); });
}

WriteQueue::~WriteQueue() {
  if (writer_.joinable()) {
    {
      std::lock_guard lock(wake_mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    writer_.join();
  }
  if (Status s = write_queued(); !s.ok()) {
    log::warn("store: " + s.message() + " (" + std::to_string(size()) +
                  " batches not written at shutdown)",
              {{"reason", "store_failed"}});
  }
}

void WriteQueue::push(WriteBatch batch) {
  if (batch.empty()) return;
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back(std::move(batch));
    queued_ = queue_.size();
  }
  if (!failing_) wake_.notify_one();  // written now, not at the next period
}

Status WriteQueue::flush() {
  std::lock_guard lock(writer_mutex_);
  return flush_locked();
}

Status WriteQueue::write_queued() { return size() == 0 ? Status{} : flush(); }

Status WriteQueue::write_ticks_now(const FreshTicks& ticks) {
  return store_.batch([&]() -> Status {
    for (const auto& [asset_id, asset_ticks] : ticks) {
      const auto start = std::chrono::steady_clock::now();
      auto written = store_.write_ticks(asset_id, asset_ticks);
      latency_ticks_.observe(seconds_since(start));
      if (!written) return written.status();
    }
    return {};
  });
}

void WriteQueue::count_ingested(std::string_view source, const IngestCounts& counts) {
  const Labels labels{{"source", std::string(source)}};
  metrics_.counter("tickgraph_ingest_ticks_total", "Ticks ingested, by source", labels)
      .inc(static_cast<double>(counts.accepted));
  metrics_
      .counter("tickgraph_ingest_late_ticks_total", "Ticks stored but too late for their bar",
               labels)
      .inc(static_cast<double>(counts.late));
}

Status WriteQueue::flush_locked() {
  std::vector<WriteBatch*> todo;
  {
    std::lock_guard lock(queue_mutex_);
    for (WriteBatch& b : queue_) todo.push_back(&b);
  }
  if (todo.empty()) return {};
  std::vector<ValueRows> refused;
  std::string refusal;
  Status written = store_.batch([&]() -> Status {
    refused.clear();
    for (WriteBatch* b : todo) {
      for (const auto& [asset_id, ticks] : b->ticks) {
        const auto start = std::chrono::steady_clock::now();
        auto result = store_.write_ticks(asset_id, ticks);
        latency_ticks_.observe(seconds_since(start));
        if (!result) return result.status();
      }
      std::map<std::pair<std::int64_t, Interval>, std::vector<Candle>> by_series;
      for (const ClosedBar& c : b->closed) by_series[{c.asset_id, c.interval}].push_back(c.bar);
      for (const auto& [series, bars] : by_series) {
        const auto start = std::chrono::steady_clock::now();
        auto result = store_.write_candles(series.first, series.second, bars);
        latency_candles_.observe(seconds_since(start));
        if (!result) return result.status();
      }
      for (const auto& [key, v] : b->values) {
        std::vector<store::AnalyticsSeries> series(v.outputs.size());
        for (std::size_t c = 0; c < series.size(); ++c) {
          series[c].output = v.outputs[c];
          for (const auto& [time, values] : v.rows) {
            series[c].time.push_back(time);
            series[c].values.push_back(values[c]);
          }
        }
        const auto start = std::chrono::steady_clock::now();
        const Status s = store_.write_analytics(v.asset_id, v.graph_id, v.version, series);
        latency_analytics_.observe(seconds_since(start));
        if (!s.ok()) {
          refused.push_back(v);
          refusal = s.message();
        }
      }
    }
    return {};
  });
  if (!written.ok()) {
    store_errors_.inc();
    return written;
  }
  std::set<std::string> written_bars;
  for (const WriteBatch* b : todo) {
    for (const ClosedBar& c : b->closed) written_bars.insert(c.symbol);
    closed_bars_.inc(static_cast<double>(b->closed.size()));
    if (!b->source.empty()) count_ingested(b->source, b->counts);
  }
  for (const std::string& symbol : written_bars) generations_.bump(symbol);
  WriteBatch retry;
  for (ValueRows& v : refused) {
    // A version that is gone (the graph deleted, or deleted and put again) takes no values.
    auto version = store_.get_graph(v.graph, v.version);
    if (version && (!version->has_value() || (*version)->graph_id != v.graph_id)) continue;
    store_errors_.inc();
    if (reported_value_errors_.insert(v.graph).second) {
      log::warn("store: " + refusal + " (values of graph '" + v.graph + "' kept, written later)",
                {{"graph", v.graph}, {"reason", "store_failed"}});
    }
    const std::string key = std::to_string(v.asset_id) + "|" + std::to_string(v.graph_id);
    retry.values.emplace(key, std::move(v));
  }
  std::lock_guard lock(queue_mutex_);
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(todo.size()));
  if (!retry.values.empty()) queue_.push_back(std::move(retry));
  queued_ = queue_.size();
  return {};
}

void WriteQueue::write_behind_loop() {
  auto pause = options_.write_period;
  std::unique_lock lock(wake_mutex_);
  while (!wake_.wait_for(lock, pause, [&] { return stop_; })) {
    if (size() == 0) continue;
    lock.unlock();
    const Status s = flush();
    lock.lock();
    if (s.ok()) {
      if (failing_) {
        log::info("store: writes resumed, the queue is written", {{"reason", "store_recovered"}});
      }
      failing_ = false;
      pause = options_.write_period;
      continue;
    }
    if (!failing_) {
      log::warn("store: " + s.message() + " (" + std::to_string(size()) +
                    " batches queued, kept and written again)",
                {{"reason", "store_failed"}});
    }
    failing_ = true;
    pause = std::min<std::chrono::milliseconds>(std::max(pause * 2, std::chrono::milliseconds(200)),
                                                std::chrono::seconds(2));
  }
}

}  // namespace tickgraph::live
