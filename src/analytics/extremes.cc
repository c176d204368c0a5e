// Rolling extremes: rolling_max, rolling_min (TA-Lib MAX/MIN for the count form) and drawdown,
// over the last `period` bars or over the time window (t - window, t]. O(1) amortised per bar
// whatever the data: a monotonic deque bar by bar, a block scan in batch (see WindowExtreme).
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "analytics/kernel_util.h"
#include "analytics/window_extreme.h"

namespace tickgraph::analytics {

namespace {

struct ExtremeItself {
  static double apply(double, double extreme) { return extreme; }
};

// Drawdown from the peak: x / peak - 1, <= 0 for a positive series.
struct FromPeak {
  static double apply(double x, double peak) { return x / peak - 1; }
};

// Out::apply(x, extreme of the last `period` bars), from bar period-1 on.
template <bool kMax, class Out>
class RollingCount {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit RollingCount(int period) : period_(period), extreme_(period) {}

  void push(Timestamp, const double* in, double* out) {
    const double e = extreme_.push(in[0]);
    out[0] = bars_ >= period_ - 1 ? Out::apply(in[0], e) : kNaN;
    ++bars_;
  }
  void peek(Timestamp, const double* in, double* out) const {
    out[0] = bars_ >= period_ - 1 ? Out::apply(in[0], extreme_.peek(in[0])) : kNaN;
  }
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[0];
    double* y = out[0];
    for (std::size_t i = 0; i < n && i + 1 < static_cast<std::size_t>(period_); ++i) y[i] = kNaN;
    extreme_.scan(x, n, [x, y](std::size_t i, double e) { y[i] = Out::apply(x[i], e); });
    bars_ = static_cast<std::int64_t>(n);
  }

 private:
  std::int64_t period_;
  std::int64_t bars_ = 0;
  WindowExtreme<kMax> extreme_;
};

// The extreme of the time window (t - window, t], from `window` after the first bar on; the same
// monotonic deque, its entries keyed by time (a window may lose several at once).
template <bool kMax>
class RollingTime {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit RollingTime(Duration window) : window_(window) {}

  void push(Timestamp t, const double* in, double* out) {
    if (!started_) {
      first_ = t;
      started_ = true;
    }
    const double x = in[0];
    while (!q_.empty() && WindowExtreme<kMax>::evicts(x, q_.back().x)) q_.pop_back();
    q_.push_back({t, x});
    while (q_.front().t <= t - window_) q_.pop_front();
    out[0] = t - first_ >= window_ ? q_.front().x : kNaN;
  }
  void peek(Timestamp t, const double* in, double* out) const {
    const Timestamp first = started_ ? first_ : t;
    std::size_t k = 0;
    while (k < q_.size() && q_[k].t <= t - window_) ++k;
    const double x = in[0];
    const bool x_wins = k == q_.size() || WindowExtreme<kMax>::evicts(x, q_[k].x);
    out[0] = t - first >= window_ ? (x_wins ? x : q_[k].x) : kNaN;
  }

 private:
  struct Point {
    Timestamp t;
    double x;
  };
  Duration window_;
  Timestamp first_ = 0;
  bool started_ = false;
  RingBuffer<Point> q_{64};
};

// Drawdown from the highest value since the first bar.
class DrawdownSinceStart {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;

  void push(Timestamp, const double* in, double* out) {
    peak_ = next_peak(in[0]);
    started_ = true;
    out[0] = FromPeak::apply(in[0], peak_);
  }
  void peek(Timestamp, const double* in, double* out) const {
    out[0] = FromPeak::apply(in[0], next_peak(in[0]));
  }

 private:
  double next_peak(double x) const { return !started_ || x >= peak_ ? x : peak_; }

  double peak_ = 0;
  bool started_ = false;
};

template <bool kMax>
std::unique_ptr<Kernel> make_rolling(const Params& p) {
  if (p.window) return make_kernel<RollingTime<kMax>>(p.window);
  return make_kernel<RollingCount<kMax, ExtremeItself>>(p.get_int("period"));
}

}  // namespace

void add_extremes(std::vector<FunctionSpec>& out) {
  out.push_back({
      .name = "rolling_max",
      .summary = "highest value over the window (TA-Lib MAX)",
      .talib = "MAX",
      .inputs = {"input"},
      .params = {period_param(20, 2)},
      .units = {Unit::same_as_input(0)},
      .accepts_window = true,
      .lookback = period_or_time_window_lookback,
      .make = make_rolling<true>,
  });
  out.push_back({
      .name = "rolling_min",
      .summary = "lowest value over the window (TA-Lib MIN)",
      .talib = "MIN",
      .inputs = {"input"},
      .params = {period_param(20, 2)},
      .units = {Unit::same_as_input(0)},
      .accepts_window = true,
      .lookback = period_or_time_window_lookback,
      .make = make_rolling<false>,
  });
  out.push_back({
      .name = "drawdown",
      .summary = "x / peak - 1: the fall from the highest value, <= 0 for a positive series",
      .inputs = {"input"},
      .params = {{"period", ParamType::kInt, 0, 0, 100000,
                  "bars the peak is taken over; 0 = every bar since the first"}},
      .units = {Unit::ratio()},
      .lookback =
          [](const Params& p) {
            const int period = p.get_int("period");
            return Lookback{period == 0 ? 0 : period - 1, 0, 0};
          },
      .make = [](const Params& p) -> std::unique_ptr<Kernel> {
        const int period = p.get_int("period");
        if (period == 0) return make_kernel<DrawdownSinceStart>();
        return make_kernel<RollingCount<true, FromPeak>>(period);
      },
  });
}

}  // namespace tickgraph::analytics
