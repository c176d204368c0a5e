// Range indicators of several bar fields: trange, atr, willr, cci, stoch. They follow TA-Lib's
// definitions and its order of floating-point operations, so values agree with TA-Lib to rounding
// (atr: see Atr::smooth):
//   trange  greatest of high-low, |prev close-high|, |prev close-low|; none for the first bar.
//   atr     the SMA of the first `period` true ranges, then Wilder smoothing
//           atr = (atr * (period-1) + tr) / period (computed as in Atr::smooth).
//   willr   (highest high - close) / ((highest high - lowest low) / -100), 0 when the range is 0.
//   cci     (tp - mean tp) / (0.015 * mean |tp - mean tp|) with tp = (high+low+close)/3, 0 when
//           either is 0; the sums run over TA-Lib's circular buffer (bar k in slot
//           k % period) from slot 0 on, not oldest first.
//   stoch   fast %K = (close - lowest low) / ((highest high - lowest low) / 100) (0 on a flat
//           range), slow %K its SMA over slowk bars, slow %D the SMA of slow %K over slowd bars;
//           both outputs start at TA-Lib's total lookback (fastk-1)+(slowk-1)+(slowd-1).
// The highest high and lowest low take O(1) amortised per bar (see WindowExtreme).
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "analytics/kernel_util.h"
#include "analytics/window_extreme.h"

namespace tickgraph::analytics {

namespace {

// TA-Lib's true range, its three candidates compared in TA-Lib's order.
inline double true_range(double high, double low, double prev_close) {
  double greatest = high - low;
  const double to_high = std::fabs(prev_close - high);
  greatest = to_high > greatest ? to_high : greatest;
  const double to_low = std::fabs(prev_close - low);
  return to_low > greatest ? to_low : greatest;
}

class TrueRange {
 public:
  static constexpr int kInputs = 3;  // high, low, close
  static constexpr int kOutputs = 1;

  void push(Timestamp, const double* in, double* out) {
    out[0] = started_ ? true_range(in[0], in[1], prev_close_) : kNaN;
    prev_close_ = in[2];
    started_ = true;
  }
  void peek(Timestamp, const double* in, double* out) const {
    out[0] = started_ ? true_range(in[0], in[1], prev_close_) : kNaN;
  }
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    if (n == 0) return;
    const double* high = in[0];
    const double* low = in[1];
    const double* close = in[2];
    double* y = out[0];
    y[0] = kNaN;
    for (std::size_t i = 1; i < n; ++i) y[i] = true_range(high[i], low[i], close[i - 1]);
    prev_close_ = close[n - 1];
    started_ = true;
  }

 private:
  double prev_close_ = 0;
  bool started_ = false;
};

// ATR: bar 0 only gives the first previous close; bars 1..period add their true range to the
// seed sum; bar `period` outputs sum / period, later bars smooth.
class Atr {
 public:
  static constexpr int kInputs = 3;
  static constexpr int kOutputs = 1;
  explicit Atr(int period)
      : period_(period),
        divisor_(period),
        decay_(static_cast<double>(period - 1) / period),
        gain_(1.0 / period) {}

  // Wilder smoothing. TA-Lib computes (atr * (period-1) + tr) / period; we use the equal
  // atr * ((period-1)/period) + tr * (1/period), whose dependency chain per bar is one multiply
  // and one add instead of a multiply, an add and a division (about 2.5x faster in batch). Values
  // stay within ~1e-15 relative of TA-Lib's; push and batch share this function.
  static double smooth(double atr, double tr, double decay, double gain) {
    return atr * decay + tr * gain;
  }

