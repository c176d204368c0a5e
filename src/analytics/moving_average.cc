// Moving averages: sma, ema, wma, dema, tema, macd, in TA-Lib's conventions and its order of
// floating-point operations (so values agree with TA-Lib's to the last bits):
//   - an EMA has factor k = 2/(period+1) and is seeded with the SMA of its first `period` inputs,
//     so its first value is at bar period-1; then value = ((x - value) * k) + value;
//   - dema and tema chain EMAs, each seeded by the SMA of the first `period` values of the one
//     before: 2*e1 - e2 from bar 2(period-1), e3 + (3*e1 - 3*e2) from bar 3(period-1);
//   - macd seeds its fast EMA with the SMA of the `fast` inputs ending at bar slow-1, so fast and
//     slow EMAs start on the same bar; its signal is an EMA of the macd line seeded by SMA, and
//     all three outputs start at bar (slow-1)+(signal-1).
// Batch forms are single passes with the state in locals (macd: fast, slow and signal together);
// the warm-up bars go through push, so the arithmetic is the same code in both forms.
#include <cmath>
#include <cstdint>
#include <string>

#include "analytics/kernel_util.h"

namespace tickgraph::analytics {

namespace {

// SMA over a count window. sum_ holds the last period-1 values; a bar's mean is
// (sum_ + x) / period, and then sum_ += x - (the value leaving). TA-Lib instead adds x and later
// subtracts the leaving value: two dependent adds per bar where ours has one, which makes batch
// about twice as fast. Same accuracy class, within ~1e-13 relative of TA-Lib's values.
class SmaCount {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit SmaCount(int period) : period_(period), window_(static_cast<std::size_t>(period)) {}

  void push(Timestamp, const double* in, double* out) {
    const double x = in[0];
    window_.push_back(x);
    if (window_.size() == static_cast<std::size_t>(period_)) {
      out[0] = (sum_ + x) / period_;
      sum_ += x - window_.front();
      window_.pop_front();
    } else {
      sum_ += x;
      out[0] = kNaN;
    }
  }
  void peek(Timestamp, const double* in, double* out) const {
    out[0] =
        window_.size() + 1 == static_cast<std::size_t>(period_) ? (sum_ + in[0]) / period_ : kNaN;
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
      y[i] = (sum + x[i]) / period_;
      sum += x[i] - x[i + 1 - p];
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

// One EMA in TA-Lib's convention. While seeding, value_ holds the running sum of the inputs.
class EmaStage {
 public:
  explicit EmaStage(int period) : period_(period), k_(2.0 / static_cast<double>(period + 1)) {}

  bool ready() const { return seen_ >= period_; }
  // True when the next push returns a value.
  bool ready_after_push() const { return seen_ + 1 >= period_; }
  double k() const { return k_; }
  double value() const { return value_; }
  void set_value(double v) { value_ = v; }  // batch loops hand their local state back

  // TA-Lib writes this as (x - value) * k + value. We use the algebraically equal
  // value * (1 - k) + x * k: x * k does not wait for the previous value, so each bar waits on
  // one multiply and one add instead of a subtract, a multiply and an add (about 1.5x faster in
  // batch). Results stay within ~1e-12 relative of TA-Lib's; push and batch share this function,
  // so they remain bit-identical.
  static double step(double value, double x, double k) { return value * (1.0 - k) + x * k; }
  // Feeds x; returns the EMA, NaN while seeding.
  double push(double x) {
    if (ready()) return value_ = step(value_, x, k_);
    value_ += x;
    if (++seen_ < period_) return kNaN;
    value_ /= static_cast<double>(period_);
    return value_;
  }
  double peek(double x) const {
    if (ready()) return step(value_, x, k_);
    return ready_after_push() ? (value_ + x) / static_cast<double>(period_) : kNaN;
  }

 private:
  int period_;
  double k_;
  int seen_ = 0;
  double value_ = 0;
};

class Ema {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit Ema(int period) : ema_(period) {}

  void push(Timestamp, const double* in, double* out) { out[0] = ema_.push(in[0]); }
  void peek(Timestamp, const double* in, double* out) const { out[0] = ema_.peek(in[0]); }
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[0];
    double* y = out[0];
    std::size_t i = 0;
    for (; i < n && !ema_.ready(); ++i) y[i] = ema_.push(x[i]);
    const double k = ema_.k();
    double v = ema_.value();
    for (; i < n; ++i) {
      v = EmaStage::step(v, x[i], k);
      y[i] = v;
    }
    ema_.set_value(v);
  }

 private:
  EmaStage ema_;
};

// DEMA = 2*e1 - e2 with e2 the EMA of e1.
class Dema {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit Dema(int period) : e1_(period), e2_(period) {}

