// A range of times for the stores' range reads (market_store.h, graph_store.h).
#pragma once

#include <cstdint>

#include "core/time.h"

namespace tickgraph::store {

// The times t with from <= t <= to (both bounds inclusive); the default is every time. A range
// whose from is after its to holds nothing.
struct TimeRange {
  Timestamp from = INT64_MIN;
  Timestamp to = INT64_MAX;
};

}  // namespace tickgraph::store