  void push(Timestamp, const double* in, double* out) {
    if (bars_ == 0) {
      out[0] = kNaN;
    } else {
      const double tr = true_range(in[0], in[1], prev_close_);
      if (bars_ > period_) {
        atr_ = smooth(atr_, tr, decay_, gain_);
        out[0] = atr_;
      } else {
        sum_ += tr;
        if (bars_ == period_) atr_ = sum_ / divisor_;
        out[0] = bars_ == period_ ? atr_ : kNaN;
      }
    }
    prev_close_ = in[2];
    if (bars_ <= period_) ++bars_;  // saturates: later bars all smooth alike
  }
  void peek(Timestamp, const double* in, double* out) const {
    if (bars_ == 0) {
      out[0] = kNaN;
      return;
    }
    const double tr = true_range(in[0], in[1], prev_close_);
    if (bars_ > period_) {
      out[0] = smooth(atr_, tr, decay_, gain_);
    } else {
      out[0] = bars_ == period_ ? (sum_ + tr) / divisor_ : kNaN;
    }
  }
  // One fused pass: the true range is computed where it is smoothed, no temporary series.
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    if (n == 0) return;
    const double* high = in[0];
    const double* low = in[1];
    const double* close = in[2];
    double* y = out[0];
    const auto p = static_cast<std::size_t>(period_);
    y[0] = kNaN;
    double sum = 0;
    std::size_t i = 1;
    for (; i < n && i < p; ++i) {
      sum += true_range(high[i], low[i], close[i - 1]);
      y[i] = kNaN;
    }
    double atr = 0;
    if (i < n) {
      sum += true_range(high[i], low[i], close[i - 1]);
      atr = sum / divisor_;
      y[i++] = atr;
    }
    const double decay = decay_;
    const double gain = gain_;
    for (; i < n; ++i) {
      atr = smooth(atr, true_range(high[i], low[i], close[i - 1]), decay, gain);
      y[i] = atr;
    }
    sum_ = sum;
    atr_ = atr;
    prev_close_ = close[n - 1];
    bars_ = static_cast<std::int64_t>(n < p + 1 ? n : p + 1);
  }

 private:
  std::int64_t period_;
  double divisor_;
  double decay_;
  double gain_;
  std::int64_t bars_ = 0;  // bars seen, saturating at period + 1
  double prev_close_ = 0;
  double sum_ = 0;
  double atr_ = 0;
};

// Williams %R: the range's extremes with TA-Lib's sign convention (-100..0).
inline double willr_value(double highest, double lowest, double close) {
  const double diff = (highest - lowest) / -100.0;
  return diff != 0.0 ? (highest - close) / diff : 0.0;
}

class WillR {
 public:
  static constexpr int kInputs = 3;
  static constexpr int kOutputs = 1;
  explicit WillR(int period) : period_(period), highs_(period), lows_(period) {}

  void push(Timestamp, const double* in, double* out) {
    const double highest = highs_.push(in[0]);
    const double lowest = lows_.push(in[1]);
    out[0] = bars_ >= period_ - 1 ? willr_value(highest, lowest, in[2]) : kNaN;
    ++bars_;
  }
  void peek(Timestamp, const double* in, double* out) const {
    out[0] =
        bars_ >= period_ - 1 ? willr_value(highs_.peek(in[0]), lows_.peek(in[1]), in[2]) : kNaN;
  }
  // Two passes: the highest highs into the output, then the lowest lows with the close into %R.
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    const double* close = in[2];
    double* y = out[0];
    for (std::size_t i = 0; i < n && i + 1 < static_cast<std::size_t>(period_); ++i) y[i] = kNaN;
    highs_.scan(in[0], n, [y](std::size_t i, double highest) { y[i] = highest; });
    lows_.scan(in[1], n, [y, close](std::size_t i, double lowest) {
      y[i] = willr_value(y[i], lowest, close[i]);
    });
    bars_ = static_cast<std::int64_t>(n);
  }

 private:
  std::int64_t period_;
  std::int64_t bars_ = 0;
  WindowExtreme<true> highs_;
  WindowExtreme<false> lows_;
};

inline double cci_value(double tp, double mean, double dev, double divisor) {
  const double above = tp - mean;
  return above != 0.0 && dev != 0.0 ? above / (0.015 * (dev / divisor)) : 0.0;
}

// The sums of one bar's CCI over its circular buffer, slot 0 first (the order is TA-Lib's).
inline double cci_of_slots(const double* slots, std::size_t p, double divisor, double tp) {
  double mean = 0;
  for (std::size_t j = 0; j < p; ++j) mean += slots[j];
  mean /= divisor;
  double dev = 0;
  for (std::size_t j = 0; j < p; ++j) dev += std::fabs(slots[j] - mean);
  return cci_value(tp, mean, dev, divisor);
}

// Two doubles in one register (a GCC/Clang vector extension). Arithmetic on it is element-wise
// IEEE arithmetic, so each element rounds exactly as the scalar code does.
using BitsPair = std::uint64_t __attribute__((vector_size(16)));

inline Pair fabs_pair(Pair x) {
  constexpr std::uint64_t kNoSign = ~(std::uint64_t{1} << 63);
  return std::bit_cast<Pair>(std::bit_cast<BitsPair>(x) & BitsPair{kNoSign, kNoSign});
}

