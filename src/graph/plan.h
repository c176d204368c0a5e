// A CompiledGraph laid out for one primary asset: the (asset, node) instances it needs, value
// slots, and clock domains. Shared, immutable input of both executors.
//
// Clock domains decide when a node fires. Each asset's bars are a domain. A node whose inputs all
// tick in one domain belongs to it and fires synchronously, in topological order, when that
// domain ticks. A node whose inputs come from different domains (beta of AAPL:ret on SPY:ret) is
// a join: it fires for a timestamp once every input has a value for that timestamp (the
// intersection of its inputs' timelines), and starts a domain of its own for what it feeds.
#pragma once

#include <array>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/candle.h"
#include "core/result.h"
#include "graph/compiled_graph.h"

namespace tickgraph::graph {

// Bars by symbol; each series strictly increasing in time.
using MarketData = std::map<std::string, CandleSeries, std::less<>>;

struct TimeRange {
  Timestamp from = std::numeric_limits<Timestamp>::min();
  Timestamp to = std::numeric_limits<Timestamp>::max();  // inclusive
};

struct Plan {
  struct Instance {
    int node = 0;    // index into CompiledGraph::nodes()
    int asset = 0;   // index into assets
    int domain = 0;  // the domain it fires in (its own, for a join)
    bool join = false;
    int input_count = 0;
    std::array<int, kMaxInputs> input_slots{};
    std::array<int, kMaxInputs> input_domains{};
    int output_slot = 0;  // first of output_count consecutive slots
    int output_count = 0;
  };
  struct Source {
    Field field;
    int slot;
  };
  struct Column {  // one output column of the primary asset
    std::string name;
    int instance = 0;
    int slot = 0;
  };

  std::shared_ptr<const CompiledGraph> graph;
  std::vector<std::string> assets;  // [0] is the primary
  std::vector<Instance> instances;  // topological order
  int slot_count = 0;
  std::vector<std::vector<Source>> sources;  // per asset: the bar fields read, and their slots
  int domain_count = 0;                      // assets first, then one per join
  std::vector<std::vector<int>> schedule;    // per domain: its non-join instances, in order
  std::vector<std::vector<int>> joins_fed;   // per domain: joins with an input in it
  std::vector<int> slot_domain;              // per slot: the domain whose timeline it follows
  std::vector<Column> columns;               // the graph's outputs, in spec order

  int asset_index(std::string_view symbol) const;  // -1 when the plan does not read it
};

// Lays out `graph` for `primary`. Never fails for a compiled graph; a cross-asset chain that
// would need itself was rejected by compile() as a cycle.
std::shared_ptr<const Plan> make_plan(std::shared_ptr<const CompiledGraph> graph,
                                      std::string_view primary);

// OK when `data` holds bars for every asset of the plan; else names the missing one.
Status check_market_data(const Plan& plan, const MarketData& data);

// The first bar time a run needs so that every value from `from` on is warmed up: `from` moved
// back by the graph's lookback in bars (plus settle bars), counted on the timeline of every clock
// domain (each asset's bars, and each cross-asset join's common bars), and by its lookback in
// time; the earliest of these. Both executors start there, which is what makes them agree.
// Saturates instead of overflowing for open ranges. Precondition: check_market_data(plan, data).
Timestamp warmup_start(const Plan& plan, const MarketData& data, Timestamp from);

// warmup_start, and whether `data` was enough to place it: `short_history` when some clock
// domain has no more bars before `from` than the lookback asks for, so the run starts at that
// domain's first bar. When `data` is the tail of a longer history, a short domain may have more
// bars before what was loaded and the start would move back; when no domain is short, the start
// is the same for any longer history (the pull facade, live/pull.h, loads by this).
struct WarmupWindow {
  Timestamp start = std::numeric_limits<Timestamp>::min();
  bool short_history = false;
};
WarmupWindow warmup_window(const Plan& plan, const MarketData& data, Timestamp from);

}  // namespace tickgraph::graph
