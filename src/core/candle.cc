#include "core/candle.h"

#include <algorithm>

namespace tickgraph {

void CandleSeries::reserve(std::size_t n) {
  time.reserve(n);
  open.reserve(n);
  high.reserve(n);
  low.reserve(n);
  close.reserve(n);
  volume.reserve(n);
}

void CandleSeries::push_back(const Candle& c) {
  time.push_back(c.time);
  open.push_back(c.open);
  high.push_back(c.high);
  low.push_back(c.low);
  close.push_back(c.close);
  volume.push_back(c.volume);
}

Candle CandleSeries::at(std::size_t i) const {
  return Candle{time[i], open[i], high[i], low[i], close[i], volume[i]};
}

std::span<const double> CandleSeries::field(Field f) const {
  switch (f) {
    case Field::kOpen:
      return open;
    case Field::kHigh:
      return high;
    case Field::kLow:
      return low;
    case Field::kClose:
      return close;
    case Field::kVolume:
      return volume;
  }
  return {};
}

CandleSeries CandleSeries::slice(std::size_t begin, std::size_t end) const {
  CandleSeries out;
  auto copy = [&](const auto& from, auto& to) {
    to.assign(from.begin() + static_cast<std::ptrdiff_t>(begin),
              from.begin() + static_cast<std::ptrdiff_t>(end));
  };
  copy(time, out.time);
  copy(open, out.open);
  copy(high, out.high);
  copy(low, out.low);
  copy(close, out.close);
  copy(volume, out.volume);
  return out;
}

std::size_t CandleSeries::lower_bound(Timestamp t) const {
  return static_cast<std::size_t>(std::lower_bound(time.begin(), time.end(), t) - time.begin());
}

}  // namespace tickgraph
