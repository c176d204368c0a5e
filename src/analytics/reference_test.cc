// Naive references for what TA-Lib cannot check: the functions it lacks (pct_change, log_return,
// volatility, zscore, drawdown, vwap, and the arithmetic with a constant) and every time-window
// form (`window: DURATION`). Each reference is written here the slow, obviously correct way:
// every window is recomputed from scratch, in long double. One harness runs each row through our
// batch form and our push form on a seeded random walk and compares each form's own output with
// the reference to 1e-9 relative. Small cases worked out by hand pin the conventions.
//
// This file also owns the coverage rule: a registry function must have a row here unless its
// registry row names a TA-Lib function (FunctionSpec::talib: then its rows are in
// talib_reference_test.cc, whose TalibTable test checks they are there), and every time-window and
// constant form must have a row here. Adding a function without a reference fails
// ReferenceCoverage.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "analytics/function.h"

namespace tickgraph::analytics {

namespace {

using Series = std::vector<double>;
using Outputs = std::vector<Series>;  // outputs[o][bar]

// ---------------------------------------------------------------------------------------------
// Data

struct Bars {
  std::vector<Timestamp> t;
  Series high, low, close, volume, other;
  Series close_return;  // (close - prev) / prev, NaN at bar 0
  std::size_t size() const { return t.size(); }
};

// A random walk with coherent OHLCV, one bar a minute with gaps of 3 minutes (so a time window
// holds a varying number of bars), a second correlated walk, and some bars without volume,
// including a run of 30 (so that vwap windows with no volume at all occur).
Bars random_walk(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> step(0.0, 0.01);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Bars b;
  double price = 100, other = 50;
  Timestamp t = 1'600'000'000 * kSecond;
  for (std::size_t i = 0; i < n; ++i) {
    t += kMinute * (u(rng) < 0.1 ? 3 : 1);
    const double open = price;
    price *= std::exp(step(rng));
    other *= std::exp(0.5 * step(rng) + 0.5 * (std::log(price) - std::log(open)));
    b.t.push_back(t);
    b.high.push_back(std::max(open, price) * (1 + 0.005 * u(rng)));
    b.low.push_back(std::min(open, price) * (1 - 0.005 * u(rng)));
    b.close.push_back(price);
    const bool silent = u(rng) < 0.02 || (i >= 1000 && i < 1030);
    b.volume.push_back(silent ? 0.0 : std::floor(1000 + 9000 * u(rng)));
    b.other.push_back(other);
  }
  b.close_return.assign(n, kNaN);
  for (std::size_t i = 1; i < n; ++i) {
    b.close_return[i] = (b.close[i] - b.close[i - 1]) / b.close[i - 1];
  }
  return b;
}

const Bars& walk() {
  static const Bars kWalk = random_walk(3000, 424242);
  return kWalk;
}

enum class In { kHigh, kLow, kClose, kVolume, kOther, kCloseReturn };

const Series& series(const Bars& b, In in) {
  switch (in) {
    case In::kHigh:
      return b.high;
    case In::kLow:
      return b.low;
    case In::kClose:
      return b.close;
    case In::kVolume:
      return b.volume;
    case In::kOther:
      return b.other;
    case In::kCloseReturn:
      return b.close_return;
  }
  return b.close;
}

// ---------------------------------------------------------------------------------------------
// The references

// A reference's values and, per value, the size of the terms it is computed from (see agree()).
struct Reference {
  Outputs value;
  Outputs floor;
  Reference(std::size_t outputs, std::size_t n)
      : value(outputs, Series(n, kNaN)), floor(outputs, Series(n, 0.0)) {}
};

// What a reference reads: the row's inputs, fed from bar `first` on.
struct Feed {
  const Bars& bars;
  std::vector<const Series*> in;
  std::size_t first;
  const Series& x(std::size_t k = 0) const { return *in[k]; }
};

using ReferenceFn = std::function<Reference(const Params&, const Feed&)>;

// The window ending at bar i as [lo, i]: the last `period` bars, or for a time window the bars
// with t > t[i] - window. False while the window is not yet complete: fewer than `period` bars,
// or less than `window` elapsed since the first bar fed.
bool window_at(const Params& p, const Feed& f, std::size_t i, std::size_t& lo) {
  if (p.window != 0) {
    const auto& t = f.bars.t;
    if (t[i] - t[f.first] < p.window) return false;
    lo = i;
    while (lo > f.first && t[lo - 1] > t[i] - p.window) --lo;
    return true;
  }
  const auto period = static_cast<std::size_t>(p.get_int("period"));
  if (i + 1 < f.first + period) return false;
  lo = i + 1 - period;
  return true;
}

long double mean_of(const Series& x, std::size_t lo, std::size_t hi) {
  long double s = 0;
  for (std::size_t j = lo; j <= hi; ++j) s += x[j];
  return s / static_cast<long double>(hi - lo + 1);
}

// Sum of squared deviations from the mean (two-pass).
long double squares_of(const Series& x, std::size_t lo, std::size_t hi) {
  const long double m = mean_of(x, lo, hi);
  long double s = 0;
  for (std::size_t j = lo; j <= hi; ++j) s += (x[j] - m) * (x[j] - m);
  return s;
}

double max_abs(const Series& x, std::size_t lo, std::size_t hi) {
  double m = 0;
  for (std::size_t j = lo; j <= hi; ++j) m = std::max(m, std::fabs(x[j]));
  return m;
}

// Runs `value(lo, i)` for every bar whose window is complete; floor = the window's input level.
template <class F>
Reference per_window(const Params& p, const Feed& f, F value) {
  Reference r(1, f.bars.size());
  for (std::size_t i = f.first, lo = 0; i < f.bars.size(); ++i) {
    if (!window_at(p, f, i, lo)) continue;
    r.value[0][i] = static_cast<double>(value(lo, i));
    r.floor[0][i] = max_abs(f.x(), lo, i);
  }
  return r;
}

Reference ref_sma(const Params& p, const Feed& f) {
  return per_window(p, f, [&](std::size_t lo, std::size_t i) { return mean_of(f.x(), lo, i); });
}

Reference ref_rolling_max(const Params& p, const Feed& f) {
  return per_window(p, f, [&](std::size_t lo, std::size_t i) {
    return *std::max_element(f.x().begin() + static_cast<std::ptrdiff_t>(lo),
                             f.x().begin() + static_cast<std::ptrdiff_t>(i) + 1);
  });
}

Reference ref_rolling_min(const Params& p, const Feed& f) {
  return per_window(p, f, [&](std::size_t lo, std::size_t i) {
    return *std::min_element(f.x().begin() + static_cast<std::ptrdiff_t>(lo),
                             f.x().begin() + static_cast<std::ptrdiff_t>(i) + 1);
  });
}

// The spread statistics, population standard deviation (TA-Lib's STDDEV convention) and
// (x - mean) / that standard deviation, both 0 when the variance is below 1e-14 as documented.
//
// Their floors follow from how a streaming kernel gets the variance: from running sums of x and
// x^2 (as TA-Lib does), exact to rounding of order eps * level^2, with level the size of x. That
// moves the standard deviation by eps * level^2 / stddev and the z-score by eps * (level /
// stddev)^2: tiny for a spread of a few percent of the level, but a window of two prices 0.001
// apart at 35 (which this walk has) turns it into 1e-5. The floors are those factors, so the
// comparison stays 1e-9 relative to what the arithmetic can resolve.
template <bool kZscore>
Reference ref_spread(const Params& p, const Feed& f) {
  Reference r(1, f.bars.size());
  for (std::size_t i = f.first, lo = 0; i < f.bars.size(); ++i) {
    if (!window_at(p, f, i, lo)) continue;
    const long double var = squares_of(f.x(), lo, i) / static_cast<long double>(i - lo + 1);
    const long double sd = std::sqrt(var);
    const long double level = max_abs(f.x(), lo, i);
    if (var < 1e-14L) {
      r.value[0][i] = 0;
      r.floor[0][i] = kZscore ? 1 : static_cast<double>(level);
    } else if (kZscore) {
      r.value[0][i] = static_cast<double>((f.x()[i] - mean_of(f.x(), lo, i)) / sd);
      r.floor[0][i] = static_cast<double>(level * level / var);
    } else {
      r.value[0][i] = static_cast<double>(sd);
      r.floor[0][i] = static_cast<double>(level * level / sd);
    }
  }
  return r;
}

// Sample standard deviation (n - 1) times sqrt(periods_per_year).
Reference ref_volatility(const Params& p, const Feed& f) {
  const long double annual = std::sqrt(static_cast<long double>(p.get("periods_per_year")));
  Reference r = per_window(p, f, [&](std::size_t lo, std::size_t i) {
    return std::sqrt(squares_of(f.x(), lo, i) / static_cast<long double>(i - lo)) * annual;
  });
  for (double& fl : r.floor[0]) fl *= static_cast<double>(annual);
  return r;
}

// sum(tp * volume) / sum(volume) with tp = (high + low + close) / 3; the latest tp when the window
// has no volume, as documented.
Reference ref_vwap(const Params& p, const Feed& f) {
  auto tp = [&](std::size_t j) {
    return (static_cast<long double>(f.x(0)[j]) + f.x(1)[j] + f.x(2)[j]) / 3;
  };
  Reference r(1, f.bars.size());
  for (std::size_t i = f.first, lo = 0; i < f.bars.size(); ++i) {
    if (!window_at(p, f, i, lo)) continue;
    long double pv = 0, v = 0;
    for (std::size_t j = lo; j <= i; ++j) {
      pv += tp(j) * f.x(3)[j];
      v += f.x(3)[j];
    }
    r.value[0][i] = static_cast<double>(v != 0 ? pv / v : tp(i));
    r.floor[0][i] = max_abs(f.x(0), lo, i);
  }
  return r;
}

// x / x[-period] - 1 and log(x / x[-period]); 0 when x[-period] is 0, as documented.
template <bool kLog>
Reference ref_lag(const Params& p, const Feed& f) {
  const auto lag = static_cast<std::size_t>(p.get_int("period"));
  Reference r(1, f.bars.size());
  for (std::size_t i = f.first + lag; i < f.bars.size(); ++i) {
    const long double x = f.x()[i], prev = f.x()[i - lag];
    const long double v = prev == 0 ? 0 : kLog ? std::log(x / prev) : (x - prev) / prev;
    r.value[0][i] = static_cast<double>(v);
    r.floor[0][i] = 1;
  }
  return r;
}

// x / (highest x over the last `period` bars, or since the first bar when period is 0) - 1.
Reference ref_drawdown(const Params& p, const Feed& f) {
  const auto period = static_cast<std::size_t>(p.get_int("period"));
  Reference r(1, f.bars.size());
  for (std::size_t i = f.first; i < f.bars.size(); ++i) {
    if (period != 0 && i + 1 < f.first + period) continue;
    const std::size_t lo = period == 0 ? f.first : i + 1 - period;
    double peak = f.x()[lo];
    for (std::size_t j = lo; j <= i; ++j) peak = std::max(peak, f.x()[j]);
    r.value[0][i] = static_cast<double>(static_cast<long double>(f.x()[i]) / peak - 1);
    r.floor[0][i] = 1;
  }
  return r;
}

// a op b, or a op value when the row gives the constant.
template <class Op>
Reference ref_arithmetic(const Params& p, const Feed& f) {
  Reference r(1, f.bars.size());
  for (std::size_t i = f.first; i < f.bars.size(); ++i) {
    const long double a = f.x(0)[i];
    const long double b = p.has("value") ? p.get("value") : f.x(1)[i];
    r.value[0][i] = static_cast<double>(Op{}(a, b));
    // Sums and differences are measured against their operands; products and quotients are
    // exact to one rounding, so against themselves.
    const bool additive =
        std::is_same_v<Op, std::plus<long double>> || std::is_same_v<Op, std::minus<long double>>;
    r.floor[0][i] = additive ? static_cast<double>(std::max(std::fabs(a), std::fabs(b))) : 0.0;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// The table

struct Row {
  std::string fn;
  std::vector<RawParam> params;  // as a spec writes them; empty = our defaults
  std::vector<In> inputs;        // in FunctionSpec::inputs order
  ReferenceFn reference;
};

const std::vector<Row>& table() {
  static const std::vector<Row> kRows = [] {
    std::vector<Row> r;
    const std::vector<In> close{In::kClose}, ret{In::kCloseReturn};
    const std::vector<In> hlcv{In::kHigh, In::kLow, In::kClose, In::kVolume};
    auto add = [&](std::string fn, std::vector<RawParam> params, std::vector<In> in,
                   ReferenceFn ref) {
      r.push_back({std::move(fn), std::move(params), std::move(in), std::move(ref)});
    };
    auto period = [](int p) { return std::vector<RawParam>{{"period", std::to_string(p)}}; };
    auto window = [](const char* w) { return std::vector<RawParam>{{"window", w}}; };

    for (const std::vector<RawParam>& p :
         {period(1), period(2), period(30), std::vector<RawParam>{}}) {
      add("pct_change", p, close, ref_lag<false>);
      add("log_return", p, close, ref_lag<true>);
    }
    auto vol = [](int p, const char* ppy) {
      return std::vector<RawParam>{{"period", std::to_string(p)}, {"periods_per_year", ppy}};
    };
    for (const auto& p : {vol(2, "252"), vol(20, "252"), vol(60, "52"), vol(30, "525600"),
                          std::vector<RawParam>{}}) {
      add("volatility", p, ret, ref_volatility);
    }
    for (const auto& p : {period(2), period(5), period(20), std::vector<RawParam>{}}) {
      add("zscore", p, close, ref_spread<true>);
    }
    for (const auto& p :
         {period(0), period(1), period(2), period(20), period(200), std::vector<RawParam>{}}) {
      add("drawdown", p, close, ref_drawdown);
    }
    for (const auto& p : {period(1), period(2), period(20), period(100), std::vector<RawParam>{}}) {
      add("vwap", p, hlcv, ref_vwap);
    }
    const std::vector<In> pair{In::kClose, In::kOther};
    for (const std::vector<RawParam>& p : std::vector<std::vector<RawParam>>{
             {}, {{"value", "2.5"}}, {{"value", "-1"}}, {{"value", "0"}}}) {
      const std::vector<In> in = p.empty() ? pair : close;
      add("add", p, in, ref_arithmetic<std::plus<long double>>);
      add("sub", p, in, ref_arithmetic<std::minus<long double>>);
      add("mul", p, in, ref_arithmetic<std::multiplies<long double>>);
      add("div", p, in, ref_arithmetic<std::divides<long double>>);  // value 0: +inf
    }

    // Time windows: 1m holds the latest bar only; 2m sometimes one bar, sometimes two (bars are
    // 1 or 3 minutes apart); 90s is not a multiple of the bar spacing; 1d spans ~1300 bars.
    for (const char* w : {"1m", "2m", "90s", "15m", "1h", "1d"}) {
      add("sma", window(w), close, ref_sma);
      add("rolling_max", window(w), close, ref_rolling_max);
      add("rolling_min", window(w), close, ref_rolling_min);
      add("vwap", window(w), hlcv, ref_vwap);
    }
    // The spread statistics from 4m on, where every window holds at least two bars; a window of
    // one bar has no spread, and is a hand case below.
    for (const char* w : {"4m", "15m", "1h", "1d"}) {
      add("stddev", window(w), close, ref_spread<false>);
      add("zscore", window(w), close, ref_spread<true>);
    }
    return r;
  }();
  return kRows;
}

// ---------------------------------------------------------------------------------------------
// The harness

// Ours agrees with the reference when |ours - ref| <= 1e-9 * max(|ours|, |ref|, floor, 1e-12).
// A value near zero (a return of 0.00001, a sum of opposite numbers) is a difference of numbers
// the size of the inputs, so two correct computations differ there by rounding of order
// eps x input, which is huge relative to the value: `floor` is the size of those terms (the
// inputs' level for averages and extremes, 1 for returns and ratios, the conditioning factors of
// ref_spread for the spread statistics); 1e-12 keeps a true zero from demanding exact equality.
// Infinities must match exactly.
bool agree(double ours, double ref, double floor) {
  if (std::isnan(ours) || std::isnan(ref)) return std::isnan(ours) && std::isnan(ref);
  if (std::isinf(ours) || std::isinf(ref)) return ours == ref;
  const double scale = std::max({std::fabs(ours), std::fabs(ref), floor, 1e-12});
  return std::fabs(ours - ref) <= 1e-9 * scale;
}

enum class Form { kBatch, kPush };

// Runs a fresh kernel over bars [first, n) in the given form; outputs before `first` stay NaN.
Outputs run(const FunctionSpec& f, const Params& p, const std::vector<Timestamp>& t,
            const std::vector<const Series*>& in, std::size_t first, Form form) {
  const std::size_t n = t.size(), outs = f.output_count();
  Outputs result(outs, Series(n, kNaN));
  if (first >= n) return result;
  auto kernel = f.make(p);
  if (form == Form::kBatch) {
    std::vector<const double*> x;
    std::vector<double*> y;
    for (const Series* s : in) x.push_back(s->data() + first);
    for (Series& o : result) y.push_back(o.data() + first);
    kernel->batch(t.data() + first, x.data(), y.data(), n - first);
  } else {
    std::vector<double> x(in.size()), y(outs);
    for (std::size_t i = first; i < n; ++i) {
      for (std::size_t k = 0; k < in.size(); ++k) x[k] = (*in[k])[i];
      kernel->push(t[i], x.data(), y.data());
      for (std::size_t o = 0; o < outs; ++o) result[o][i] = y[o];
    }
  }
  return result;
}

std::string label(const Row& row) {
  std::string s = row.fn + "(";
  for (std::size_t i = 0; i < row.params.size(); ++i) {
    s += (i ? ", " : "") + row.params[i].name + "=" + row.params[i].text;
  }
  return s + (row.params.empty() ? "defaults)" : ")");
}

class NaiveReference : public ::testing::TestWithParam<std::size_t> {};

TEST_P(NaiveReference, BatchAndPushEqualTheReference) {
  // Checks our batch and push outputs equal a from-scratch recomputation of every window, NaN
  // where the reference has no value yet, for one row of the table.
  const Row& row = table()[GetParam()];
  const Bars& b = walk();
  const FunctionSpec* f = registry().find(row.fn);
  ASSERT_NE(f, nullptr) << row.fn << " is not in the registry";
  auto params = bind_params(*f, row.params);
  ASSERT_TRUE(params.ok()) << params.message();
  ASSERT_EQ(f->input_count(*params), row.inputs.size()) << "the row feeds the wrong inputs";
  SCOPED_TRACE(label(row));

  Feed feed{b, {}, 0};
  for (In k : row.inputs) {
    feed.in.push_back(&series(b, k));
    if (k == In::kCloseReturn) feed.first = 1;  // returns start at bar 1
  }
  const Reference ref = row.reference(*params, feed);
  ASSERT_EQ(ref.value.size(), f->output_count());

  for (Form form : {Form::kBatch, Form::kPush}) {
    const Outputs ours = run(*f, *params, b.t, feed.in, feed.first, form);
    for (std::size_t o = 0; o < ours.size(); ++o) {
      std::size_t bad = 0, first_bad = 0;
      for (std::size_t i = 0; i < b.size(); ++i) {
        if (!agree(ours[o][i], ref.value[o][i], ref.floor[o][i]) && bad++ == 0) first_bad = i;
      }
      EXPECT_EQ(bad, 0u) << (form == Form::kBatch ? "batch" : "push") << " output " << o << ": "
                         << bad << " of " << b.size() << " bars differ; first at bar " << first_bad
                         << ": ours " << std::setprecision(17) << ours[o][first_bad]
                         << ", reference " << ref.value[o][first_bad];
    }
  }
}

std::string row_name(const ::testing::TestParamInfo<std::size_t>& info) {
  const Row& row = table()[info.param];
  std::string name = row.fn + (row.params.empty() ? "_defaults" : "");
  for (const RawParam& p : row.params) name += "_" + p.name + "_" + p.text;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Table, NaiveReference, ::testing::Range(std::size_t{0}, table().size()),
                         row_name);

TEST(ReferenceCoverage, EveryFunctionAndFormHasAReference) {
  // Checks every registry function is compared with a reference (TA-Lib or a naive one here),
  // and every time-window and constant form with a naive one, so none can be added untested.
  std::set<std::string> naive, windowed, with_constant;
  for (const Row& row : table()) {
    naive.insert(row.fn);
    for (const RawParam& p : row.params) {
      if (p.name == "window") windowed.insert(row.fn);
      if (p.name == "value") with_constant.insert(row.fn);
    }
  }
  for (const FunctionSpec& f : registry().all()) {
    EXPECT_TRUE(naive.count(f.name) || !f.talib.empty())
        << f.name << " has no reference: name its TA-Lib function in its registry row (`.talib`) "
        << "and add rows to talib_reference_test.cc, or add a naive reference row here";
    if (f.accepts_window) {
      EXPECT_TRUE(windowed.count(f.name)) << f.name << "'s time-window form has no reference row";
    }
    if (!f.constant_param.empty()) {
      EXPECT_TRUE(with_constant.count(f.name)) << f.name << "'s constant form has no reference row";
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-worked cases

// Runs fn on the given columns (one bar a minute unless times are given) in both forms, and
// checks each against `expected` for output `output` (NaN = no value yet).
void expect_outputs(const std::string& fn, const std::vector<RawParam>& raw,
                    const std::vector<Series>& columns, const Series& expected,
                    std::vector<Timestamp> t = {}, std::size_t output = 0) {
  SCOPED_TRACE(fn);
  const FunctionSpec* f = registry().find(fn);
  ASSERT_NE(f, nullptr) << fn << " is not in the registry";
  auto p = bind_params(*f, raw);
  ASSERT_TRUE(p.ok()) << p.message();
  const std::size_t n = expected.size();
  if (t.empty()) {
    for (std::size_t i = 0; i < n; ++i) t.push_back(static_cast<Timestamp>(i + 1) * kMinute);
  }
  std::vector<const Series*> in;
  for (const Series& c : columns) in.push_back(&c);
  ASSERT_EQ(in.size(), f->input_count(*p));
  for (Form form : {Form::kBatch, Form::kPush}) {
    const Outputs ours = run(*f, *p, t, in, 0, form);
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_TRUE(agree(ours[output][i], expected[i], 1e-3))
          << (form == Form::kBatch ? "batch" : "push") << " bar " << i << ": ours "
          << std::setprecision(17) << ours[output][i] << ", expected " << expected[i];
    }
  }
}

constexpr double kNone = kNaN;

TEST(HandCases, PctChangeAndLogReturn) {
  // Checks one-bar changes of 100, 110, 99: +10 % then -10 %; as logs, ln(1.1) and ln(0.9).
  expect_outputs("pct_change", {}, {{100, 110, 99}}, {kNone, 0.1, -0.1});
  expect_outputs("log_return", {}, {{100, 110, 99}},
                 {kNone, 0.09531017980432493, -0.10536051565782628});
  // Two bars back: 99 / 100 - 1 = -0.01; and a zero base gives 0 (documented), not inf.
  expect_outputs("pct_change", {{"period", "2"}}, {{100, 110, 99}}, {kNone, kNone, -0.01});
  expect_outputs("pct_change", {}, {{0, 5, 10}}, {kNone, 0.0, 1.0});
}

TEST(HandCases, VolatilityIsSampleStdTimesSqrtOfPeriodsPerYear) {
  // Checks returns 0.01, 0.03, 0.05: mean 0.03, squared deviations 0.0004 + 0 + 0.0004 = 0.0008,
  // over n - 1 = 2: 0.0004, std 0.02; times sqrt(100) = 0.2, times sqrt(252) = 0.02 * 15.874507866
  // = 0.3174901573277509.
  expect_outputs("volatility", {{"period", "3"}, {"periods_per_year", "100"}}, {{0.01, 0.03, 0.05}},
                 {kNone, kNone, 0.2});
  expect_outputs("volatility", {{"period", "3"}}, {{0.01, 0.03, 0.05}},
                 {kNone, kNone, 0.3174901573277509});
  // A window of equal returns has no spread: 0 (documented).
  expect_outputs("volatility", {{"period", "2"}}, {{0.01, 0.01, 0.01}}, {kNone, 0.0, 0.0});
}

TEST(HandCases, ZscoreUsesThePopulationStd) {
  // Checks 1, 2, 3 over 3 bars: mean 2, population variance (1 + 0 + 1) / 3 = 2/3, so
  // z = (3 - 2) / sqrt(2/3) = sqrt(1.5) = 1.2247448713915890; then 2, 3, 6: mean 11/3,
  // variance (25/9 + 4/9 + 49/9) / 3 = 78/27, z = (6 - 11/3) / sqrt(78/27) = 1.3728129459672882.
  expect_outputs("zscore", {{"period", "3"}}, {{1, 2, 3, 6}},
                 {kNone, kNone, 1.2247448713915890, 1.3728129459672882});
  // A window of equal values: 0 (documented), not 0/0.
  expect_outputs("zscore", {{"period", "2"}}, {{5, 5, 5}}, {kNone, 0.0, 0.0});
}

TEST(HandCases, DrawdownFromThePeak) {
  // Checks 100, 120, 90, 80, 130 against the peak so far: 0, 0, 90/120 - 1 = -0.25,
  // 80/120 - 1 = -1/3, 0; against the peak of the last 2 bars: -, 0, -0.25, 80/90 - 1 = -1/9, 0.
  expect_outputs("drawdown", {}, {{100, 120, 90, 80, 130}}, {0, 0, -0.25, -1.0 / 3, 0});
  expect_outputs("drawdown", {{"period", "2"}}, {{100, 120, 90, 80, 130}},
                 {kNone, 0, -0.25, -1.0 / 9, 0});
}

TEST(HandCases, VwapOfTypicalPrices) {
  // Checks bars with typical prices (h + l + c) / 3 of 10, 20, 30, 40 and volumes 100, 300, 0,
  // 0: over 2 bars, (10*100 + 20*300) / 400 = 17.5, then (20*300 + 30*0) / 300 = 20, then a
  // window with no volume gives the latest typical price, 40 (documented).
  const Series high{12, 22, 33, 44}, low{8, 18, 27, 36}, close{10, 20, 30, 40};
  const Series volume{100, 300, 0, 0};
  expect_outputs("vwap", {{"period", "2"}}, {high, low, close, volume}, {kNone, 17.5, 20, 40});
}

TEST(HandCases, ArithmeticFollowsIeee) {
  // Checks 6 op 3 and the IEEE edge cases of division: 1 / 0 = +inf, -1 / 0 = -inf, 0 / 0 = NaN.
  const double inf = std::numeric_limits<double>::infinity();
  expect_outputs("add", {}, {{6}, {3}}, {9});
  expect_outputs("sub", {}, {{6}, {3}}, {3});
  expect_outputs("mul", {}, {{6}, {3}}, {18});
  expect_outputs("div", {}, {{6, 1, -1}, {3, 0, 0}}, {2, inf, -inf});
  expect_outputs("mul", {{"value", "100"}}, {{0.0125}}, {1.25});
  expect_outputs("div", {{"value", "0"}}, {{0.0}}, {kNone});  // 0 / 0
}

TEST(HandCases, MacdWithSignalOneHasItsSignalOnTheMacdLine) {
  // Checks macd with signal 1 (which TA-Lib mishandles, so talib_reference_test.cc cannot): an
  // EMA of factor 2 / (1 + 1) = 1 is its input, so signal = macd and hist = 0, and the macd line
  // is the one of any other signal period (its EMAs do not depend on it), from bar slow - 1 on.
  const Series x{10, 11, 13, 12, 15, 14, 18, 17, 16, 19};
  const std::vector<Timestamp> t = [] {
    std::vector<Timestamp> v;
    for (int i = 1; i <= 10; ++i) v.push_back(i * kMinute);
    return v;
  }();
  const FunctionSpec* f = registry().find("macd");
  ASSERT_NE(f, nullptr);
  auto one = bind_params(*f, {{"fast", "2"}, {"slow", "3"}, {"signal", "1"}});
  auto two = bind_params(*f, {{"fast", "2"}, {"slow", "3"}, {"signal", "2"}});
  ASSERT_TRUE(one.ok() && two.ok());
  const Outputs line = run(*f, *two, t, {&x}, 0, Form::kBatch);
  for (Form form : {Form::kBatch, Form::kPush}) {
    const Outputs o = run(*f, *one, t, {&x}, 0, form);
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (i < 2) {
        EXPECT_TRUE(std::isnan(o[0][i]) && std::isnan(o[1][i]) && std::isnan(o[2][i])) << i;
        continue;
      }
      EXPECT_EQ(o[1][i], o[0][i]) << "bar " << i;
      EXPECT_EQ(o[2][i], 0.0) << "bar " << i;
      if (i >= 3) {
        EXPECT_TRUE(agree(o[0][i], line[0][i], 20)) << "bar " << i;
      }
    }
  }
}

TEST(HandCases, TimeWindowsCoverTheLastDuration) {
  // Checks a 2m window (t - 2m, t] on bars at 1, 2, 3, 6 minutes with values 1, 2, 3, 4: no value
  // until 2m after the first bar; at 3m the window holds the bars at 2m and 3m: mean 2.5, max 3,
  // min 2, population std 0.5, z (3 - 2.5) / 0.5 = 1; at 6m only the bar at 6m: mean = max =
  // min = 4, std 0, z 0.
  const std::vector<Timestamp> t{kMinute, 2 * kMinute, 3 * kMinute, 6 * kMinute};
  const Series x{1, 2, 3, 4};
  const std::vector<RawParam> w{{"window", "2m"}};
  expect_outputs("sma", w, {x}, {kNone, kNone, 2.5, 4}, t);
  expect_outputs("rolling_max", w, {x}, {kNone, kNone, 3, 4}, t);
  expect_outputs("rolling_min", w, {x}, {kNone, kNone, 2, 4}, t);
  expect_outputs("stddev", w, {x}, {kNone, kNone, 0.5, 0}, t);
  expect_outputs("zscore", w, {x}, {kNone, kNone, 1, 0}, t);
  // vwap with typical price = x (high = low = close) and volumes 1, 1, 3, 2: (2*1 + 3*3) / 4.
  const Series v{1, 1, 3, 2};
  expect_outputs("vwap", w, {x, x, x, v}, {kNone, kNone, 2.75, 4}, t);
}

}  // namespace
}  // namespace tickgraph::analytics
