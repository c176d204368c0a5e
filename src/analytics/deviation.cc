// Dispersion: stddev, var, bbands, zscore (population moments over a rolling window) and
// volatility (annualised sample standard deviation).
//
// stddev, var and bbands follow TA-Lib (STDDEV and VAR with nbdev 1, BBANDS with an SMA middle
// band) in its order of floating-point operations: the window keeps a running sum and sum of
// squares; a bar adds x and x*x, takes mean = sum/n and mean_sq = sum_sq/n, then removes the
// value leaving the window; variance = mean_sq - mean*mean (var reports it as is, so it can be
// a hair below 0 on a flat window), and a variance below 1e-14 gives a standard deviation of 0
// (TA-Lib's TA_EPSILON test). zscore uses the same mean and standard deviation.
//
// volatility is not in TA-Lib: it follows pandas' rolling().std() (ddof=1) times
// sqrt(periods_per_year), and gives 0 on a window of equal values as pandas does. It keeps the
// window's mean and sum of squared deviations (accurate when the mean is large against the
// deviation) and recomputes them from the window every 8*period bars (see Volatility).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

namespace {

// The batch loops share divisions and square roots, the slowest instructions here, through Pair
// (kernel_util.h): a window's sum and sum of squares are divided together, and two bars'
// standard deviations are taken together.
Pair with_square(double x) { return Pair{x, x * x}; }

// TA-Lib's TA_EPSILON: a variance below it is taken as 0 (TA_IS_ZERO_OR_NEG).
constexpr double kZeroVariance = 1e-14;

double std_from_moments(double mean, double mean_sq) {
  const double v = mean_sq - mean * mean;
  return v < kZeroVariance ? 0.0 : std::sqrt(v);
}

Pair std_from_moments(Pair mean, Pair mean_sq) {
  const Pair v = mean_sq - mean * mean;
  return v < kZeroVariance ? Pair{} : sqrt_pair(v);
}

double zero_where_zero(double d, double r) { return d == 0.0 ? 0.0 : r; }
Pair zero_where_zero(Pair d, Pair r) { return d == 0.0 ? Pair{} : r; }

// What each function makes of a bar's window moments (T = double), or of two bars' (T = Pair).
// x is the bar's input; out[j] receives output j.
struct VarOut {
  static constexpr int kOutputs = 1;
  template <class T>
  void operator()(T, T mean, T mean_sq, T* out) const {
    out[0] = mean_sq - mean * mean;
  }
};

struct StddevOut {
  static constexpr int kOutputs = 1;
  template <class T>
  void operator()(T, T mean, T mean_sq, T* out) const {
    out[0] = std_from_moments(mean, mean_sq);
  }
};

struct BbandsOut {
  static constexpr int kOutputs = 3;  // upper, middle, lower
  double k;
  template <class T>
  void operator()(T, T mean, T mean_sq, T* out) const {
    const T d = std_from_moments(mean, mean_sq) * k;
    out[0] = mean + d;
    out[1] = mean;
    out[2] = mean - d;
  }
};

struct ZscoreOut {
  static constexpr int kOutputs = 1;
  template <class T>
  void operator()(T x, T mean, T mean_sq, T* out) const {
    const T sd = std_from_moments(mean, mean_sq);
    out[0] = zero_where_zero(sd, (x - mean) / sd);
  }
};

// Moments over the last `period` bars: sums_ holds {sum, sum of squares}. The window holds the
// period-1 values still to leave.
template <class Out>
class MomentsCount {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = Out::kOutputs;
  MomentsCount(int period, Out finish)
      : n_{static_cast<double>(period), static_cast<double>(period)},
        period_(period),
        finish_(finish),
        window_(static_cast<std::size_t>(period)) {}

