// Volume indicators: obv (TA-Lib OBV) and vwap.
//
// vwap = sum(tp * volume) / sum(volume) over the last `period` bars or the time window
// (t - window, t], with tp = (high + low + close) / 3, kept as running sums (add the new bar,
// divide, take out the bars that leave, as SMA does) that are added up afresh now and then. A
// window whose bars all have zero volume gives the latest typical price: the price the window
// traded at, as far as the bars tell, and finite, so that nodes downstream are not poisoned by
// 0/0.
#include <bit>
#include <cstdint>
#include <vector>

#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

namespace {

// On-balance volume, starting at the first bar's volume; a bar closing above (below) the previous
// close adds (subtracts) its volume, an unchanged close leaves it.
class Obv {
 public:
  static constexpr int kInputs = 2;  // close, volume
  static constexpr int kOutputs = 1;

  void push(Timestamp, const double* in, double* out) {
    obv_ = started_ ? step(obv_, prev_close_, in[0], in[1]) : in[1];
    prev_close_ = in[0];
    started_ = true;
    out[0] = obv_;
  }
  void peek(Timestamp, const double* in, double* out) const {
    out[0] = started_ ? step(obv_, prev_close_, in[0], in[1]) : in[1];
  }
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    if (n == 0) return;
    const double* close = in[0];
    const double* volume = in[1];
    double* y = out[0];
    double obv = volume[0];
    y[0] = obv;
    for (std::size_t i = 1; i < n; ++i) {
      obv = step(obv, close[i - 1], close[i], volume[i]);
      y[i] = obv;
    }
    obv_ = obv;
    prev_close_ = close[n - 1];
    started_ = true;
  }

 private:
  // obv + volume, obv - volume or obv + 0: the signed volume is made with bit operations, so
  // the loop does not branch on the (random) direction of the close. Adding +0 leaves obv as it
  // is (but for a -0 obv, which only a first volume of -0 gives).
  static double step(double obv, double prev_close, double close, double volume) {
    const std::uint64_t up = close > prev_close ? ~std::uint64_t{0} : 0;
    const std::uint64_t down = close < prev_close ? ~std::uint64_t{0} : 0;
    const std::uint64_t bits = std::bit_cast<std::uint64_t>(volume);
    const std::uint64_t sign = std::uint64_t{1} << 63;
    return obv + std::bit_cast<double>((bits & (up | down)) ^ (down & sign));
  }

  double obv_ = 0;
  double prev_close_ = 0;
  bool started_ = false;
};

inline double typical_price(double high, double low, double close) {
  return (high + low + close) / 3;
}

// The window's running sums: price times volume, volume, and how many bars have a non-zero
// volume (exact, unlike the volume sum, so an all-zero window is recognised after any rounding).
struct VolumeSums {
  double price_volume = 0;
  double volume = 0;
  std::int64_t traded = 0;

  void add(double pv, double v) {
    price_volume += pv;
    volume += v;
    traded += v != 0;
  }
  void remove(double pv, double v) {
    price_volume -= pv;
    volume -= v;
    traded -= v != 0;
  }
  double vwap(double latest_tp) const { return traded > 0 ? price_volume / volume : latest_tp; }
};

// VWAP over the last `period` bars. The window's (tp * volume, volume) pairs sit in a circular
// buffer where, once a bar is added, the slot after it holds the oldest bar of the window. Every
// `period` full bars the sums are added up afresh from the bars they cover, oldest first, so the
// rounding of running sums does not build up over a long series (a price that falls from 1000 to
// 1 would otherwise leave the error of the 1000s in the sums of the 1s).
class VwapCount {
 public:
  static constexpr int kInputs = 4;  // high, low, close, volume
  static constexpr int kOutputs = 1;
  explicit VwapCount(int period)
      : period_(static_cast<std::size_t>(period)), pv_(period_, 0.0), v_(period_, 0.0) {}

