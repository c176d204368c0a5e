// The market data values every source is normalised into.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "core/time.h"

namespace tickgraph {

// One trade (or quote mid) of an asset.
struct Tick {
  Timestamp time = 0;
  double price = 0;
  double size = 0;
};

// An OHLCV bar stamped with its open time.
struct Candle {
  Timestamp time = 0;
  double open = 0;
  double high = 0;
  double low = 0;
  double close = 0;
  double volume = 0;

  friend bool operator==(const Candle&, const Candle&) = default;
};

// The bar fields a graph can read, in this order.
enum class Field { kOpen, kHigh, kLow, kClose, kVolume };
inline constexpr int kFieldCount = 5;

// Columnar candles: one array per field, ordered by strictly increasing time. This is what the
// pull executor reads and what range queries return.
struct CandleSeries {
  std::vector<Timestamp> time;
  std::vector<double> open, high, low, close, volume;

  std::size_t size() const { return time.size(); }
  bool empty() const { return time.empty(); }
  void reserve(std::size_t n);
  void push_back(const Candle& c);
  Candle at(std::size_t i) const;
  std::span<const double> field(Field f) const;
  // Rows [begin, end) as a new series.
  CandleSeries slice(std::size_t begin, std::size_t end) const;
  // Index of the first bar with time >= t (size() when none).
  std::size_t lower_bound(Timestamp t) const;
};

}  // namespace tickgraph
