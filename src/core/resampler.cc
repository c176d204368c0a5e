#include "core/resampler.h"

#include <algorithm>
#include <string>

namespace tickgraph {

namespace {

Status check_intervals(Interval from, Interval to) {
  if (interval_divides(from, to)) return Status();
  return Status::invalid_argument(
      "cannot resample " + std::string(interval_name(from)) + " bars to " +
      std::string(interval_name(to)) + ": " + std::string(interval_name(to)) +
      " is not a coarser multiple of " + std::string(interval_name(from)));
}

std::string misaligned(Timestamp t, Interval from) {
  return "bar time " + format_timestamp(t) + " is not aligned to " +
         std::string(interval_name(from)) + " bars";
}

// The coarse bar so far, extended by the next fine bar of the same span. Both forms use this,
// so their sums are taken in the same order.
void extend(Candle& coarse, const Candle& fine) {
  coarse.high = std::max(coarse.high, fine.high);
  coarse.low = std::min(coarse.low, fine.low);
  coarse.close = fine.close;
  coarse.volume += fine.volume;
}

Candle start(const Candle& fine, Timestamp stamp) {
  Candle c = fine;
  c.time = stamp;
  return c;
}

}  // namespace

Result<CandleSeries> resample(const CandleSeries& in, Interval from, Interval to) {
  if (Status s = check_intervals(from, to); !s.ok()) return s;
  const std::size_t n = in.size();
  if (in.open.size() != n || in.high.size() != n || in.low.size() != n || in.close.size() != n ||
      in.volume.size() != n) {
    return Status::invalid_argument("cannot resample: the series' columns differ in length");
  }
  CandleSeries out;
  Candle coarse;
  for (std::size_t row = 0; row < n; ++row) {
    const Timestamp t = in.time[row];
    if (bar_open_time(t, from) != t) {
      return Status::invalid_argument("row " + std::to_string(row) + ": " + misaligned(t, from));
    }
    if (row > 0 && t <= in.time[row - 1]) {
      return Status::invalid_argument(
          "row " + std::to_string(row) + ": bar time " + format_timestamp(t) +
          " is not after row " + std::to_string(row - 1) + "'s " +
          format_timestamp(in.time[row - 1]) + " (times must be strictly increasing)");
    }
    const Timestamp stamp = bar_open_time(t, to);
    if (row > 0 && stamp == coarse.time) {
      extend(coarse, in.at(row));
    } else {
      if (row > 0) out.push_back(coarse);
      coarse = start(in.at(row), stamp);
    }
  }
  if (n > 0) out.push_back(coarse);
  return out;
}

Result<CandleResampler> CandleResampler::create(Interval from, Interval to) {
  if (Status s = check_intervals(from, to); !s.ok()) return s;
  return CandleResampler(from, to);
}

Result<std::optional<Candle>> CandleResampler::push(const Candle& fine) {
  const Timestamp t = fine.time;
  if (bar_open_time(t, from_) != t) return Status::invalid_argument(misaligned(t, from_));
  if (last_fine_ && t <= *last_fine_) {
    return Status::invalid_argument(
        "bar time " + format_timestamp(t) + " is not after the previous bar's " +
        format_timestamp(*last_fine_) + " (times must be strictly increasing)");
  }
  const Timestamp stamp = bar_open_time(t, to_);
  if (last_closed_ && stamp <= *last_closed_) {
    return Status::invalid_argument("bar time " + format_timestamp(t) + " falls in the " +
                                    std::string(interval_name(to_)) + " bar " +
                                    format_timestamp(*last_closed_) + ", which is already closed");
  }
  last_fine_ = t;
  std::optional<Candle> closed;
  if (has_bar_ && stamp == bar_.time) {
    extend(bar_, fine);
    return closed;
  }
  if (has_bar_) closed = close_bar();
  has_bar_ = true;
  bar_ = start(fine, stamp);
  return closed;
}

std::optional<Candle> CandleResampler::forming() const {
  if (!has_bar_) return std::nullopt;
  return bar_;
}

std::optional<Candle> CandleResampler::close_until(Timestamp now) {
  if (!has_bar_ || bar_open_time(now, to_) <= bar_.time) return std::nullopt;
  return close_bar();
}

std::optional<Candle> CandleResampler::flush() {
  if (!has_bar_) return std::nullopt;
  return close_bar();
}

Candle CandleResampler::close_bar() {
  has_bar_ = false;
  last_closed_ = bar_.time;
  return bar_;
}

}  // namespace tickgraph