// The CCI of kLanes consecutive bars at once, for batch: each bar's two sums are chains of
// `period` dependent additions, so bar by bar the adder mostly waits. Lane g of a group is its
// g-th bar and has its own copy of the circular buffer, interleaved slot by slot (lanes[j][g]), so
// one pass over the slots advances kLanes independent sums, each in its own bar's slot order.
// Between groups all copies are equal; within a group, lane g has seen the writes of bars 0..g.
class CciLanes {
 public:
  static constexpr std::size_t kLanes = 8;

  // Copies the circular buffer into every lane.
  CciLanes(const double* slots, std::size_t p, double divisor)
      : p_(p), divisor_(divisor), lanes_(p * kLanes) {
    for (std::size_t j = 0; j < p; ++j) {
      for (std::size_t g = 0; g < kLanes; ++g) lanes_[j * kLanes + g] = slots[j];
    }
  }
  // Bars with typical prices tp[0..kLanes) write slots slot, slot+1, ... (mod p, needs
  // kLanes <= p); writes their CCI to y[0..kLanes).
  void run(std::size_t& slot, const double* tp, double* y) {
    double* l = lanes_.data();
    std::size_t pos[kLanes];
    for (std::size_t h = 0; h < kLanes; ++h) {
      pos[h] = slot;
      for (std::size_t g = h; g < kLanes; ++g) l[slot * kLanes + g] = tp[h];
      if (++slot == p_) slot = 0;
    }
    constexpr std::size_t kPairs = kLanes / 2;
    Pair sum[kPairs] = {};
    for (std::size_t j = 0; j < p_; ++j) {
#pragma GCC unroll 4
      for (std::size_t k = 0; k < kPairs; ++k) sum[k] += load_pair(l + j * kLanes + 2 * k);
    }
    Pair mean[kPairs];
    for (std::size_t k = 0; k < kPairs; ++k) mean[k] = sum[k] / divisor_;
    Pair dev[kPairs] = {};
    for (std::size_t j = 0; j < p_; ++j) {
#pragma GCC unroll 4
      for (std::size_t k = 0; k < kPairs; ++k) {
        dev[k] += fabs_pair(load_pair(l + j * kLanes + 2 * k) - mean[k]);
      }
    }
    for (std::size_t g = 0; g < kLanes; ++g) {
      y[g] = cci_value(tp[g], mean[g / 2][g % 2], dev[g / 2][g % 2], divisor_);
    }
    // Let the lanes that had not seen the group's later writes see them.
    for (std::size_t h = 1; h < kLanes; ++h) {
      for (std::size_t g = 0; g < h; ++g) l[pos[h] * kLanes + g] = tp[h];
    }
  }
  void copy_to(double* slots) const {
    for (std::size_t j = 0; j < p_; ++j) slots[j] = lanes_[j * kLanes];
  }

 private:
  std::size_t p_;
  double divisor_;
  std::vector<double> lanes_;
};

// CCI keeps the typical prices of the last `period` bars in a circular buffer where bar k sits in
// slot k % period, and sums slot 0 to slot period-1, as TA-Lib does.
class Cci {
 public:
  static constexpr int kInputs = 3;
  static constexpr int kOutputs = 1;
  explicit Cci(int period) : divisor_(period), slots_(static_cast<std::size_t>(period), 0.0) {}

