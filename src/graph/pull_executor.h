// Pull mode: a time range in, whole columns out. Loads the range extended backwards by the
// graph's lookback (warmup_start), runs each node instance's batch kernel over whole arrays in
// topological order, and returns the primary asset's outputs over the asked range.
#pragma once

#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/candle.h"
#include "core/result.h"
#include "graph/compiled_graph.h"
#include "graph/plan.h"
#include "graph/table.h"

namespace tickgraph::graph {

// Evaluates `graph` for `symbol` over `range`. `data` must hold bars for `symbol` and for every
// other asset the graph reads (else an error naming the asset); bars before range.from are used
// for warm-up when present. Rows are the primary asset's bars inside the range; a cross-asset node
// is NaN on rows where one of its assets has no bar.
Result<Table> run_pull(const std::shared_ptr<const CompiledGraph>& graph, std::string_view symbol,
                       const MarketData& data, TimeRange range = {});

}  // namespace tickgraph::graph
