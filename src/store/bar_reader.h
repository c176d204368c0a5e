// Bars at any interval: the stored ones, and coarser ones derived on read from finer stored bars.
//
// An asset imported at 1m (a CSV, Yahoo intraday, a feed's history) has no stored 5m, 1h or 1d
// bars. A read through BarReader at such an interval aggregates the finer stored bars by the
// resampler's rule (core/resampler.h): UTC boundaries, weeks from Monday, gaps kept as gaps. That
// is the rule the live engine aggregates by, so a derived bar equals the bar the live path would
// have written from the same finer bars.
//
// Bar by bar:
//   - a stored bar of the asked interval wins: a span with one is never derived;
//   - a span without one is aggregated from the coarsest finer interval (one that divides the
//     asked one) with stored bars reaching into it, itself read the same way, so its own missing
//     spans are filled from finer bars still. This is the live path's chain (the engine
//     aggregates each interval from the next finer one it keeps), and it gives each interval the
//     longest reach of a history stored at several (Yahoo: 1d for decades, 1h for two years, 1m
//     for a week: 4h bars for two years, from the 1h ones);
//   - a derived bar whose span has not ended by the clock's now is left out: it is still forming,
//     and the live path has not closed it either (a live engine's forming bar is its own);
//   - so is one whose span ends after the asset's first stored tick: from there on the live
//     engine aggregates the intervals it keeps from the ticks and stores each bar as it closes
//     it. A bar derived there could be read between the write of a finer bar and that of the
//     coarser one the engine closes with it, and differ from it.
// So an asset with stored bars of the asked interval only reads exactly as the store gives them.
//
// The reads keep MarketStore's contracts (range on open times, ascending, limit from the start,
// latest n before a time). A derived read costs the finer bars of the spans it fills: one query
// per interval and run of missing spans, plus two per finer interval for where its bars start and
// end, and one for the first tick; an hour of 1m bars per 1h bar.
//
// Thread-safety: as safe as the store; a BarReader holds no state between calls.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/candle.h"
#include "core/clock.h"
#include "core/interval.h"
#include "core/result.h"
#include "store/market_store.h"
#include "store/time_range.h"

namespace tickgraph::store {

class BarReader {
 public:
  explicit BarReader(MarketStore& store, const Clock& clock = system_clock())
      : store_(store), clock_(clock) {}

  // Bars with open time in range, ascending; at most `limit` (0 = no limit) from the start.
  Result<CandleSeries> read(std::int64_t asset_id, Interval interval, TimeRange range,
                            std::size_t limit = 0) const;
  // The latest n bars with open time <= before, ascending (none when n is 0).
  Result<CandleSeries> latest(std::int64_t asset_id, Interval interval, std::size_t n,
                              Timestamp before = INT64_MAX) const;

 private:
  struct Call;
  Result<CandleSeries> bars(Call& call, Interval interval, TimeRange range) const;
  Result<CandleSeries> derive(Call& call, Interval interval, TimeRange spans) const;
  Result<bool> derivable(Call& call, Interval interval, TimeRange range) const;

  MarketStore& store_;
  const Clock& clock_;
};

}  // namespace tickgraph::store