  void push(Timestamp, const double* in, double* out) {
    const double x = in[0];
    sums_ += with_square(x);
    window_.push_back(x);
    if (window_.size() == static_cast<std::size_t>(period_)) {
      const Pair means = sums_ / n_;
      const double leaving = window_.front();
      window_.pop_front();
      sums_ -= with_square(leaving);
      finish_(x, means[0], means[1], out);
    } else {
      for (int j = 0; j < kOutputs; ++j) out[j] = kNaN;
    }
  }
  void peek(Timestamp, const double* in, double* out) const {
    const double x = in[0];
    if (window_.size() + 1 == static_cast<std::size_t>(period_)) {
      const Pair means = (sums_ + with_square(x)) / n_;
      finish_(x, means[0], means[1], out);
    } else {
      for (int j = 0; j < kOutputs; ++j) out[j] = kNaN;
    }
  }
  // Same arithmetic as push, reading the leaving value from the input array.
  void batch(const Timestamp* t, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[0];
    const auto p = static_cast<std::size_t>(period_);
    std::size_t i = 0;
    double o[kOutputs];
    for (; i < n && window_.size() + 1 < p; ++i) {
      push(t[i], x + i, o);
      for (int j = 0; j < kOutputs; ++j) out[j][i] = o[j];
    }
    if (i == n) return;
    Pair sums = sums_;
    const Pair np = n_;
    const Out finish = finish_;
    for (; i + 2 <= n; i += 2) {  // two bars, finished together
      sums += with_square(x[i]);
      const Pair a = sums / np;
      sums -= with_square(x[i + 1 - p]);
      sums += with_square(x[i + 1]);
      const Pair b = sums / np;
      sums -= with_square(x[i + 2 - p]);
      Pair o2[kOutputs];
      finish(load_pair(x + i), Pair{a[0], b[0]}, Pair{a[1], b[1]}, o2);
      for (int j = 0; j < kOutputs; ++j) store_pair(out[j] + i, o2[j]);
    }
    for (; i < n; ++i) {
      sums += with_square(x[i]);
      const Pair means = sums / np;
      sums -= with_square(x[i + 1 - p]);
      finish(x[i], means[0], means[1], o);
      for (int j = 0; j < kOutputs; ++j) out[j][i] = o[j];
    }
    sums_ = sums;
    window_.clear();  // the last p-1 values, as pushes would leave it
    for (std::size_t j = n - (p - 1); j < n; ++j) window_.push_back(x[j]);
  }

 private:
  Pair sums_{0.0, 0.0};
  Pair n_;
  int period_;
  Out finish_;
  RingBuffer<double> window_;
};

// Moments over the time window (t - window, t], valid once the stream spans the whole window.
// The new value is added before the ones that left are taken out.
template <class Out>
class MomentsTime {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = Out::kOutputs;
  MomentsTime(Duration window, Out finish) : window_(window), finish_(finish) {}

  void push(Timestamp t, const double* in, double* out) {
    const double x = in[0];
    if (!started_) {
      first_ = t;
      started_ = true;
    }
    entries_.push_back({t, x});
    sum_ += x;
    sum_sq_ += x * x;
    while (entries_.front().t <= t - window_) {
      const double y = entries_.front().x;
      sum_ -= y;
      sum_sq_ -= y * y;
      entries_.pop_front();
    }
    if (t - first_ >= window_) {
      const auto count = static_cast<double>(entries_.size());
      finish_(x, sum_ / count, sum_sq_ / count, out);
    } else {
      for (int j = 0; j < kOutputs; ++j) out[j] = kNaN;
    }
  }
  void peek(Timestamp t, const double* in, double* out) const {
    const double x = in[0];
    const Timestamp first = started_ ? first_ : t;
    if (t - first < window_) {
      for (int j = 0; j < kOutputs; ++j) out[j] = kNaN;
      return;
    }
    double sum = sum_ + x, sum_sq = sum_sq_ + x * x;
    std::size_t i = 0;
    for (; i < entries_.size() && entries_[i].t <= t - window_; ++i) {
      const double y = entries_[i].x;
      sum -= y;
      sum_sq -= y * y;
    }
    const auto count = static_cast<double>(entries_.size() + 1 - i);
    finish_(x, sum / count, sum_sq / count, out);
  }

 private:
  struct Entry {
    Timestamp t;
    double x;
  };
  Duration window_;
  Out finish_;
  Timestamp first_ = 0;
  bool started_ = false;
  double sum_ = 0;
  double sum_sq_ = 0;
  RingBuffer<Entry> entries_;
};

// Annualised rolling sample standard deviation over a full window of `period` values (the
// window holds them). It keeps the window's mean and m2, the sum of squared deviations from it.
// A bar normally swaps the leaving value y for the new x in one update:
//   mean' = mean + (x - y)/n,  m2' = m2 + (x - y) * ((x - mean') + (y - mean)),
// and every 8*period-th bar (and the bar that fills the window) computes both afresh from the
// window in two passes. Rounding in the updates accumulates, in proportion to the level the
// series had when it happened, so a long stream whose level falls (prices from 400 to 2) would
// end up far off (1e-4 relative after millions of bars); the fresh computation bounds that to a
// few `period`s of updates (1e-12) for about the cost of one more update per bar. The same bars
// are fresh in push and batch, so the two agree bit for bit.
class Volatility {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  Volatility(int period, double periods_per_year)
      : n_(static_cast<double>(period)),
        scale_(periods_per_year / static_cast<double>(period - 1)),
        period_(period),
        fresh_every_(kFreshEvery * period),
        window_(static_cast<std::size_t>(period)) {}