  void push(Timestamp, const double* in, double* out) {
    const double a = e1_.push(in[0]);
    out[0] = e1_.ready() ? combine(a, e2_.push(a)) : kNaN;  // e2 is NaN until seeded
  }
  void peek(Timestamp, const double* in, double* out) const {
    const double a = e1_.peek(in[0]);
    out[0] = e1_.ready_after_push() ? combine(a, e2_.peek(a)) : kNaN;
  }
  void batch(const Timestamp* t, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[0];
    double* y = out[0];
    std::size_t i = 0;
    for (; i < n && !e2_.ready(); ++i) push(t[i], x + i, y + i);
    const double k = e1_.k();
    double v1 = e1_.value(), v2 = e2_.value();
    for (; i < n; ++i) {
      v1 = EmaStage::step(v1, x[i], k);
      v2 = EmaStage::step(v2, v1, k);
      y[i] = combine(v1, v2);
    }
    e1_.set_value(v1);
    e2_.set_value(v2);
  }

 private:
  static double combine(double e1, double e2) { return (2.0 * e1) - e2; }
  EmaStage e1_, e2_;
};

// TEMA = e3 + (3*e1 - 3*e2) with e2 the EMA of e1 and e3 the EMA of e2.
class Tema {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit Tema(int period) : e1_(period), e2_(period), e3_(period) {}

  void push(Timestamp, const double* in, double* out) {
    const double a = e1_.push(in[0]);
    if (!e1_.ready()) {
      out[0] = kNaN;
      return;
    }
    const double b = e2_.push(a);
    out[0] = e2_.ready() ? combine(a, b, e3_.push(b)) : kNaN;
  }
  void peek(Timestamp, const double* in, double* out) const {
    const double a = e1_.peek(in[0]);
    if (!e1_.ready_after_push()) {
      out[0] = kNaN;
      return;
    }
    const double b = e2_.peek(a);
    out[0] = e2_.ready_after_push() ? combine(a, b, e3_.peek(b)) : kNaN;
  }
  void batch(const Timestamp* t, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[0];
    double* y = out[0];
    std::size_t i = 0;
    for (; i < n && !e3_.ready(); ++i) push(t[i], x + i, y + i);
    const double k = e1_.k();
    double v1 = e1_.value(), v2 = e2_.value(), v3 = e3_.value();
    for (; i < n; ++i) {
      v1 = EmaStage::step(v1, x[i], k);
      v2 = EmaStage::step(v2, v1, k);
      v3 = EmaStage::step(v3, v2, k);
      y[i] = combine(v1, v2, v3);
    }
    e1_.set_value(v1);
    e2_.set_value(v2);
    e3_.set_value(v3);
  }

 private:
  static double combine(double e1, double e2, double e3) { return e3 + ((3.0 * e1) - (3.0 * e2)); }
  EmaStage e1_, e2_, e3_;
};

// WMA with weights 1..period (newest heaviest), kept as TA-Lib does: sum_ is the weighted sum
// and sub_ the plain sum of the window, so each bar costs O(1): add period*x to sum_, output
// sum_/divider, then take sub_ out of sum_ (which lowers every weight by one).
class Wma {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit Wma(int period)
      : weight_(static_cast<double>(period)),
        divider_(static_cast<double>(std::int64_t{period} * (period + 1)) / 2.0),
        period_(period),
        window_(static_cast<std::size_t>(period)) {}

  void push(Timestamp, const double* in, double* out) {
    const double x = in[0];
    window_.push_back(x);
    if (window_.size() < static_cast<std::size_t>(period_)) {
      sub_ += x;
      sum_ += x * static_cast<double>(window_.size());
      out[0] = kNaN;
      return;
    }
    step(sub_, sum_, x, trailing_, weight_, divider_, out[0]);
    trailing_ = window_.front();
    window_.pop_front();
  }
  void peek(Timestamp, const double* in, double* out) const {
    out[0] = window_.size() + 1 == static_cast<std::size_t>(period_)
                 ? (sum_ + in[0] * weight_) / divider_
                 : kNaN;
  }
  // Same arithmetic as push, reading the trailing value from the input array.
  void batch(const Timestamp* t, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[0];
    double* y = out[0];
    const auto p = static_cast<std::size_t>(period_);
    std::size_t i = 0;
    for (; i < n && window_.size() + 1 < p; ++i) push(t[i], x + i, y + i);
    if (i == n) return;
    double sub = sub_, sum = sum_, trailing = trailing_;
    const double w = weight_, div = divider_;
    for (; i < n; ++i) {
      step(sub, sum, x[i], trailing, w, div, y[i]);
      trailing = x[i + 1 - p];
    }
    sub_ = sub;
    sum_ = sum;
    trailing_ = trailing;
    window_.clear();  // the last p-1 values, as pushes would leave it
    for (std::size_t j = n - (p - 1); j < n; ++j) window_.push_back(x[j]);
  }

