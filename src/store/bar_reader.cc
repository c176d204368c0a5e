#include "store/bar_reader.h"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/resampler.h"

namespace tickgraph::store {

namespace {

constexpr Timestamp kMin = std::numeric_limits<Timestamp>::min();
constexpr Timestamp kMax = std::numeric_limits<Timestamp>::max();
// Bar boundaries are computed inside these bounds (two weeks in from either end of int64
// nanoseconds, the years 1677 and 2262), so that no alignment overflows.
constexpr Timestamp kLow = kMin + 2 * kWeek;
constexpr Timestamp kHigh = kMax - 2 * kWeek;

Duration times_clamped(std::size_t n, Duration d) {
  return n > static_cast<std::size_t>(kMax / d) ? kMax : static_cast<Duration>(n) * d;
}

// The open time of the first bar of `interval` that opens at or after t.
Timestamp first_open_from(Timestamp t, Interval interval) {
  t = std::clamp(t, kLow, kHigh);
  const Timestamp open = bar_open_time(t, interval);
  return open < t ? open + interval_duration(interval) : open;
}

// The open time of the last bar of `interval` that opens at or before t.
Timestamp last_open_to(Timestamp t, Interval interval) {
  return bar_open_time(std::clamp(t, kLow, kHigh), interval);
}

std::size_t index_of(Interval interval) { return static_cast<std::size_t>(interval); }

void append(CandleSeries& to, const CandleSeries& from) {
  for (std::size_t i = 0; i < from.size(); ++i) to.push_back(from.at(i));
}

// Two series in time order whose bars never share a span, as one.
CandleSeries merged(const CandleSeries& a, const CandleSeries& b) {
  CandleSeries out;
  out.reserve(a.size() + b.size());
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a.time[i] < b.time[j])) {
      out.push_back(a.at(i++));
    } else {
      out.push_back(b.at(j++));
    }
  }
  return out;
}

}  // namespace

// One read's state: the asset, the time that decides which derived bars are closed, and where
// each interval's stored bars start and end (read once, when first needed).
struct BarReader::Call {
  struct Extent {
    bool any = false;
    Timestamp first = 0;  // open times of the first and last stored bars
    Timestamp last = 0;
  };

  std::int64_t id = 0;
  Timestamp now = 0;
  std::array<std::optional<Extent>, kAllIntervals.size()> extents;
  std::optional<Timestamp> live_from;  // the asset's first stored tick (kMax when none)

  // Derived bars end by this time: now, and the asset's first stored tick, from which on the
  // live engine stores the bars of its intervals as it closes them.
  Result<Timestamp> closed_by(MarketStore& store) {
    if (!live_from) {
      auto first = store.read_ticks(id, {}, 1);
      if (!first) return first.status();
      live_from = first->empty() ? kMax : first->front().time;
    }
    return std::min(now, *live_from);
  }

  Result<Extent> extent(MarketStore& store, Interval interval) {
    std::optional<Extent>& cached = extents[index_of(interval)];
    if (!cached) {
      auto first = store.read_candles(id, interval, {}, 1);
      if (!first) return first.status();
      auto last = store.latest_candles(id, interval, 1);
      if (!last) return last.status();
      Extent e;
      e.any = !first->empty() && !last->empty();
      if (e.any) {
        e.first = first->time.front();
        e.last = last->time.back();
      }
      cached = e;
    }
    return *cached;
  }

  // Where the stored bars of `interval` and of every interval that divides it start and end:
  // the times a read at `interval` can find bars in (only called when some are stored).
  Result<Extent> extent_from(MarketStore& store, Interval interval) {
    Extent all{false, kMax, kMin};
    for (Interval i : kAllIntervals) {
      if (i != interval && !interval_divides(i, interval)) continue;
      auto e = extent(store, i);
      if (!e) return e.status();
      if (!e->any) continue;
      all = {true, std::min(all.first, e->first), std::max(all.last, e->last)};
    }
    return all;
  }

  // Whether stored bars of `interval` may have times in `window`.
  Result<bool> reaches(MarketStore& store, Interval interval, TimeRange window) {
    auto e = extent(store, interval);
    if (!e) return e.status();
    return e->any && e->first <= window.to && e->last >= window.from;
  }
};

Result<CandleSeries> BarReader::read(std::int64_t asset_id, Interval interval, TimeRange range,
                                     std::size_t limit) const {
  Call call{asset_id, clock_.now(), {}, {}};
  auto derived = derivable(call, interval, range);
  if (!derived) return derived.status();
  if (!*derived) return store_.read_candles(asset_id, interval, range, limit);
  if (limit == 0) return bars(call, interval, range);

  // Windows from the first bar on, growing until they hold `limit` bars or reach the last one.
  auto all = call.extent_from(store_, interval);
  if (!all) return all.status();
  const Timestamp start = std::max(range.from, last_open_to(all->first, interval));
  const Timestamp end = std::min(range.to, all->last);
  Duration span = times_clamped(limit + limit / 4 + 1, interval_duration(interval));
  for (;;) {
    const Timestamp to = std::min(range.to, saturating_add(start, span));
    auto out = bars(call, interval, {start, to});
    if (!out) return out.status();
    if (out->size() >= limit || to >= end) return out->slice(0, std::min(limit, out->size()));
    span = times_clamped(4, span);
  }
}