  void push(Timestamp, const double* in, double* out) {
    const double x = in[0];
    const auto p = static_cast<std::size_t>(period_);
    same_run_ = window_.empty() || x != window_.back() ? 1 : same_run_ + 1;
    if (window_.size() < p) {
      window_.push_back(x);
      if (window_.size() < p) {
        out[0] = kNaN;
        return;
      }
      fresh([&](std::size_t j) { return window_[j]; }, p, n_, mean_, m2_);
      since_fresh_ = 0;
    } else {
      const double y = window_.front();
      window_.pop_front();
      window_.push_back(x);
      if (++since_fresh_ == fresh_every_) {
        fresh([&](std::size_t j) { return window_[j]; }, p, n_, mean_, m2_);
        since_fresh_ = 0;
      } else {
        swap(x, y, (x - y) / n_, mean_, m2_);
      }
    }
    out[0] = finish(m2_, same_run_, period_, scale_);
  }
  void peek(Timestamp, const double* in, double* out) const {
    const double x = in[0];
    const std::int64_t run = window_.empty() || x != window_.back() ? 1 : same_run_ + 1;
    const auto p = static_cast<std::size_t>(period_);
    double mean = mean_, m2 = m2_;
    if (window_.size() + 1 < p) {
      out[0] = kNaN;
      return;
    }
    if (window_.size() + 1 == p) {  // the window as push would fill it
      fresh([&](std::size_t j) { return j + 1 < p ? window_[j] : x; }, p, n_, mean, m2);
    } else if (since_fresh_ + 1 == fresh_every_) {  // the window after push, oldest value gone
      fresh([&](std::size_t j) { return j + 1 < p ? window_[j + 1] : x; }, p, n_, mean, m2);
    } else {
      const double y = window_.front();
      swap(x, y, (x - y) / n_, mean, m2);
    }
    out[0] = finish(m2, run, period_, scale_);
  }
  // Same arithmetic as push, reading the window from the input array; two bars at a time
  // between fresh computations, sharing the division and the square root.
  void batch(const Timestamp* t, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[0];
    double* y = out[0];
    const auto p = static_cast<std::size_t>(period_);
    std::size_t i = 0;
    for (; i < n && window_.size() < p; ++i) push(t[i], x + i, y + i);
    if (i == n) return;
    double mean = mean_, m2 = m2_;
    std::int64_t run = same_run_;
    int since = since_fresh_;
    const double np = n_, scale = scale_;
    const int period = period_;
    while (i < n) {
      const std::size_t end = std::min(n, i + static_cast<std::size_t>(fresh_every_ - 1 - since));
      since += static_cast<int>(end - i);
      for (; i + 2 <= end; i += 2) {
        const Pair xs = load_pair(x + i), ys = load_pair(x + i - p);
        const Pair steps = (xs - ys) / np;
        swap(xs[0], ys[0], steps[0], mean, m2);
        const double m2_first = m2;
        swap(xs[1], ys[1], steps[1], mean, m2);
        const std::int64_t run_first = xs[0] != x[i - 1] ? 1 : run + 1;
        run = xs[1] != xs[0] ? 1 : run_first + 1;
        const Pair v = Pair{m2_first, m2} * scale;
        const Pair sd = v < 0.0 ? Pair{} : sqrt_pair(v);
        y[i] = run_first >= period ? 0.0 : sd[0];
        y[i + 1] = run >= period ? 0.0 : sd[1];
      }
      for (; i < end; ++i) {
        const double xi = x[i], yi = x[i - p];
        run = xi != x[i - 1] ? 1 : run + 1;
        swap(xi, yi, (xi - yi) / np, mean, m2);
        y[i] = finish(m2, run, period, scale);
      }
      if (i == n) break;
      run = x[i] != x[i - 1] ? 1 : run + 1;  // bar i is a fresh one
      const double* w = x + i + 1 - p;
      fresh([&](std::size_t j) { return w[j]; }, p, np, mean, m2);
      since = 0;
      y[i] = finish(m2, run, period, scale);
      ++i;
    }
    mean_ = mean;
    m2_ = m2;
    same_run_ = run;
    since_fresh_ = since;
    window_.clear();
    for (std::size_t j = n - p; j < n; ++j) window_.push_back(x[j]);
  }

