// WindowExtreme: the highest or lowest value of the last `period` bars (internal to analytics/;
// used by rolling_max, rolling_min, willr and stoch).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

// The highest (kMax) or lowest value of the last `period` bars, O(1) amortised per bar whatever
// the data. push and peek keep a monotonic deque: values strictly decreasing (increasing) from
// front to back, a new value evicting those it ties or beats, so the front is the extreme. scan
// runs a whole series without it, block by block (van Herk / Gil-Werman): a window of `period`
// bars straddles at most two blocks of `period` bars, and its extreme is the earlier block's
// suffix extreme against the later block's prefix extreme: three comparisons a bar, none of them
// a branch. Both take the latest of tied values (which matters for +0 against -0 only), and a
// window holding a NaN gives its latest NaN (in the deque a NaN evicts everything before it and
// nothing after it evicts it), so they agree to the bit.
template <bool kMax>
class WindowExtreme {
 public:
  explicit WindowExtreme(int period) : period_(period), q_(static_cast<std::size_t>(period) + 1) {}

  // Whether a new value x makes an older entry useless: x ties or beats it, or x is NaN.
  static bool evicts(double x, double older) {
    return std::isnan(x) || (kMax ? older <= x : older >= x);
  }

  // Adds the next bar's value; returns the extreme of the window ending with it (of the bars so
  // far while fewer than `period`).
  double push(double x) {
    while (!q_.empty() && evicts(x, q_.back().x)) q_.pop_back();
    q_.push_back({bars_, x});
    if (q_.front().bar <= bars_ - period_) q_.pop_front();  // one bar leaves at most
    ++bars_;
    return q_.front().x;
  }
  // What push(x) would return, state unchanged.
  double peek(double x) const {
    const std::size_t k = !q_.empty() && q_.front().bar <= bars_ - period_ ? 1 : 0;
    if (k == q_.size()) return x;
    return evicts(x, q_[k].x) ? x : q_[k].x;
  }
  // Calls emit(i, extreme of x[i-period+1..i]) for i = period-1 .. n-1 in order, then leaves the
  // state as n pushes of x would. Precondition: nothing pushed yet.
  template <class Emit>
  void scan(const double* x, std::size_t n, Emit&& emit) {
    constexpr double kNone =
        kMax ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    const auto p = static_cast<std::size_t>(period_);
    // The comparisons below ignore NaN; a window holding one gives its latest NaN instead.
    constexpr std::size_t kNoNaN = std::numeric_limits<std::size_t>::max();
    std::size_t last_nan = kNoNaN;
    auto value = [&](std::size_t i, double extreme) {
      return last_nan != kNoNaN && i - last_nan < p ? x[last_nan] : extreme;
    };
    std::vector<double> suffix(p + 1, kNone);  // suffix[j]: extreme of the earlier block from j
    double prefix = kNone;
    for (std::size_t i = 0; i < n && i < p; ++i) {
      prefix = later_wins(prefix, x[i]);
      if (std::isnan(x[i])) last_nan = i;
    }
    if (n >= p) emit(p - 1, value(p - 1, prefix));
    for (std::size_t block = p; block < n; block += p) {
      const double* earlier = x + block - p;
      double s = kNone;
      for (std::size_t j = p; j-- > 0;) suffix[j] = s = later_wins(earlier[j], s);
      const std::size_t end = n - block < p ? n : block + p;
      prefix = kNone;
      for (std::size_t i = block; i < end; ++i) {
        prefix = later_wins(prefix, x[i]);
        if (std::isnan(x[i])) last_nan = i;
        emit(i, value(i, later_wins(suffix[i - block + 1], prefix)));
      }
    }
    // The deque after n pushes holds only bars of the last window: replay them.
    const std::size_t keep = n < p ? n : p;
    bars_ = static_cast<std::int64_t>(n - keep);
    for (std::size_t i = n - keep; i < n; ++i) push(x[i]);
  }

 private:
  struct Point {
    std::int64_t bar;
    double x;
  };
  // The extreme of an earlier and a later value, ties going to the later (NaN: see scan).
  static double later_wins(double earlier, double later) {
    return (kMax ? earlier > later : earlier < later) ? earlier : later;
  }

  std::int64_t period_;
  std::int64_t bars_ = 0;
  RingBuffer<Point> q_;
};

}  // namespace tickgraph::analytics
