// The pull facade: the one place that knows which stored bars a graph run over a time range
// needs. The `compute` command, GET /v1/assets/{symbol}/analytics and the live engine's warm-up
// all load through it, and every stored graph they run is prepared by load_graph().
//
// A run over [from, to] feeds the executors the bars from graph::warmup_start() on: `from` moved
// back by the graph's lookback and settle bars on every clock domain (see graph/plan.h). Loading
// every bar up to `to` and letting the executor skip the early ones gives the same numbers but
// costs O(history) per request; bars_for_range() reads only the tail the run uses, so a one-day
// answer costs the same on a year of 1m bars as on a week. It reads the lookback's bars before
// `from` on each asset and, when a cross-asset join's common bars fall short of it (calendars
// differ), reads further back until they do or the history is exhausted: the result is always
// the bars a run over the whole history would have used, bit for bit.
//
// Thread-safety: free functions over a store; safe to call from any thread as the store is.
// They call the store and hold no lock of their own.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "core/clock.h"
#include "core/interval.h"
#include "core/result.h"
#include "graph/compiled_graph.h"
#include "graph/plan.h"
#include "graph/spec.h"
#include "graph/table.h"
#include "store/store.h"

namespace tickgraph::live {

// The latest version of a stored graph, compiled against the store's assets.
struct StoredGraph {
  store::GraphVersion version;
  std::shared_ptr<const graph::CompiledGraph> graph;
};

// Compiles a spec, every other asset it names checked against the store: invalid_argument
// listing each problem (an unknown asset among them), or the store's failure when it did not
// answer (then the spec may be fine: it is not reported as unknown assets).
Result<std::shared_ptr<const graph::CompiledGraph>> prepare_graph(store::MarketStore& store,
                                                                  const graph::GraphSpec& spec);
// Parses (YAML or JSON; `source` names the text in errors), then as above.
Result<std::shared_ptr<const graph::CompiledGraph>> prepare_graph(store::MarketStore& store,
                                                                  std::string_view text,
                                                                  std::string_view source);

// The latest version of graph `name`, prepared. not_found ("unknown graph 'NAME'") when there is
// none; a stored spec that no longer compiles (an asset it names is gone) gives its errors.
Result<StoredGraph> load_graph(store::Store& store, std::string_view name);

// Bars are read through store::BarReader: at an interval an asset does not store, they are
// derived from its finer stored bars (store/bar_reader.h), closed by `clock`'s now.

// Of every asset `plan` reads, the bars at `interval` that a run over `range` uses (see the top):
// a run of `plan` over them equals a run over every bar up to range.to. not_found naming an
// asset the store does not know.
Result<graph::MarketData> bars_for_range(store::MarketStore& store, const graph::Plan& plan,
                                         Interval interval, graph::TimeRange range,
                                         const Clock& clock = system_clock());

// Of every asset `plan` reads, its latest `count` bars at `interval` (a live topic's warm-up).
Result<graph::MarketData> latest_bars(store::MarketStore& store, const graph::Plan& plan,
                                      Interval interval, std::size_t count,
                                      const Clock& clock = system_clock());

enum class Mode { kPull, kPush };

// `graph` for `symbol` over `range` of the stored bars: bars_for_range() then run_pull (or
// run_push, which gives the same numbers bar by bar).
Result<graph::Table> run(store::MarketStore& store,
                         const std::shared_ptr<const graph::CompiledGraph>& graph,
                         std::string_view symbol, Interval interval, graph::TimeRange range,
                         Mode mode = Mode::kPull, const Clock& clock = system_clock());

}  // namespace tickgraph::live