  void push(Timestamp, const double* in, double* out) {
    const double tp = (in[0] + in[1] + in[2]) / 3;
    slots_[slot_] = tp;
    if (++slot_ == slots_.size()) slot_ = 0;
    if (bars_ + 1 < slots_.size()) {
      ++bars_;
      out[0] = kNaN;
      return;
    }
    bars_ = slots_.size();
    out[0] = cci_of_slots(slots_.data(), slots_.size(), divisor_, tp);
  }
  void peek(Timestamp, const double* in, double* out) const {
    if (bars_ + 1 < slots_.size()) {
      out[0] = kNaN;
      return;
    }
    const double tp = (in[0] + in[1] + in[2]) / 3;
    const std::size_t n = slots_.size();
    double mean = 0;
    for (std::size_t j = 0; j < n; ++j) mean += j == slot_ ? tp : slots_[j];
    mean /= divisor_;
    double dev = 0;
    for (std::size_t j = 0; j < n; ++j) dev += std::fabs((j == slot_ ? tp : slots_[j]) - mean);
    out[0] = cci_value(tp, mean, dev, divisor_);
  }
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    const double* high = in[0];
    const double* low = in[1];
    const double* close = in[2];
    double* y = out[0];
    double* slots = slots_.data();
    const std::size_t p = slots_.size();
    std::size_t slot = slot_;
    std::size_t i = 0;
    for (; i < n && i + 1 < p; ++i) {
      slots[slot] = (high[i] + low[i] + close[i]) / 3;
      if (++slot == p) slot = 0;
      y[i] = kNaN;
    }
    constexpr std::size_t kLanes = CciLanes::kLanes;
    if (p >= kLanes && n - i >= kLanes) {
      CciLanes lanes(slots, p, divisor_);
      for (; i + kLanes <= n; i += kLanes) {
        double tp[kLanes];
        for (std::size_t g = 0; g < kLanes; ++g) {
          tp[g] = (high[i + g] + low[i + g] + close[i + g]) / 3;
        }
        lanes.run(slot, tp, y + i);
      }
      lanes.copy_to(slots);
    }
    for (; i < n; ++i) {
      const double tp = (high[i] + low[i] + close[i]) / 3;
      slots[slot] = tp;
      if (++slot == p) slot = 0;
      y[i] = cci_of_slots(slots, p, divisor_, tp);
    }
    slot_ = slot;
    bars_ = n < p ? n : p;
  }

 private:
  double divisor_;
  std::vector<double> slots_;
  std::size_t slot_ = 0;
  std::size_t bars_ = 0;  // saturates at period
};

// A running SMA over a count window in TA-Lib's order (add, divide, then take out the value that
// leaves before the next bar), its window a fixed circular buffer.
class RunningMean {
 public:
  explicit RunningMean(int period)
      : divisor_(period), values_(static_cast<std::size_t>(period), 0.0) {}

  bool full() const { return seen_ >= values_.size(); }
  // Adds x; returns the mean when the window is full, NaN before.
  double push(double x) {
    sum_ += x;
    values_[slot_] = x;
    if (++slot_ == values_.size()) slot_ = 0;
    if (seen_ + 1 < values_.size()) {
      ++seen_;
      return kNaN;
    }
    seen_ = values_.size();
    const double mean = sum_ / divisor_;
    sum_ -= values_[slot_];  // the oldest value, period-1 bars before x
    return mean;
  }
  double peek(double x) const { return seen_ + 1 >= values_.size() ? (sum_ + x) / divisor_ : kNaN; }

 private:
  double divisor_;
  double sum_ = 0;
  std::vector<double> values_;
  std::size_t slot_ = 0;
  std::size_t seen_ = 0;  // saturates at period
};

inline double fast_k(double highest, double lowest, double close) {
  const double diff = (highest - lowest) / 100.0;
  return diff != 0.0 ? (close - lowest) / diff : 0.0;
}

class Stoch {
 public:
  static constexpr int kInputs = 3;
  static constexpr int kOutputs = 2;  // slowk, slowd
  Stoch(int fastk, int slowk, int slowd)
      : fastk_(fastk),
        first_(static_cast<std::int64_t>(fastk) + slowk + slowd - 3),
        highs_(fastk),
        lows_(fastk),
        slow_k_(slowk),
        slow_d_(slowd) {}