Result<CandleSeries> BarReader::latest(std::int64_t asset_id, Interval interval, std::size_t n,
                                       Timestamp before) const {
  if (n == 0) return CandleSeries{};
  Call call{asset_id, clock_.now(), {}, {}};
  auto derived = derivable(call, interval, {kMin, before});
  if (!derived) return derived.status();
  if (!*derived) return store_.latest_candles(asset_id, interval, n, before);

  // Windows back from `before`, growing until they hold n bars or reach the first one.
  auto all = call.extent_from(store_, interval);
  if (!all) return all.status();
  const Timestamp first = last_open_to(all->first, interval);  // the first bar's open
  Duration span = times_clamped(n + n / 4 + 1, interval_duration(interval));
  for (;;) {
    const Timestamp from = std::max(first, saturating_sub(before, span));
    auto out = bars(call, interval, {from, before});
    if (!out) return out.status();
    if (out->size() >= n || from <= first) {
      return out->slice(out->size() - std::min(n, out->size()), out->size());
    }
    span = times_clamped(4, span);
  }
}

// Whether a span in range may be derived: one that has closed (see Call::closed_by) and that
// finer stored bars reach into. When none may, a read is the store's own.
Result<bool> BarReader::derivable(Call& call, Interval interval, TimeRange range) const {
  auto by = call.closed_by(store_);
  if (!by) return by.status();
  const Duration d = interval_duration(interval);
  const Timestamp first = first_open_from(range.from, interval);
  const Timestamp last =
      std::min(last_open_to(range.to, interval), last_open_to(saturating_sub(*by, d), interval));
  if (first > last) return false;
  const TimeRange window{first, last + d - 1};
  for (Interval finer : kAllIntervals) {
    if (!interval_divides(finer, interval)) continue;
    auto reaches = call.reaches(store_, finer, window);
    if (!reaches) return reaches.status();
    if (*reaches) return true;
  }
  return false;
}

// The stored bars of `interval` in range, and derived ones for every span in range without one.
Result<CandleSeries> BarReader::bars(Call& call, Interval interval, TimeRange range) const {
  auto stored = store_.read_candles(call.id, interval, range);
  if (!stored) return stored.status();
  const Timestamp first = first_open_from(range.from, interval);
  const Timestamp last = last_open_to(range.to, interval);
  if (first > last) return stored;

  // The runs of spans without a stored bar, as windows of time.
  const Duration d = interval_duration(interval);
  std::vector<TimeRange> missing;
  Timestamp next = first;  // the first span not yet covered
  for (Timestamp t : stored->time) {
    const Timestamp open = bar_open_time(std::clamp(t, kLow, kHigh), interval);
    if (open > next) missing.push_back({next, open - 1});
    next = std::max(next, open + d);
  }
  if (next <= last) missing.push_back({next, last + d - 1});

  CandleSeries derived;
  for (const TimeRange& window : missing) {
    auto part = derive(call, interval, window);
    if (!part) return part.status();
    append(derived, *part);
  }
  if (derived.empty()) return stored;
  return merged(*stored, derived);
}

// The closed bars of `interval` aggregated from finer bars in `spans` (whole spans of
// `interval`, none of them stored). Only the spans that have closed are read.
Result<CandleSeries> BarReader::derive(Call& call, Interval interval, TimeRange spans) const {
  auto by = call.closed_by(store_);
  if (!by) return by.status();
  const Duration d = interval_duration(interval);
  const Timestamp last_closed = last_open_to(saturating_sub(*by, d), interval);
  if (last_closed < spans.from) return CandleSeries{};
  spans.to = std::min(spans.to, last_closed + d - 1);
  for (std::size_t k = index_of(interval); k-- > 0;) {
    const Interval finer = kAllIntervals[k];
    if (!interval_divides(finer, interval)) continue;
    auto reaches = call.reaches(store_, finer, spans);
    if (!reaches) return reaches.status();
    if (!*reaches) continue;
    auto fine = bars(call, finer, spans);
    if (!fine) return fine.status();
    auto coarse = resample(*fine, finer, interval);
    if (!coarse) {
      return coarse.status().with_prefix("deriving " + std::string(interval_name(interval)) +
                                         " bars from stored " + std::string(interval_name(finer)) +
                                         " bars: ");
    }
    return coarse;
  }
  return CandleSeries{};
}

}  // namespace tickgraph::store
