// Tick -> bar aggregation for one asset.
//
// A CandleAggregator turns one asset's stream of Ticks into Candles, under one BarRule chosen at
// construction:
//   - time bars: one bar per Interval (1s … 1w), bounded by bar_open_time() and stamped with the
//     interval's open time; a bar covers [open, open + interval);
//   - information-driven bars: a bar closes on the tick that makes its tick count, its volume
//     (sum of size) or its traded value (sum of price * size) reach or cross the threshold. That
//     tick belongs to the closing bar (ticks are never split) and the next tick opens a new bar.
//     An information bar is stamped with the time of its first tick, so consecutive information
//     bars may share a stamp when many ticks share a timestamp.
//
// States. There is at most one open (forming) bar. A tick either joins it, or (time bars) opens
// the next one after closing it, or is refused. Bars close on a tick (above), on close_until()
// (time bars whose end has passed, so a quiet market still closes its bars) or on flush().
//
// Tick policy, checked in this order:
//   1. Invalid: a price that is not finite or not > 0, or a size that is not finite or < 0, is
//      rejected (TickVerdict::kInvalid, with an InvalidReason). A size of 0 is valid.
//   2. Late: a tick older than the earliest time the open bar may hold is not applied
//      (TickVerdict::kLate), counted in stats().late_ticks and reported with the bar it belonged
//      to. That earliest time is: time bars, the open bar's open time (or, with no open bar, the
//      end of the last closed bar); information bars, the open bar's first tick (or, with no open
//      bar, the latest tick of the last closed bar). A tick is never silently dropped.
//   3. Accepted: the tick joins the open bar, even when it is older than ticks already there (it
//      is then out of order, counted in stats().out_of_order_ticks). Each tick updates high, low
//      and volume; open is the price of the earliest-timestamped tick of the bar and close the
//      price of the latest-timestamped one, ties going to arrival order (open keeps the first
//      arrival, close takes the last). For information bars, no accepted tick is older than the
//      bar's first tick, so open is always the first tick's price.
//
// Gaps: time bars are emitted only for intervals that had accepted ticks; no flat bars are
// fabricated for quiet intervals. A tick several intervals ahead closes the open bar and opens a
// new one at its own interval. Lateness follows closed bars, not the clock: after close_until(now),
// a tick in a later interval than the closed bar is accepted even if that interval ended before
// now.
//
// Thread-safety: none. One aggregator per (asset, bar rule, run); callers serialise access.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "core/candle.h"
#include "core/interval.h"
#include "core/result.h"
#include "core/time.h"

namespace tickgraph {

enum class BarKind {
  kTime,    // one bar per interval
  kTick,    // every N ticks
  kVolume,  // every V of summed size
  kValue,   // every D of summed price * size ("dollar bars")
};

// How ticks are grouped into bars. Build one with the factories; CandleAggregator::create checks
// the threshold.
struct BarRule {
  BarKind kind = BarKind::kTime;
  Interval interval = Interval::k1m;  // kTime only
  double threshold = 0;               // information bars only: N, V or D

  static BarRule time(Interval i) { return {BarKind::kTime, i, 0}; }
  static BarRule ticks(std::int64_t n) {
    return {BarKind::kTick, Interval::k1m, static_cast<double>(n)};
  }
  static BarRule volume(double v) { return {BarKind::kVolume, Interval::k1m, v}; }
  static BarRule value(double d) { return {BarKind::kValue, Interval::k1m, d}; }
};

enum class TickVerdict { kAccepted, kLate, kInvalid };

enum class InvalidReason {
  kNone,
  kPriceNotFinite,
  kPriceNotPositive,
  kSizeNotFinite,
  kSizeNegative,
};
std::string_view invalid_reason_name(InvalidReason r);  // "price is not finite", …

// What on_tick did with one tick.
struct TickOutcome {
  TickVerdict verdict = TickVerdict::kAccepted;
  // kAccepted: the tick was older than a tick already in its bar.
  bool out_of_order = false;
  // kInvalid: why.
  InvalidReason invalid = InvalidReason::kNone;
  // kAccepted: the stamp of the bar the tick joined.
  // kLate: the stamp of the already-closed bar the tick belonged to. For time bars, always the
  // open time of the tick's interval (which may be a gap that produced no bar). For information
  // bars, the stamp of the last closed bar when the tick is not older than it; empty when the
  // tick predates even that bar.
  // kInvalid: empty.
  std::optional<Timestamp> bar_time;
  // kAccepted: the bar this tick closed, if any. Time bars: the previous bar, closed because this
  // tick opened a later interval. Information bars: the bar this tick completed.
  std::optional<Candle> closed;

  bool accepted() const { return verdict == TickVerdict::kAccepted; }
};

// Running counters since construction.
struct AggregatorStats {
  std::uint64_t ticks_accepted = 0;      // includes out-of-order ones
  std::uint64_t bars_closed = 0;         // by a tick, close_until or flush
  std::uint64_t late_ticks = 0;          // refused, their bar was already closed
  std::uint64_t out_of_order_ticks = 0;  // accepted although older than a tick in their bar
  std::uint64_t invalid_ticks = 0;       // refused, bad price or size
};

class CandleAggregator {
 public:
  // Fails, naming the threshold, when an information bar's threshold is not finite and > 0, or a
  // tick count is not a whole number >= 1.
  static Result<CandleAggregator> create(BarRule rule);

  // Feeds one tick; see the policy at the top of this file. Never fails, never throws.
  TickOutcome on_tick(const Tick& tick);

  // The open bar as it stands, or empty when no bar is open.
  std::optional<Candle> forming() const;

  // Time bars: closes and returns the open bar when now >= its end (open time + interval); a
  // no-op otherwise, and always a no-op for information bars, which close on ticks only.
  std::optional<Candle> close_until(Timestamp now);

  // Closes and returns the open bar whatever its progress (end of stream); empty when none is
  // open. Later ticks that would have joined it are late.
  std::optional<Candle> flush();

  AggregatorStats stats() const { return stats_; }
  const BarRule& rule() const { return rule_; }

 private:
  explicit CandleAggregator(BarRule rule);
  void open_bar(const Tick& tick, Timestamp stamp);
  bool add_to_bar(const Tick& tick);  // returns out_of_order
  Candle close_bar();

  BarRule rule_;
  Duration interval_ = 0;  // time bars only

  bool has_bar_ = false;
  Candle bar_;
  Timestamp first_time_ = 0;  // earliest tick time in the open bar
  Timestamp last_time_ = 0;   // latest tick time in the open bar
  double progress_ = 0;       // information bars: count, volume or value so far

  // Ticks older than this are late: the open bar's stamp, or with no open bar the end of the last
  // closed time bar or the latest tick of the last closed information bar; the minimum before any.
  Timestamp floor_ = std::numeric_limits<Timestamp>::min();
  std::optional<Timestamp> last_closed_time_;  // stamp of the last closed bar
  AggregatorStats stats_;
};

}  // namespace tickgraph
