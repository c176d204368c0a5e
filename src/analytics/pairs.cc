// Statistics of two series over the last `period` bars: correlation and beta, from running sums
// updated in TA-Lib's order (add the new pair, compute, take out the pair that leaves).
//
// correlation(a, b) is TA-Lib CORREL: Pearson's r, 0 when var(a) * var(b) (times period^2) is
// below TA-Lib's epsilon 1e-14.
//
// beta(a, b) is the least-squares slope of a regressed on b, cov(a, b) / var(b), over the series
// AS GIVEN: a spec feeds it returns (`inputs: [ret, "SPY:ret"]`). TA-Lib's BETA differs in two
// ways: it takes prices and turns them into one-bar returns (p - prev) / prev itself, and its
// regressor is its FIRST input (it regresses inReal1's returns on inReal0's). So
// beta(pct_change(P), pct_change(M)) corresponds to TA_BETA(inReal0 = M, inReal1 = P), with
// lookback period for TA-Lib's prices against period-1 for our returns (the pct_change bar makes
// up the difference). The slope is computed with TA-Lib's sums formula
// (n*Sxy - Sx*Sy) / (n*Sxx - Sx*Sx), x the regressor, and is 0 when |n*Sxx - Sx*Sx| < 1e-14.
#include <cmath>
#include <cstdint>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

namespace {

constexpr double kTaLibEpsilon = 1e-14;

// Two bars' statistics are computed side by side in batch (Pair, kernel_util.h): these kernels
// are bound by the divider, and a division or square root of a pair costs what one of a double
// does.

inline double sqrt_of(double x) { return std::sqrt(x); }
inline Pair sqrt_of(Pair x) { return sqrt_pair(x); }

// TA-Lib CORREL's value from its sums, for one bar (double) or two (Pair).
template <class T>
T correlation_of(T n, T sx, T sxx, T sxy, T sy, T syy) {
  const T var_product = (sxx - ((sx * sx) / n)) * (syy - ((sy * sy) / n));
  const T r = (sxy - ((sx * sy) / n)) / sqrt_of(var_product);
  return var_product < kTaLibEpsilon ? T{} : r;
}

// The slope of y on x from TA-Lib BETA's sums, for one bar (double) or two (Pair).
template <class T>
T slope_of(T n, T sxx, T sxy, T sx, T sy) {
  const T var_x = (n * sxx) - (sx * sx);
  const T slope = ((n * sxy) - (sx * sy)) / var_x;
  return (-kTaLibEpsilon < var_x) & (var_x < kTaLibEpsilon) ? T{} : slope;
}

struct CorrelationSums {
  double n;
  double sx = 0, sxx = 0, sxy = 0, sy = 0, syy = 0;

  void add(double x, double y) {
    sx += x;
    sxx += x * x;
    sxy += x * y;
    sy += y;
    syy += y * y;
  }
  void remove(double x, double y) {
    sx -= x;
    sxx -= x * x;
    sxy -= x * y;
    sy -= y;
    syy -= y * y;
  }
  double value() const { return correlation_of(n, sx, sxx, sxy, sy, syy); }
  static void values(const CorrelationSums& a, const CorrelationSums& b, double* out) {
    const Pair r = correlation_of(Pair{a.n, b.n}, Pair{a.sx, b.sx}, Pair{a.sxx, b.sxx},
                                  Pair{a.sxy, b.sxy}, Pair{a.sy, b.sy}, Pair{a.syy, b.syy});
    out[0] = r[0];
    out[1] = r[1];
  }
};

// x is the regressor (our input b), y the regressand (our input a).
struct BetaSums {
  double n;
  double sxx = 0, sxy = 0, sx = 0, sy = 0;

