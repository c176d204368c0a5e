// Momentum: rsi, mom, roc (TA-Lib's conventions and order of floating-point operations),
// pct_change and log_return (pandas' convention x/x[-p] - 1, and its log).
//
// rsi is Wilder's: the first `period` changes are summed into average gain and loss (divided by
// period), later ones smoothed as avg = (avg * (period-1) + change) / period; rsi = 100 * gain /
// (gain + loss), and 0 when gain + loss is within 1e-14 of 0 (TA-Lib's TA_IS_ZERO). The first
// value is at bar `period`. A change goes to gain or loss without a branch (adding +0.0 to the
// other leaves it bit for bit unchanged), which keeps the loop free of mispredictions.
//
// Division by zero: roc, pct_change and log_return give 0 when x[-p] is 0, as TA-Lib's ROC and
// ROCP do (pandas would give inf; this keeps outputs finite on finite inputs). log_return of a
// ratio <= 0 is what std::log gives (-inf or NaN).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

namespace {

class Rsi {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit Rsi(int period)
      : period_(period),
        n_(static_cast<double>(period)),
        n_minus_1_(static_cast<double>(period - 1)) {}

  void push(Timestamp, const double* in, double* out) {
    const double x = in[0];
    if (!started_) {
      started_ = true;
      prev_ = x;
      out[0] = kNaN;
      return;
    }
    const double d = x - prev_;
    prev_ = x;
    if (seen_ < period_) {
      gain_ += up(d);
      loss_ -= down(d);
      if (++seen_ < period_) {
        out[0] = kNaN;
        return;
      }
      loss_ /= n_;
      gain_ /= n_;
    } else {
      smooth(d, n_, n_minus_1_, gain_, loss_);
    }
    out[0] = rsi(gain_, loss_);
  }
  void peek(Timestamp, const double* in, double* out) const {
    if (!started_ || seen_ + 1 < period_) {
      out[0] = kNaN;
      return;
    }
    const double d = in[0] - prev_;
    double gain = gain_, loss = loss_;
    if (seen_ < period_) {
      loss = (loss - down(d)) / n_;
      gain = (gain + up(d)) / n_;
    } else {
      smooth(d, n_, n_minus_1_, gain, loss);
    }
    out[0] = rsi(gain, loss);
  }
  void batch(const Timestamp* t, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[0];
    double* y = out[0];
    std::size_t i = 0;
    for (; i < n && seen_ < period_; ++i) push(t[i], x + i, y + i);
    double prev = prev_, gain = gain_, loss = loss_;
    const double np = n_, np_minus_1 = n_minus_1_;
    for (; i < n; ++i) {
      const double xi = x[i];
      smooth(xi - prev, np, np_minus_1, gain, loss);
      prev = xi;
      y[i] = rsi(gain, loss);
    }
    prev_ = prev;
    gain_ = gain;
    loss_ = loss;
  }

 private:
  // d if d > 0 else +0.0, and d if d < 0 else +0.0, exactly (for |d| < DBL_MAX/2), without a
  // branch: a compare-and-branch here mispredicts on half the bars.
  static double up(double d) { return (d + std::fabs(d)) * 0.5; }
  static double down(double d) { return (d - std::fabs(d)) * 0.5; }
  static void smooth(double d, double n, double n_minus_1, double& gain, double& loss) {
    loss *= n_minus_1;
    gain *= n_minus_1;
    loss -= down(d);
    gain += up(d);
    loss /= n;
    gain /= n;
  }
  static double rsi(double gain, double loss) {
    const double s = gain + loss;
    return -1e-14 < s && s < 1e-14 ? 0.0 : 100.0 * (gain / s);
  }

  // The state is kept apart in memory (as are sum_ and sub_ elsewhere): when the batch loop
  // hands back adjacent fields, GCC pairs them into vector registers inside the loop, which
  // lengthens the dependency chain.
  double prev_ = 0;
  int period_;
  double gain_ = 0;
  double n_;
  double loss_ = 0;
  double n_minus_1_;
  bool started_ = false;
  int seen_ = 0;  // changes summed into the seed, up to period
};

// r where prev is not 0, else `otherwise`, lane by lane.
double unless_zero(double prev, double r, double otherwise) { return prev != 0.0 ? r : otherwise; }
Pair unless_zero(Pair prev, Pair r, double otherwise) {
  return prev != 0.0 ? r : Pair{otherwise, otherwise};
}

double log_each(double r) { return std::log(r); }
Pair log_each(Pair r) { return Pair{std::log(r[0]), std::log(r[1])}; }

// A function of the input and the input `period` bars before, for one bar (double) or two
// (Pair). The window holds the last `period` inputs.
template <class Op>
class Lag {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit Lag(int period) : period_(period), window_(static_cast<std::size_t>(period)) {}

