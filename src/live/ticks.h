// What the live engine takes in and hands on: ticks of named assets, the counts an ingest
// answers with, the keyed ticks a batch adds to the store, and the bars that close.
//
// Plain values; no lock, no store.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/candle.h"
#include "core/interval.h"
#include "core/result.h"
#include "store/store.h"

namespace tickgraph::live {

struct TickInput {
  std::string symbol;
  Tick tick;
};

struct IngestCounts {
  std::int64_t accepted = 0;   // applied to the live bars
  std::int64_t late = 0;       // stored, but their bar had already closed
  std::int64_t unchanged = 0;  // already stored (a retried batch)
};

// The ticks a batch adds to the store, per asset id, keyed (time, seq), in batch order.
using FreshTicks = std::vector<std::pair<std::int64_t, std::vector<store::StoredTick>>>;

// A bar of (asset, interval) that closed.
struct ClosedBar {
  std::string symbol;
  Interval interval = Interval::k1m;
  Candle bar;
  std::int64_t asset_id = 0;
};

// Checks a whole batch: every symbol given, every value ingestible (ingest::check_tick_values,
// with `now` bounding the time). The error is invalid_argument naming the tick's index and field
// ("ticks[3].price: must be a finite number > 0, got nan"; details "field" and "index").
Status check_batch(std::span<const TickInput> ticks, Timestamp now);

}  // namespace tickgraph::live