 private:
  // One bar once the window is full. sub is the plain sum of the window, sum the weighted one
  // before this bar's weight. TA-Lib adds and subtracts in separate steps (two dependent adds on
  // each running sum per bar); grouping the terms leaves one, about twice as fast in batch, within
  // ~1e-13 relative of TA-Lib's values.
  static void step(double& sub, double& sum, double x, double trailing, double w, double div,
                   double& y) {
    sub += x - trailing;
    y = (sum + x * w) / div;
    sum += x * w - sub;
  }
  // sub_, sum_ and trailing_ are kept apart in memory: when the batch loop hands back adjacent
  // fields, GCC pairs them into vector registers inside the loop, lengthening its critical path.
  double sub_ = 0;
  double weight_;
  double sum_ = 0;
  double divider_;
  double trailing_ = 0;
  int period_;
  RingBuffer<double> window_;
};

// MACD: fast EMA - slow EMA, its signal EMA, and their difference.
class Macd {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 3;  // macd, signal, hist
  Macd(int fast, int slow, int signal)
      : skip_(slow - fast), fast_(fast), slow_(slow), signal_(signal) {}

  void push(Timestamp, const double* in, double* out) {
    const double x = in[0];
    const double s = slow_.push(x);
    if (skipped_ < skip_) {  // the fast EMA's seed window ends on the slow one's
      ++skipped_;
      nan(out);
      return;
    }
    const double f = fast_.push(x);
    if (!slow_.ready()) {
      nan(out);
      return;
    }
    const double m = f - s;
    const double g = signal_.push(m);
    if (!signal_.ready()) {
      nan(out);
      return;
    }
    write(m, g, out);
  }
  void peek(Timestamp, const double* in, double* out) const {
    const double x = in[0];
    if (skipped_ < skip_ || !slow_.ready_after_push()) {
      nan(out);
      return;
    }
    const double m = fast_.peek(x) - slow_.peek(x);
    const double g = signal_.peek(m);
    if (!signal_.ready_after_push()) {
      nan(out);
      return;
    }
    write(m, g, out);
  }
  // One pass computing both EMAs and the signal together.
  void batch(const Timestamp* t, const double* const* in, double* const* out, std::size_t n) {
    const double* x = in[0];
    std::size_t i = 0;
    double o[kOutputs];
    for (; i < n && !signal_.ready(); ++i) {
      push(t[i], x + i, o);
      for (int j = 0; j < kOutputs; ++j) out[j][i] = o[j];
    }
    double* y_macd = out[0];
    double* y_signal = out[1];
    double* y_hist = out[2];
    const double kf = fast_.k(), ks = slow_.k(), kg = signal_.k();
    double vf = fast_.value(), vs = slow_.value(), vg = signal_.value();
    for (; i < n; ++i) {
      const double xi = x[i];
      vf = EmaStage::step(vf, xi, kf);
      vs = EmaStage::step(vs, xi, ks);
      const double m = vf - vs;
      vg = EmaStage::step(vg, m, kg);
      y_macd[i] = m;
      y_signal[i] = vg;
      y_hist[i] = m - vg;
    }
    fast_.set_value(vf);
    slow_.set_value(vs);
    signal_.set_value(vg);
  }

