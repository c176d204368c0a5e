#include "live/ticks.h"

#include "ingest/tick_source.h"

namespace tickgraph::live {

Status check_batch(std::span<const TickInput> ticks, Timestamp now) {
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const TickInput& t = ticks[i];
    const std::string at = "ticks[" + std::to_string(i) + "]";
    if (t.symbol.empty()) {
      return Status::invalid_argument(at + ".symbol: missing")
          .with_field(at + ".symbol")
          .with_detail("index", std::to_string(i));
    }
    if (Status s = ingest::check_tick_values(t.tick, now); !s.ok()) {
      return s.with_prefix(at + ".")
          .with_field(at + "." + std::string(s.detail("field")))
          .with_detail("index", std::to_string(i));
    }
  }
  return {};
}

}  // namespace tickgraph::live
