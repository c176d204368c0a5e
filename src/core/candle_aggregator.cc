#include "core/candle_aggregator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/number_format.h"

namespace tickgraph {

std::string_view invalid_reason_name(InvalidReason r) {
  switch (r) {
    case InvalidReason::kNone:
      return "valid";
    case InvalidReason::kPriceNotFinite:
      return "price is not finite";
    case InvalidReason::kPriceNotPositive:
      return "price is not positive";
    case InvalidReason::kSizeNotFinite:
      return "size is not finite";
    case InvalidReason::kSizeNegative:
      return "size is negative";
  }
  return "unknown";
}

Result<CandleAggregator> CandleAggregator::create(BarRule rule) {
  const double t = rule.threshold;
  switch (rule.kind) {
    case BarKind::kTime:
      break;
    case BarKind::kTick:
      if (!(std::isfinite(t) && t >= 1 && std::floor(t) == t)) {
        return Status::invalid_argument("tick bar threshold must be a whole number >= 1 (got " +
                                        format_number(t) + ")");
      }
      break;
    case BarKind::kVolume:
    case BarKind::kValue:
      if (!(std::isfinite(t) && t > 0)) {
        return Status::invalid_argument(
            std::string(rule.kind == BarKind::kVolume ? "volume" : "value") +
            " bar threshold must be finite and > 0 (got " + format_number(t) + ")");
      }
      break;
  }
  return CandleAggregator(rule);
}

CandleAggregator::CandleAggregator(BarRule rule)
    : rule_(rule),
      interval_(rule.kind == BarKind::kTime ? interval_duration(rule.interval) : Duration{0}) {}

TickOutcome CandleAggregator::on_tick(const Tick& tick) {
  TickOutcome out;
  InvalidReason bad = InvalidReason::kNone;
  if (!std::isfinite(tick.price)) {
    bad = InvalidReason::kPriceNotFinite;
  } else if (!(tick.price > 0)) {
    bad = InvalidReason::kPriceNotPositive;
  } else if (!std::isfinite(tick.size)) {
    bad = InvalidReason::kSizeNotFinite;
  } else if (tick.size < 0) {
    bad = InvalidReason::kSizeNegative;
  }
  if (bad != InvalidReason::kNone) {
    ++stats_.invalid_ticks;
    out.verdict = TickVerdict::kInvalid;
    out.invalid = bad;
    return out;
  }

  if (rule_.kind == BarKind::kTime) {
    const Timestamp open = bar_open_time(tick.time, rule_.interval);
    if (open < floor_) {
      ++stats_.late_ticks;
      out.verdict = TickVerdict::kLate;
      out.bar_time = open;
      return out;
    }
    if (has_bar_ && open == bar_.time) {
      out.out_of_order = add_to_bar(tick);
    } else {
      if (has_bar_) out.closed = close_bar();
      open_bar(tick, open);
    }
    out.bar_time = open;
    ++stats_.ticks_accepted;
    return out;
  }

  if (tick.time < floor_) {
    ++stats_.late_ticks;
    out.verdict = TickVerdict::kLate;
    if (last_closed_time_ && tick.time >= *last_closed_time_) out.bar_time = last_closed_time_;
    return out;
  }
  if (has_bar_) {
    out.out_of_order = add_to_bar(tick);
  } else {
    open_bar(tick, tick.time);
  }
  out.bar_time = bar_.time;
  ++stats_.ticks_accepted;
  switch (rule_.kind) {
    case BarKind::kTick:
      progress_ += 1;
      break;
    case BarKind::kVolume:
      progress_ += tick.size;
      break;
    case BarKind::kValue:
      progress_ += tick.price * tick.size;
      break;
    case BarKind::kTime:
      break;
  }
  if (progress_ >= rule_.threshold) out.closed = close_bar();
  return out;
}

void CandleAggregator::open_bar(const Tick& tick, Timestamp stamp) {
  has_bar_ = true;
  bar_ = Candle{stamp, tick.price, tick.price, tick.price, tick.price, tick.size};
  first_time_ = tick.time;
  last_time_ = tick.time;
  progress_ = 0;
  floor_ = stamp;
}

bool CandleAggregator::add_to_bar(const Tick& tick) {
  bar_.high = std::max(bar_.high, tick.price);
  bar_.low = std::min(bar_.low, tick.price);
  bar_.volume += tick.size;
  if (tick.time < first_time_) {  // ties keep the first arrival as open
    first_time_ = tick.time;
    bar_.open = tick.price;
  }
  if (tick.time >= last_time_) {  // ties give close to the last arrival
    last_time_ = tick.time;
    bar_.close = tick.price;
    return false;
  }
  ++stats_.out_of_order_ticks;
  return true;
}

Candle CandleAggregator::close_bar() {
  has_bar_ = false;
  floor_ = rule_.kind == BarKind::kTime ? saturating_add(bar_.time, interval_) : last_time_;
  last_closed_time_ = bar_.time;
  ++stats_.bars_closed;
  return bar_;
}

std::optional<Candle> CandleAggregator::forming() const {
  if (!has_bar_) return std::nullopt;
  return bar_;
}

std::optional<Candle> CandleAggregator::close_until(Timestamp now) {
  if (!has_bar_ || rule_.kind != BarKind::kTime) return std::nullopt;
  if (bar_open_time(now, rule_.interval) <= bar_.time) return std::nullopt;
  return close_bar();
}

std::optional<Candle> CandleAggregator::flush() {
  if (!has_bar_) return std::nullopt;
  return close_bar();
}

}  // namespace tickgraph