 private:
  static void nan(double* out) { out[0] = out[1] = out[2] = kNaN; }
  static void write(double m, double g, double* out) {
    out[0] = m;
    out[1] = g;
    out[2] = m - g;
  }
  int skip_;
  int skipped_ = 0;
  EmaStage fast_, slow_, signal_;
};

// The `period` of an EMA-based function: a smoothing period rather than a window.
ParamSpec ema_period_param(double default_value) {
  ParamSpec p = period_param(default_value, 2);
  p.help = "smoothing period in bars (EMA factor 2/(period+1))";
  return p;
}

std::int64_t ema_settle(int period) { return settle_bars(2.0 / static_cast<double>(period + 1)); }

}  // namespace

void add_moving_averages(std::vector<FunctionSpec>& out) {
  out.push_back({
      .name = "sma",
      .summary = "simple moving average",
      .talib = "SMA",
      .inputs = {"input"},
      .params = {period_param(20, 1)},
      .units = {Unit::same_as_input(0)},
      .accepts_window = true,
      .lookback = period_or_time_window_lookback,
      .make =
          [](const Params& p) {
            return p.window ? make_kernel<SmaTime>(p.window)
                            : make_kernel<SmaCount>(p.get_int("period"));
          },
  });
  out.push_back({
      .name = "ema",
      .summary = "exponential moving average (TA-Lib: factor 2/(period+1), seeded with the SMA of "
                 "the first period inputs)",
      .talib = "EMA",
      .inputs = {"input"},
      .params = {ema_period_param(20)},
      .units = {Unit::same_as_input(0)},
      .lookback =
          [](const Params& p) {
            const int n = p.get_int("period");
            return Lookback{n - 1, 0, ema_settle(n)};
          },
      .make = [](const Params& p) { return make_kernel<Ema>(p.get_int("period")); },
  });
  out.push_back({
      .name = "wma",
      .summary = "weighted moving average, linear weights 1..period with the newest heaviest",
      .talib = "WMA",
      .inputs = {"input"},
      .params = {period_param(20, 2)},
      .units = {Unit::same_as_input(0)},
      .lookback = period_window_lookback,
      .make = [](const Params& p) { return make_kernel<Wma>(p.get_int("period")); },
  });
  out.push_back({
      .name = "dema",
      .summary = "double exponential moving average: 2*EMA - EMA(EMA) (TA-Lib)",
      .talib = "DEMA",
      .inputs = {"input"},
      .params = {ema_period_param(20)},
      .units = {Unit::same_as_input(0)},
      .lookback =
          [](const Params& p) {
            const int n = p.get_int("period");
            return Lookback{std::int64_t{2} * (n - 1), 0, 2 * ema_settle(n)};
          },
      .make = [](const Params& p) { return make_kernel<Dema>(p.get_int("period")); },
  });
  out.push_back({
      .name = "tema",
      .summary = "triple exponential moving average: 3*EMA - 3*EMA(EMA) + EMA(EMA(EMA)) (TA-Lib)",
      .talib = "TEMA",
      .inputs = {"input"},
      .params = {ema_period_param(20)},
      .units = {Unit::same_as_input(0)},
      .lookback =
          [](const Params& p) {
            const int n = p.get_int("period");
            return Lookback{std::int64_t{3} * (n - 1), 0, 3 * ema_settle(n)};
          },
      .make = [](const Params& p) { return make_kernel<Tema>(p.get_int("period")); },
  });
  out.push_back({
      .name = "macd",
      .summary = "moving average convergence/divergence (TA-Lib): macd = EMA(fast) - EMA(slow), "
                 "signal = EMA(signal) of macd, hist = macd - signal",
      .talib = "MACD",
      .inputs = {"input"},
      .params = {{"fast", ParamType::kInt, 12, 2, 100000, "fast EMA period in bars"},
                 {"slow", ParamType::kInt, 26, 2, 100000, "slow EMA period in bars"},
                 {"signal", ParamType::kInt, 9, 1, 100000, "signal EMA period in bars"}},
      .outputs = {"macd", "signal", "hist"},
      .units = {Unit::same_units_as_input(0), Unit::same_units_as_input(0),
                Unit::same_units_as_input(0)},
      .lookback =
          [](const Params& p) {
            const int slow = p.get_int("slow"), signal = p.get_int("signal");
            return Lookback{(slow - 1) + (signal - 1), 0, ema_settle(slow) + ema_settle(signal)};
          },
      .make =
          [](const Params& p) {
            return make_kernel<Macd>(p.get_int("fast"), p.get_int("slow"), p.get_int("signal"));
          },
      .check = [](const Params& p) -> Status {
        const int fast = p.get_int("fast"), slow = p.get_int("slow");
        if (fast < slow) return Status();
        return Status::invalid_argument("parameters 'fast' (" + std::to_string(fast) +
                                        ") and 'slow' (" + std::to_string(slow) +
                                        "): fast must be less than slow")
            .with_parameter("fast");
      },
  });
}

}  // namespace tickgraph::analytics