  void push(Timestamp, const double* in, double* out) {
    const double highest = highs_.push(in[0]);
    const double lowest = lows_.push(in[1]);
    double k = kNaN, d = kNaN;
    if (bars_ >= fastk_ - 1) {
      k = slow_k_.push(fast_k(highest, lowest, in[2]));
      if (slow_k_.full()) d = slow_d_.push(k);
    }
    const bool ready = bars_ >= first_;
    out[0] = ready ? k : kNaN;
    out[1] = ready ? d : kNaN;
    ++bars_;
  }
  void peek(Timestamp, const double* in, double* out) const {
    out[0] = out[1] = kNaN;
    if (bars_ < first_) return;
    const double fk = fast_k(highs_.peek(in[0]), lows_.peek(in[1]), in[2]);
    out[0] = slow_k_.peek(fk);
    out[1] = slow_d_.peek(out[0]);
  }
  // Two passes: the highest highs into the slowk output, then the lowest lows with the close
  // into fast %K and on through both smoothings.
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    const double* close = in[2];
    double* yk = out[0];
    double* yd = out[1];
    for (std::size_t i = 0; i < n && i + 1 < static_cast<std::size_t>(fastk_); ++i) {
      yk[i] = yd[i] = kNaN;
    }
    highs_.scan(in[0], n, [yk](std::size_t i, double highest) { yk[i] = highest; });
    RunningMean slow_k = std::move(slow_k_), slow_d = std::move(slow_d_);
    const auto first = static_cast<std::size_t>(first_);
    lows_.scan(in[1], n, [&](std::size_t i, double lowest) {
      const double k = slow_k.push(fast_k(yk[i], lowest, close[i]));
      const double d = slow_k.full() ? slow_d.push(k) : kNaN;
      yk[i] = i >= first ? k : kNaN;
      yd[i] = i >= first ? d : kNaN;
    });
    slow_k_ = std::move(slow_k);
    slow_d_ = std::move(slow_d);
    bars_ = static_cast<std::int64_t>(n);
  }

 private:
  std::int64_t fastk_;
  std::int64_t first_;  // index of the first bar with both outputs
  std::int64_t bars_ = 0;
  WindowExtreme<true> highs_;
  WindowExtreme<false> lows_;
  RunningMean slow_k_;
  RunningMean slow_d_;
};

}  // namespace

void add_range(std::vector<FunctionSpec>& out) {
  out.push_back({
      .name = "trange",
      .summary = "true range (TA-Lib TRANGE)",
      .talib = "TRANGE",
      .inputs = {"high", "low", "close"},
      .inputs_default_to_fields = true,
      .units = {Unit::same_units_as_input(2)},
      .lookback =
          [](const Params&) {
            return Lookback{1, 0, 0};
          },
      .make = [](const Params&) { return make_kernel<TrueRange>(); },
  });
  out.push_back({
      .name = "atr",
      .summary = "average true range, Wilder smoothing (TA-Lib ATR)",
      .talib = "ATR",
      .inputs = {"high", "low", "close"},
      .inputs_default_to_fields = true,
      .params = {period_param(14, 1)},
      .units = {Unit::same_units_as_input(2)},
      .lookback =
          [](const Params& p) {
            const int period = p.get_int("period");
            return Lookback{period, 0, settle_bars(1.0 / period)};
          },
      .make = [](const Params& p) { return make_kernel<Atr>(p.get_int("period")); },
  });
  out.push_back({
      .name = "willr",
      .summary = "Williams %R, -100..0 (TA-Lib WILLR)",
      .talib = "WILLR",
      .inputs = {"high", "low", "close"},
      .inputs_default_to_fields = true,
      .params = {period_param(14, 2)},
      .units = {Unit::bounded(-100, 0)},
      .lookback = period_window_lookback,
      .make = [](const Params& p) { return make_kernel<WillR>(p.get_int("period")); },
  });
  out.push_back({
      .name = "cci",
      .summary = "commodity channel index (TA-Lib CCI)",
      .talib = "CCI",
      .inputs = {"high", "low", "close"},
      .inputs_default_to_fields = true,
      .params = {period_param(14, 2)},
      .units = {Unit::unbounded()},
      .lookback = period_window_lookback,
      .make = [](const Params& p) { return make_kernel<Cci>(p.get_int("period")); },
  });
  out.push_back({
      .name = "stoch",
      .summary = "slow stochastic %K and %D, SMA smoothing (TA-Lib STOCH)",
      .talib = "STOCH",
      .inputs = {"high", "low", "close"},
      .inputs_default_to_fields = true,
      .params =
          {
              {"fastk", ParamType::kInt, 5, 1, 100000, "bars of the highest high and lowest low"},
              {"slowk", ParamType::kInt, 3, 1, 100000, "SMA length smoothing fast %K into slowk"},
              {"slowd", ParamType::kInt, 3, 1, 100000, "SMA length smoothing slowk into slowd"},
          },
      .outputs = {"slowk", "slowd"},
      .units = {Unit::bounded(0, 100), Unit::bounded(0, 100)},
      .lookback =
          [](const Params& p) {
            return Lookback{
                p.get_int("fastk") - 1 + p.get_int("slowk") - 1 + p.get_int("slowd") - 1, 0, 0};
          },
      .make =
          [](const Params& p) {
            return make_kernel<Stoch>(p.get_int("fastk"), p.get_int("slowk"), p.get_int("slowd"));
          },
  });
}

}  // namespace tickgraph::analytics