  void add(double x, double y) {
    sxx += x * x;
    sxy += x * y;
    sx += x;
    sy += y;
  }
  void remove(double x, double y) {
    sxx -= x * x;
    sxy -= x * y;
    sx -= x;
    sy -= y;
  }
  double value() const { return slope_of(n, sxx, sxy, sx, sy); }
  static void values(const BetaSums& a, const BetaSums& b, double* out) {
    const Pair r = slope_of(Pair{a.n, b.n}, Pair{a.sxx, b.sxx}, Pair{a.sxy, b.sxy},
                            Pair{a.sx, b.sx}, Pair{a.sy, b.sy});
    out[0] = r[0];
    out[1] = r[1];
  }
};

// Runs Sums over the last `period` (x, y) pairs; kSwap feeds (b, a) for inputs (a, b). The
// window's pairs sit in a circular buffer where, once a pair is added, the slot after it holds the
// oldest pair of the window.
template <class Sums, bool kSwap>
class PairWindow {
 public:
  static constexpr int kInputs = 2;
  static constexpr int kOutputs = 1;
  explicit PairWindow(int period)
      : period_(static_cast<std::size_t>(period)),
        sums_{static_cast<double>(period)},
        x_(period_, 0.0),
        y_(period_, 0.0) {}

  void push(Timestamp, const double* in, double* out) {
    const double x = in[kSwap ? 1 : 0];
    const double y = in[kSwap ? 0 : 1];
    sums_.add(x, y);
    x_[slot_] = x;
    y_[slot_] = y;
    if (++slot_ == period_) slot_ = 0;
    if (seen_ + 1 < period_) {
      ++seen_;
      out[0] = kNaN;
      return;
    }
    seen_ = period_;
    out[0] = sums_.value();
    sums_.remove(x_[slot_], y_[slot_]);
  }
  void peek(Timestamp, const double* in, double* out) const {
    if (seen_ + 1 < period_) {
      out[0] = kNaN;
      return;
    }
    Sums s = sums_;
    s.add(in[kSwap ? 1 : 0], in[kSwap ? 0 : 1]);
    out[0] = s.value();
  }
  // Same arithmetic as push, reading the leaving pair from the inputs.
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[kSwap ? 1 : 0];
    const double* y = in[kSwap ? 0 : 1];
    double* r = out[0];
    const std::size_t p = period_;
    Sums s = sums_;
    std::size_t i = 0;
    for (; i < n && i + 1 < p; ++i) {
      s.add(x[i], y[i]);
      r[i] = kNaN;
    }
    // Two bars at a time: their sums one after the other, their values side by side.
    for (; i + 1 < n; i += 2) {
      s.add(x[i], y[i]);
      const Sums first = s;
      s.remove(x[i + 1 - p], y[i + 1 - p]);
      s.add(x[i + 1], y[i + 1]);
      Sums::values(first, s, r + i);
      s.remove(x[i + 2 - p], y[i + 2 - p]);
    }
    for (; i < n; ++i) {
      s.add(x[i], y[i]);
      r[i] = s.value();
      s.remove(x[i + 1 - p], y[i + 1 - p]);
    }
    sums_ = s;
    // Leave the buffer holding the last p-1 pairs from slot 0 on, the next slot after them: what
    // push needs to take each of them out in turn.
    const std::size_t keep = n < p - 1 ? n : p - 1;
    slot_ = 0;
    for (std::size_t j = n - keep; j < n; ++j, ++slot_) {
      x_[slot_] = x[j];
      y_[slot_] = y[j];
    }
    seen_ = n < p ? n : p;
  }

 private:
  std::size_t period_;
  Sums sums_;
  std::vector<double> x_;
  std::vector<double> y_;
  std::size_t slot_ = 0;
  std::size_t seen_ = 0;  // saturates at period
};

}  // namespace

void add_pairs(std::vector<FunctionSpec>& out) {
  out.push_back({
      .name = "correlation",
      .summary = "Pearson correlation of a and b over the window (TA-Lib CORREL)",
      .talib = "CORREL",
      .inputs = {"a", "b"},
      .params = {period_param(20, 1)},
      .units = {Unit::bounded(-1, 1)},
      .lookback = period_window_lookback,
      .make =
          [](const Params& p) {
            return make_kernel<PairWindow<CorrelationSums, false>>(p.get_int("period"));
          },
  });
  out.push_back({
      .name = "beta",
      .summary = "regression slope of a on b, cov(a,b)/var(b), over the window; feed it returns "
                 "(TA-Lib BETA takes prices)",
      .talib = "BETA",
      .inputs = {"a", "b"},
      .params = {period_param(20, 1)},
      .units = {Unit::unbounded()},
      .lookback = period_window_lookback,
      .make =
          [](const Params& p) {
            return make_kernel<PairWindow<BetaSums, true>>(p.get_int("period"));
          },
  });
}

}  // namespace tickgraph::analytics
