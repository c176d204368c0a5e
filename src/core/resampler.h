// Bar -> bar resampling to a coarser interval (1m -> 5m or 1h, 1h -> 4h or 1d, 1d -> 1w, …).
//
// Bars of interval `from` are grouped by the bar of interval `to` that contains their open time,
// which requires `to` to be a coarser multiple of `from` (interval_divides(from, to)). A coarse bar
// is built from whichever fine bars exist in its span: open is the first fine bar's open, close
// the last one's close, high the maximum, low the minimum and volume the sum, taken in time order.
// A coarse bar is stamped with its own open time, bar_open_time(t, to), even when its first fine
// bars are missing; a span with no fine bars gives no coarse bar (no flat bars are fabricated).
// Field values are combined as given; NaN in a fine bar propagates like any arithmetic would.
//
// Two forms, which give identical results: resample() over a whole series (pull), and
// CandleResampler, fed one closed fine bar at a time (push).
#pragma once

#include <optional>

#include "core/candle.h"
#include "core/interval.h"
#include "core/result.h"
#include "core/time.h"

namespace tickgraph {

// Resamples a series of `from` bars into `to` bars. Fails when `to` is not a coarser multiple of
// `from`, when the series' columns differ in length, or, naming the row, when a bar's time is not
// aligned to `from` or not strictly after the previous row's.
Result<CandleSeries> resample(const CandleSeries& in, Interval from, Interval to);

// Incremental resampling: push closed fine bars in time order, get closed coarse bars back.
// A coarse bar closes when a fine bar of a later span arrives, on close_until() once its end has
// passed, or on flush(). Pushing the fine bars of a series and then flushing yields exactly
// resample()'s output. Not thread-safe; one per (asset, from, to, run).
class CandleResampler {
 public:
  // Fails when `to` is not a coarser multiple of `from`.
  static Result<CandleResampler> create(Interval from, Interval to);

  // Adds one closed `from` bar. Returns the coarse bar it closed (the previous span's), if any.
  // Fails, naming the bar's time, and changes nothing when the bar is not aligned to `from`, is
  // not strictly after the previous pushed bar, or falls in a coarse bar already closed by
  // close_until() or flush().
  Result<std::optional<Candle>> push(const Candle& fine);

  // The partial coarse bar built from the fine bars pushed so far, or empty.
  std::optional<Candle> forming() const;

  // Closes and returns the open coarse bar when now >= its end (open time + `to`); a no-op
  // otherwise. For a live feed, calling close_until(fine.time + interval_duration(from)) after each
  // push releases a coarse bar as soon as its last fine bar is in.
  std::optional<Candle> close_until(Timestamp now);

  // Closes and returns the open coarse bar, whatever is missing from it (end of stream).
  std::optional<Candle> flush();

  Interval from() const { return from_; }
  Interval to() const { return to_; }

 private:
  CandleResampler(Interval from, Interval to) : from_(from), to_(to) {}
  Candle close_bar();

  Interval from_;
  Interval to_;
  bool has_bar_ = false;
  Candle bar_;
  std::optional<Timestamp> last_fine_;    // time of the last pushed fine bar
  std::optional<Timestamp> last_closed_;  // stamp of the last closed coarse bar
};

}  // namespace tickgraph