 private:
  // mean and m2 of the p values at(0) .. at(p-1), in two passes.
  template <class At>
  static void fresh(At at, std::size_t p, double n, double& mean, double& m2) {
    double sum = 0;
    for (std::size_t j = 0; j < p; ++j) sum += at(j);
    mean = sum / n;
    m2 = 0;
    for (std::size_t j = 0; j < p; ++j) {
      const double d = at(j) - mean;
      m2 += d * d;
    }
  }
  // step = (x - y) / n.
  static void swap(double x, double y, double step, double& mean, double& m2) {
    const double next = mean + step;
    m2 += (x - y) * ((x - next) + (y - mean));
    mean = next;
  }
  // A window of equal values has no deviation; rounding left in m2 must not show.
  static double finish(double m2, std::int64_t run, int period, double scale) {
    if (run >= period) return 0.0;
    const double v = m2 * scale;
    return v < 0.0 ? 0.0 : std::sqrt(v);
  }

  // mean_ and m2_ are kept apart in memory: when the batch loop hands back adjacent fields, GCC
  // pairs them in one vector register inside the loop, which lengthens its dependency chain.
  double mean_ = 0;
  double n_;
  double m2_ = 0;
  double scale_;                         // periods_per_year / (period - 1)
  std::int64_t same_run_ = 0;            // how many of the latest values are equal
  static constexpr int kFreshEvery = 8;  // periods between fresh computations
  int period_;
  int fresh_every_;
  int since_fresh_ = 0;  // bars since mean_ and m2_ were last computed afresh
  RingBuffer<double> window_;
};

ParamSpec window_period_param() {
  ParamSpec p = period_param(20, 2);
  p.help = "window length in bars (or use window: DURATION)";
  return p;
}

template <class Out>
std::unique_ptr<Kernel> make_moments(const Params& p, Out finish) {
  if (p.window) return make_kernel<MomentsTime<Out>>(p.window, finish);
  return make_kernel<MomentsCount<Out>>(p.get_int("period"), finish);
}

}  // namespace

void add_deviation(std::vector<FunctionSpec>& out) {
  out.push_back({
      .name = "stddev",
      .summary = "rolling population standard deviation (TA-Lib STDDEV, nbdev 1); 0 when the "
                 "variance is below 1e-14",
      .talib = "STDDEV",
      .inputs = {"input"},
      .params = {window_period_param()},
      .units = {Unit::same_units_as_input(0)},
      .accepts_window = true,
      .lookback = period_or_time_window_lookback,
      .make = [](const Params& p) { return make_moments(p, StddevOut{}); },
  });
  out.push_back({
      .name = "var",
      .summary = "rolling population variance (TA-Lib VAR, nbdev 1)",
      .talib = "VAR",
      .inputs = {"input"},
      .params = {period_param(20, 1)},
      .units = {Unit::square_of_input(0)},
      .lookback = period_window_lookback,
      .make =
          [](const Params& p) {
            return make_kernel<MomentsCount<VarOut>>(p.get_int("period"), VarOut{});
          },
  });
  out.push_back({
      .name = "bbands",
      .summary = "Bollinger bands (TA-Lib BBANDS): middle = SMA, upper/lower = middle +/- k * "
                 "population standard deviation",
      .talib = "BBANDS",
      .inputs = {"input"},
      .params = {period_param(20, 2),
                 {"k", ParamType::kReal, 2, 0, 100,
                  "band width in standard deviations, for both bands"}},
      .outputs = {"upper", "middle", "lower"},
      .units = {Unit::same_as_input(0), Unit::same_as_input(0), Unit::same_as_input(0)},
      .lookback = period_window_lookback,
      .make =
          [](const Params& p) {
            return make_kernel<MomentsCount<BbandsOut>>(p.get_int("period"), BbandsOut{p.get("k")});
          },
  });
  out.push_back({
      .name = "zscore",
      .summary = "rolling z-score: (input - mean) / population standard deviation over the "
                 "window; 0 when the standard deviation is 0 (variance below 1e-14)",
      .inputs = {"input"},
      .params = {window_period_param()},
      .units = {Unit::unbounded()},
      .accepts_window = true,
      .lookback = period_or_time_window_lookback,
      .make = [](const Params& p) { return make_moments(p, ZscoreOut{}); },
  });
  out.push_back({
      .name = "volatility",
      .summary = "annualised volatility: rolling sample standard deviation (ddof 1, as pandas' "
                 "rolling().std()) times sqrt(periods_per_year); 0 on a window of equal values",
      .inputs = {"input"},
      .params = {period_param(20, 2),
                 {"periods_per_year", ParamType::kReal, 252, 1, 1e9,
                  "bars per year, e.g. 252 for daily bars"}},
      .units = {Unit::same_units_as_input(0)},
      .lookback = period_window_lookback,
      .make =
          [](const Params& p) {
            return make_kernel<Volatility>(p.get_int("period"), p.get("periods_per_year"));
          },
  });
}

}  // namespace tickgraph::analytics