  void push(Timestamp, const double* in, double* out) {
    const double tp = typical_price(in[0], in[1], in[2]);
    const double pv = tp * in[3];
    sums_.add(pv, in[3]);
    pv_[slot_] = pv;
    v_[slot_] = in[3];
    if (++slot_ == period_) slot_ = 0;
    if (seen_ + 1 < period_) {
      ++seen_;
      out[0] = kNaN;
      return;
    }
    seen_ = period_;
    out[0] = sums_.vwap(tp);
    sums_.remove(pv_[slot_], v_[slot_]);
    if (++since_resum_ == period_) {
      since_resum_ = 0;
      sums_ = VolumeSums{};
      for (std::size_t k = 1, s = slot_; k < period_; ++k) {
        if (++s == period_) s = 0;
        sums_.add(pv_[s], v_[s]);
      }
    }
  }
  void peek(Timestamp, const double* in, double* out) const {
    if (seen_ + 1 < period_) {
      out[0] = kNaN;
      return;
    }
    const double tp = typical_price(in[0], in[1], in[2]);
    VolumeSums s = sums_;
    s.add(tp * in[3], in[3]);
    out[0] = s.vwap(tp);
  }
  // Same arithmetic as push; a bar's tp * volume is recomputed from the inputs where push reads
  // it back from the buffer, which gives the very value push stored.
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    const double* high = in[0];
    const double* low = in[1];
    const double* close = in[2];
    const double* volume = in[3];
    double* y = out[0];
    const std::size_t p = period_;
    auto pv = [&](std::size_t j) { return typical_price(high[j], low[j], close[j]) * volume[j]; };
    VolumeSums s;
    std::size_t i = 0;
    for (; i < n && i + 1 < p; ++i) {
      s.add(pv(i), volume[i]);
      y[i] = kNaN;
    }
    std::size_t since_resum = 0;
    for (; i < n; ++i) {
      const double tp = typical_price(high[i], low[i], close[i]);
      s.add(tp * volume[i], volume[i]);
      y[i] = s.vwap(tp);
      s.remove(pv(i + 1 - p), volume[i + 1 - p]);
      if (++since_resum == p) {
        since_resum = 0;
        s = VolumeSums{};
        for (std::size_t j = i + 2 - p; j <= i; ++j) s.add(pv(j), volume[j]);
      }
    }
    sums_ = s;
    since_resum_ = since_resum;
    // Leave the buffer holding the last p-1 bars from slot 0 on, the next slot after them: what
    // push needs to take each of them out in turn.
    const std::size_t keep = n < p - 1 ? n : p - 1;
    slot_ = 0;
    for (std::size_t j = n - keep; j < n; ++j, ++slot_) {
      pv_[slot_] = pv(j);
      v_[slot_] = volume[j];
    }
    seen_ = n < p ? n : p;
  }

 private:
  std::size_t period_;
  VolumeSums sums_;
  std::vector<double> pv_;
  std::vector<double> v_;
  std::size_t slot_ = 0;
  std::size_t seen_ = 0;         // saturates at period
  std::size_t since_resum_ = 0;  // full bars since the sums were added up afresh
};

// VWAP over the time window (t - window, t]; valid once the stream spans the whole window. The
// sums are added up afresh, oldest first, once as many bars have come as the window holds.
class VwapTime {
 public:
  static constexpr int kInputs = 4;
  static constexpr int kOutputs = 1;
  explicit VwapTime(Duration window) : window_(window) {}

  void push(Timestamp t, const double* in, double* out) {
    if (!started_) {
      first_ = t;
      started_ = true;
    }
    const double tp = typical_price(in[0], in[1], in[2]);
    const double pv = tp * in[3];
    sums_.add(pv, in[3]);
    entries_.push_back({t, pv, in[3]});
    while (entries_.front().t <= t - window_) {
      sums_.remove(entries_.front().pv, entries_.front().v);
      entries_.pop_front();
    }
    out[0] = t - first_ >= window_ ? sums_.vwap(tp) : kNaN;
    if (++since_resum_ >= entries_.size()) {
      since_resum_ = 0;
      sums_ = VolumeSums{};
      for (std::size_t i = 0; i < entries_.size(); ++i) sums_.add(entries_[i].pv, entries_[i].v);
    }
  }
  void peek(Timestamp t, const double* in, double* out) const {
    const Timestamp first = started_ ? first_ : t;
    const double tp = typical_price(in[0], in[1], in[2]);
    VolumeSums s = sums_;
    s.add(tp * in[3], in[3]);
    for (std::size_t i = 0; i < entries_.size() && entries_[i].t <= t - window_; ++i) {
      s.remove(entries_[i].pv, entries_[i].v);
    }
    out[0] = t - first >= window_ ? s.vwap(tp) : kNaN;
  }

 private:
  struct Entry {
    Timestamp t;
    double pv;
    double v;
  };
  Duration window_;
  Timestamp first_ = 0;
  bool started_ = false;
  VolumeSums sums_;
  RingBuffer<Entry> entries_;
  std::size_t since_resum_ = 0;  // bars since the sums were added up afresh
};

}  // namespace

void add_volume(std::vector<FunctionSpec>& out) {
  out.push_back({
      .name = "obv",
      .summary = "on-balance volume, from the first bar's volume (TA-Lib OBV)",
      .talib = "OBV",
      .inputs = {"close", "volume"},
      .inputs_default_to_fields = true,
      .units = {Unit::same_units_as_input(1)},
      .lookback =
          [](const Params&) {
            return Lookback{0, 0, 0};
          },
      .make = [](const Params&) { return make_kernel<Obv>(); },
  });
  out.push_back({
      .name = "vwap",
      .summary = "volume-weighted average typical price over the window; the latest typical price "
                 "when the window has no volume",
      .inputs = {"high", "low", "close", "volume"},
      .inputs_default_to_fields = true,
      .params = {period_param(20, 1)},
      .units = {Unit::same_as_input(2)},
      .accepts_window = true,
      .lookback = period_or_time_window_lookback,
      .make =
          [](const Params& p) {
            return p.window ? make_kernel<VwapTime>(p.window)
                            : make_kernel<VwapCount>(p.get_int("period"));
          },
  });
}

}  // namespace tickgraph::analytics
