#include "live/pull.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "graph/pull_executor.h"
#include "graph/push_executor.h"
#include "store/bar_reader.h"

namespace tickgraph::live {

namespace {

constexpr Timestamp kMin = std::numeric_limits<Timestamp>::min();

Result<std::vector<std::int64_t>> asset_ids(store::MarketStore& store, const graph::Plan& plan) {
  std::vector<std::int64_t> ids;
  ids.reserve(plan.assets.size());
  for (const std::string& symbol : plan.assets) {
    auto asset = store.find_asset(symbol);
    if (!asset) return asset.status();
    if (!asset->has_value()) {
      return Status::not_found("unknown asset '" + symbol + "'").with_detail("asset", symbol);
    }
    ids.push_back((*asset)->id);
  }
  return ids;
}

// The bars of `tail` from `start` on, then `rest` (which follows it in time).
CandleSeries join_tail(const CandleSeries& tail, Timestamp start, const CandleSeries& rest) {
  CandleSeries out;
  const std::size_t first = tail.lower_bound(start);
  out.reserve(tail.size() - first + rest.size());
  for (std::size_t i = first; i < tail.size(); ++i) out.push_back(tail.at(i));
  for (std::size_t i = 0; i < rest.size(); ++i) out.push_back(rest.at(i));
  return out;
}

}  // namespace

Result<std::shared_ptr<const graph::CompiledGraph>> prepare_graph(store::MarketStore& store,
                                                                  const graph::GraphSpec& spec) {
  std::optional<Status> store_failure;
  graph::CompileOptions options;
  options.asset_exists = [&](std::string_view symbol) {
    auto found = store.find_asset(symbol);
    if (!found) {
      if (!store_failure) store_failure = found.status();
      return true;  // unknown: not reported as a spec error
    }
    return found->has_value();
  };
  auto compiled = graph::compile(spec, options);
  if (store_failure) return *store_failure;
  return compiled;
}

Result<std::shared_ptr<const graph::CompiledGraph>> prepare_graph(store::MarketStore& store,
                                                                  std::string_view text,
                                                                  std::string_view source) {
  auto spec = graph::parse_spec(text, source);
  if (!spec) return spec.status();
  return prepare_graph(store, *spec);
}

Result<StoredGraph> load_graph(store::Store& store, std::string_view name) {
  auto stored = store.get_graph(name);
  if (!stored) return stored.status();
  if (!stored->has_value()) return Status::not_found("unknown graph '" + std::string(name) + "'");
  auto compiled = prepare_graph(store, (*stored)->spec, "graph '" + std::string(name) + "'");
  if (!compiled) return compiled.status();
  return StoredGraph{std::move(**stored), std::move(*compiled)};
}

Result<graph::MarketData> bars_for_range(store::MarketStore& store, const graph::Plan& plan,
                                         Interval interval, graph::TimeRange range,
                                         const Clock& clock) {
  const store::BarReader reader(store, clock);
  auto ids = asset_ids(store, plan);
  if (!ids) return ids.status();
  graph::MarketData data;
  if (range.from == kMin) {  // from the first bar: everything up to `to`
    for (std::size_t a = 0; a < ids->size(); ++a) {
      auto bars = reader.read((*ids)[a], interval, {kMin, range.to});
      if (!bars) return bars.status();
      data.emplace(plan.assets[a], std::move(*bars));
    }
    return data;
  }

  // The bars before `from`: the lookback's on each asset (one more, so that an asset's own
  // domain never looks short), then more while a join's common bars fall short of it.
  const auto& lb = plan.graph->lookback();
  std::size_t count = static_cast<std::size_t>(lb.bars + lb.settle) + 1;
  graph::MarketData before;
  std::vector<bool> whole(ids->size());  // every bar before `from` was read
  graph::WarmupWindow window;
  for (;;) {
    before.clear();
    bool truncated = false;
    for (std::size_t a = 0; a < ids->size(); ++a) {
      auto bars = reader.latest((*ids)[a], interval, count, range.from - 1);
      if (!bars) return bars.status();
      whole[a] = bars->size() < count;
      truncated = truncated || !whole[a];
      before.emplace(plan.assets[a], std::move(*bars));
    }
    window = graph::warmup_window(plan, before, range.from);
    if (!window.short_history || !truncated) break;
    count *= 4;
  }

  // From the start on: what was read before `from` (unless a lookback in time reaches further
  // back than it), then [from, to].
  for (std::size_t a = 0; a < ids->size(); ++a) {
    const CandleSeries& tail = before.find(plan.assets[a])->second;
    const bool covered = whole[a] || (!tail.empty() && tail.time.front() <= window.start);
    if (!covered) {
      auto bars = reader.read((*ids)[a], interval, {window.start, range.to});
      if (!bars) return bars.status();
      data.emplace(plan.assets[a], std::move(*bars));
      continue;
    }
    auto rest = reader.read((*ids)[a], interval, {range.from, range.to});
    if (!rest) return rest.status();
    data.emplace(plan.assets[a], join_tail(tail, window.start, *rest));
  }
  return data;
}

Result<graph::MarketData> latest_bars(store::MarketStore& store, const graph::Plan& plan,
                                      Interval interval, std::size_t count, const Clock& clock) {
  const store::BarReader reader(store, clock);
  auto ids = asset_ids(store, plan);
  if (!ids) return ids.status();
  graph::MarketData data;
  for (std::size_t a = 0; a < ids->size(); ++a) {
    auto bars = reader.latest((*ids)[a], interval, count);
    if (!bars) return bars.status();
    data.emplace(plan.assets[a], std::move(*bars));
  }
  return data;
}

Result<graph::Table> run(store::MarketStore& store,
                         const std::shared_ptr<const graph::CompiledGraph>& graph,
                         std::string_view symbol, Interval interval, graph::TimeRange range,
                         Mode mode, const Clock& clock) {
  const auto plan = graph::make_plan(graph, symbol);
  auto data = bars_for_range(store, *plan, interval, range, clock);
  if (!data) return data.status();
  return mode == Mode::kPush ? graph::run_push(graph, symbol, *data, range)
                             : graph::run_pull(graph, symbol, *data, range);
}

}  // namespace tickgraph::live
