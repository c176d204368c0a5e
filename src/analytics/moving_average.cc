// Moving averages: sma, ema, wma, dema, tema, macd. TA-Lib's conventions: EMA with factor
// 2/(period+1), seeded with the SMA of its first `period` inputs.
#include <cmath>

#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

namespace {

// SMA over a count window, in TA-Lib's order of operations: add the new value, divide, then take
// out the value that leaves the window before the next bar.
class SmaCount {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit SmaCount(int period) : period_(period), window_(static_cast<std::size_t>(period)) {}

  void push(Timestamp, const double* in, double* out) {
    const double x = in[0];
    sum_ += x;
    window_.push_back(x);
    if (window_.size() == static_cast<std::size_t>(period_)) {
      out[0] = sum_ / period_;
      sum_ -= window_.front();
      window_.pop_front();
    } else {
      out[0] = kNaN;
    }
  }
  void peek(Timestamp, const double* in, double* out) const {
    out[0] = window_.size() + 1 == static_cast<std::size_t>(period_) ? (sum_ + in[0]) / period_
                                                                       : kNaN;
  }
  // Same arithmetic as push, reading the leaving value from the input array.
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[0];
    double* y = out[0];
    const auto p = static_cast<std::size_t>(period_);
    double sum = sum_;
    std::size_t i = 0;
    for (; i < n && i + 1 < p; ++i) {
      sum += x[i];
      y[i] = kNaN;
    }
    for (; i < n; ++i) {
      sum += x[i];
      y[i] = sum / period_;
      sum -= x[i + 1 - p];
    }
    sum_ = sum;
    // Leave the window holding the last p-1 values, as pushes would.
    for (std::size_t j = n >= p - 1 ? n - (p - 1) : 0; j < n; ++j) window_.push_back(x[j]);
  }

 private:
  int period_;
  double sum_ = 0;
  RingBuffer<double> window_;
};

// SMA over a time window (t - window, t]. Valid once the stream spans the whole window.
class SmaTime {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit SmaTime(Duration window) : window_(window) {}

  void push(Timestamp t, const double* in, double* out) {
    if (entries_.empty() && !started_) {
      first_ = t;
      started_ = true;
    }
    entries_.push_back({t, in[0]});
    sum_ += in[0];
    while (entries_.front().t <= t - window_) {
      sum_ -= entries_.front().x;
      entries_.pop_front();
    }
    out[0] = t - first_ >= window_ ? sum_ / static_cast<double>(entries_.size()) : kNaN;
  }
  void peek(Timestamp t, const double* in, double* out) const {
    const Timestamp first = started_ ? first_ : t;
    double sum = sum_ + in[0];
    std::size_t i = 0;
    while (i < entries_.size() && entries_[i].t <= t - window_) sum -= entries_[i++].x;
    const std::size_t count = entries_.size() + 1 - i;
    out[0] = t - first >= window_ ? sum / static_cast<double>(count) : kNaN;
  }

 private:
  struct Entry {
    Timestamp t;
    double x;
  };
  Duration window_;
  Timestamp first_ = 0;
  bool started_ = false;
  double sum_ = 0;
  RingBuffer<Entry> entries_;
};

}  // namespace

void add_moving_averages(std::vector<FunctionSpec>& out) {
  out.push_back({
      .name = "sma",
      .summary = "simple moving average",
      .inputs = {"input"},
      .params = {period_param(20, 1)},
      .accepts_window = true,
      .lookback =
          [](const Params& p) {
            return p.window ? Lookback{0, p.window, 0} : Lookback{p.get_int("period") - 1, 0, 0};
          },
      .make =
          [](const Params& p) {
            return p.window ? make_kernel<SmaTime>(p.window)
                            : make_kernel<SmaCount>(p.get_int("period"));
          },
  });
}

}  // namespace tickgraph::analytics