  void push(Timestamp, const double* in, double* out) {
    const double x = in[0];
    if (window_.size() == static_cast<std::size_t>(period_)) {
      out[0] = Op::apply(x, window_.front());
      window_.pop_front();
    } else {
      out[0] = kNaN;
    }
    window_.push_back(x);
  }
  void peek(Timestamp, const double* in, double* out) const {
    out[0] = window_.size() == static_cast<std::size_t>(period_) ? Op::apply(in[0], window_.front())
                                                                 : kNaN;
  }
  // Reads x[-p] from the input array instead of the window, two bars at a time.
  void batch(const Timestamp* t, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[0];
    double* y = out[0];
    const auto p = static_cast<std::size_t>(period_);
    std::size_t i = 0;
    for (; i < n && window_.size() < p; ++i) push(t[i], x + i, y + i);
    if (i == n) return;
    for (; i + 2 <= n; i += 2) store_pair(y + i, Op::apply(load_pair(x + i), load_pair(x + i - p)));
    for (; i < n; ++i) y[i] = Op::apply(x[i], x[i - p]);
    window_.clear();
    for (std::size_t j = n - p; j < n; ++j) window_.push_back(x[j]);
  }

 private:
  int period_;
  RingBuffer<double> window_;
};

struct MomOp {
  template <class T>
  static T apply(T x, T prev) {
    return x - prev;
  }
};
struct RocOp {
  template <class T>
  static T apply(T x, T prev) {
    return unless_zero(prev, ((x / prev) - 1.0) * 100.0, 0.0);
  }
};
struct PctChangeOp {
  template <class T>
  static T apply(T x, T prev) {
    return unless_zero(prev, (x / prev) - 1.0, 0.0);
  }
};
struct LogReturnOp {
  template <class T>
  static T apply(T x, T prev) {
    return log_each(unless_zero(prev, x / prev, 1.0));  // log(1) = 0 when prev is 0
  }
};

template <class Op>
FunctionSpec lag_function(const char* name, const char* talib, const char* summary, Unit unit,
                          double default_period) {
  ParamSpec period = period_param(default_period, 1);
  period.help = "lag in bars: the input is compared with the one this many bars before";
  return {
      .name = name,
      .summary = summary,
      .talib = talib,
      .inputs = {"input"},
      .params = {period},
      .units = {unit},
      .lookback =
          [](const Params& p) {
            return Lookback{p.get_int("period"), 0, 0};
          },
      .make = [](const Params& p) { return make_kernel<Lag<Op>>(p.get_int("period")); },
  };
}

}  // namespace

void add_momentum(std::vector<FunctionSpec>& out) {
  out.push_back({
      .name = "rsi",
      .summary = "relative strength index, Wilder's smoothing (TA-Lib); 0 when there was no "
                 "change",
      .talib = "RSI",
      .inputs = {"input"},
      .params = {[] {
        ParamSpec p = period_param(14, 2);
        p.help = "smoothing period in bars (Wilder factor 1/period)";
        return p;
      }()},
      .units = {Unit::bounded(0, 100)},
      .lookback =
          [](const Params& p) {
            const int n = p.get_int("period");
            return Lookback{n, 0, settle_bars(1.0 / static_cast<double>(n))};
          },
      .make = [](const Params& p) { return make_kernel<Rsi>(p.get_int("period")); },
  });
  out.push_back(lag_function<MomOp>("mom", "MOM", "momentum: input - input[-period] (TA-Lib MOM)",
                                    Unit::same_units_as_input(0), 10));
  out.push_back(lag_function<RocOp>("roc", "ROC",
                                    "rate of change in percent: (input / input[-period] - 1) * "
                                    "100, 0 when input[-period] is 0 (TA-Lib ROC)",
                                    Unit::percent(), 10));
  out.push_back(lag_function<PctChangeOp>(
      "pct_change", "ROCP",
      "fractional change: input / input[-period] - 1 (pandas pct_change); 0 when input[-period] "
      "is 0",
      Unit::ratio(), 1));
  out.push_back(lag_function<LogReturnOp>(
      "log_return", "", "log return: log(input / input[-period]); 0 when input[-period] is 0",
      Unit::ratio(), 1));
}

}  // namespace tickgraph::analytics
