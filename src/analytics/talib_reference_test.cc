// Compares every function TA-Lib also has with TA-Lib's own C library (built from the npm
// package's source as talib_ref). One table row per (our function, our parameters, the TA-Lib
// call that must give the same numbers); each row runs on a seeded random walk with coherent
// OHLCV and on the S&P 500 daily bars 2000-2020, once through our batch form and once bar by bar
// through our push form, and each form's own output buffer is compared with TA-Lib's.
//
// What "the same" means: our outputs are full length with NaN before the lookback, TA-Lib's are
// compacted from outBegIdx, so ours must be NaN exactly before outBegIdx, and from there equal to
// TA-Lib's to 1e-9 relative (see agree() for the scale used near zero).
//
// Which functions TA-Lib checks is the registry's to say: a registry row naming a TA-Lib function
// (FunctionSpec::talib) must have rows here, and TalibTable.CoversExactlyTheTalibOracleList fails
// when one has none or a row compares a function whose registry row names none (or another).
// Functions TA-Lib lacks have a naive reference in reference_test.cc, whose coverage test fails
// when a registry function has neither.
#include <gtest/gtest.h>
#include <ta_libc.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iomanip>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "analytics/function.h"

namespace tickgraph::analytics {
namespace {

using Series = std::vector<double>;
using Outputs = std::vector<Series>;  // outputs[o][bar]

// ---------------------------------------------------------------------------------------------
// Data

struct Bars {
  std::string name;
  std::vector<Timestamp> t;
  Series open, high, low, close, volume;
  // A second price series for the two-input functions: a walk correlated with close for the
  // random walk, the daily high for the S&P 500 (the file has one instrument).
  Series other;
  // One-bar returns (p - prev) / prev, NaN at bar 0: what a spec feeds beta.
  Series close_return, other_return;
  std::size_t size() const { return t.size(); }
};

Series one_bar_returns(const Series& p) {
  Series r(p.size(), std::nan(""));
  for (std::size_t i = 1; i < p.size(); ++i) r[i] = (p[i] - p[i - 1]) / p[i - 1];
  return r;
}

void finish(Bars& b) {
  b.close_return = one_bar_returns(b.close);
  b.other_return = one_bar_returns(b.other);
}

// A random walk with coherent OHLCV (low <= open, close <= high), one bar a minute with
// occasional gaps, volumes whole numbers.
Bars random_walk(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> step(0.0, 0.01);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Bars b;
  b.name = "random_walk";
  double price = 100, other = 50;
  Timestamp t = 1'600'000'000 * kSecond;
  for (std::size_t i = 0; i < n; ++i) {
    t += kMinute * (u(rng) < 0.1 ? 3 : 1);
    const double open = price;
    price *= std::exp(step(rng));
    other *= std::exp(0.5 * step(rng) + 0.5 * (std::log(price) - std::log(open)));
    b.t.push_back(t);
    b.open.push_back(open);
    b.high.push_back(std::max(open, price) * (1 + 0.005 * u(rng)));
    b.low.push_back(std::min(open, price) * (1 - 0.005 * u(rng)));
    b.close.push_back(price);
    b.volume.push_back(std::floor(1000 + 9000 * u(rng)));
    b.other.push_back(other);
  }
  finish(b);
  return b;
}

// vega-datasets' sp500-2000.csv: date,open,high,low,close,adjclose,volume, one row a trading day.
Bars sp500() {
  Bars b;
  b.name = "sp500";
  std::ifstream in(TICKGRAPH_SP500_CSV);
  EXPECT_TRUE(in) << "cannot read " << TICKGRAPH_SP500_CSV << " (run scripts/bootstrap.sh)";
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::stringstream row(line);
    std::string date, cell;
    std::getline(row, date, ',');
    double v[6];
    for (double& x : v) {
      std::getline(row, cell, ',');
      x = std::stod(cell);
    }
    auto t = parse_timestamp(date);
    EXPECT_TRUE(t.ok()) << line;
    b.t.push_back(t.ok() ? *t : 0);
    b.open.push_back(v[0]);
    b.high.push_back(v[1]);
    b.low.push_back(v[2]);
    b.close.push_back(v[3]);
    b.volume.push_back(v[5]);
    b.other.push_back(v[1]);
  }
  EXPECT_GT(b.size(), 5000u) << "sp500-2000.csv looks truncated";
  finish(b);
  return b;
}

enum class Dataset { kRandomWalk, kSp500 };

const Bars& bars(Dataset d) {
  static const Bars kWalk = random_walk(5000, 20240611);
  static const Bars kSp500 = sp500();
  return d == Dataset::kRandomWalk ? kWalk : kSp500;
}

enum class In { kHigh, kLow, kClose, kVolume, kOther, kCloseReturn, kOtherReturn };

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
    case In::kOtherReturn:
      return b.other_return;
  }
  return b.close;
}

// ---------------------------------------------------------------------------------------------
// TA-Lib calls

struct TalibOutput {
  TA_RetCode rc = TA_SUCCESS;
  int begin = 0;
  int count = 0;
  Outputs values;  // values[o][j]: TA-Lib's output o for bar begin + j
};

using TalibCall = std::function<TalibOutput(const Params&, const Bars&)>;

TalibOutput outputs_for(const Bars& b, std::size_t count) {
  TalibOutput r;
  r.values.assign(count, Series(b.size(), std::nan("")));
  return r;
}

int last(const Bars& b) { return static_cast<int>(b.size()) - 1; }

using TaPeriodFn = TA_RetCode (*)(int, int, const double[], int, int*, int*, double[]);
using TaPeriodDevFn = TA_RetCode (*)(int, int, const double[], int, double, int*, int*, double[]);
using TaHlcPeriodFn = TA_RetCode (*)(int, int, const double[], const double[], const double[], int,
                                     int*, int*, double[]);
using TaPairPeriodFn = TA_RetCode (*)(int, int, const double[], const double[], int, int*, int*,
                                      double[]);
using TaPairFn = TA_RetCode (*)(int, int, const double[], const double[], int*, int*, double[]);

TalibCall period_call(TaPeriodFn f, In in) {
  return [=](const Params& p, const Bars& b) {
    TalibOutput r = outputs_for(b, 1);
    r.rc = f(0, last(b), series(b, in).data(), p.get_int("period"), &r.begin, &r.count,
             r.values[0].data());
    return r;
  };
}

// TA-Lib STDDEV and VAR with nbdev 1 (ours are the plain population statistics).
TalibCall period_dev_call(TaPeriodDevFn f, In in) {
  return [=](const Params& p, const Bars& b) {
    TalibOutput r = outputs_for(b, 1);
    r.rc = f(0, last(b), series(b, in).data(), p.get_int("period"), 1.0, &r.begin, &r.count,
             r.values[0].data());
    return r;
  };
}

TalibCall hlc_period_call(TaHlcPeriodFn f) {
  return [=](const Params& p, const Bars& b) {
    TalibOutput r = outputs_for(b, 1);
    r.rc = f(0, last(b), b.high.data(), b.low.data(), b.close.data(), p.get_int("period"), &r.begin,
             &r.count, r.values[0].data());
    return r;
  };
}

TalibCall pair_period_call(TaPairPeriodFn f, In in0, In in1) {
  return [=](const Params& p, const Bars& b) {
    TalibOutput r = outputs_for(b, 1);
    r.rc = f(0, last(b), series(b, in0).data(), series(b, in1).data(), p.get_int("period"),
             &r.begin, &r.count, r.values[0].data());
    return r;
  };
}

TalibCall pair_call(TaPairFn f, In in0, In in1) {
  return [=](const Params&, const Bars& b) {
    TalibOutput r = outputs_for(b, 1);
    r.rc = f(0, last(b), series(b, in0).data(), series(b, in1).data(), &r.begin, &r.count,
             r.values[0].data());
    return r;
  };
}

TalibOutput ta_trange(const Params&, const Bars& b) {
  TalibOutput r = outputs_for(b, 1);
  r.rc = TA_TRANGE(0, last(b), b.high.data(), b.low.data(), b.close.data(), &r.begin, &r.count,
                   r.values[0].data());
  return r;
}

TalibOutput ta_obv(const Params&, const Bars& b) {
  TalibOutput r = outputs_for(b, 1);
  r.rc =
      TA_OBV(0, last(b), b.close.data(), b.volume.data(), &r.begin, &r.count, r.values[0].data());
  return r;
}

TalibOutput ta_macd(const Params& p, const Bars& b) {
  TalibOutput r = outputs_for(b, 3);
  r.rc =
      TA_MACD(0, last(b), b.close.data(), p.get_int("fast"), p.get_int("slow"), p.get_int("signal"),
              &r.begin, &r.count, r.values[0].data(), r.values[1].data(), r.values[2].data());
  return r;
}

// BBANDS over an SMA (matype 0), both bands k standard deviations away.
TalibOutput ta_bbands(const Params& p, const Bars& b) {
  TalibOutput r = outputs_for(b, 3);
  r.rc = TA_BBANDS(0, last(b), b.close.data(), p.get_int("period"), p.get("k"), p.get("k"),
                   TA_MAType_SMA, &r.begin, &r.count, r.values[0].data(), r.values[1].data(),
                   r.values[2].data());
  return r;
}

// STOCH with SMA smoothing for both slowk and slowd.
TalibOutput ta_stoch(const Params& p, const Bars& b) {
  TalibOutput r = outputs_for(b, 2);
  r.rc = TA_STOCH(0, last(b), b.high.data(), b.low.data(), b.close.data(), p.get_int("fastk"),
                  p.get_int("slowk"), TA_MAType_SMA, p.get_int("slowd"), TA_MAType_SMA, &r.begin,
                  &r.count, r.values[0].data(), r.values[1].data());
  return r;
}

// ---------------------------------------------------------------------------------------------
// Exact values for the statistics whose TA-Lib formula cancels (see agree()): long double,
// two-pass, each window recomputed from scratch.

struct Moments {
  long double mean_x = 0, mean_y = 0, var_x = 0, var_y = 0, cov = 0;
};

Moments moments(const Series& x, const Series& y, std::size_t end, std::size_t n) {
  Moments m;
  for (std::size_t j = end + 1 - n; j <= end; ++j) {
    m.mean_x += x[j];
    m.mean_y += y[j];
  }
  m.mean_x /= static_cast<long double>(n);
  m.mean_y /= static_cast<long double>(n);
  for (std::size_t j = end + 1 - n; j <= end; ++j) {
    const long double dx = x[j] - m.mean_x, dy = y[j] - m.mean_y;
    m.var_x += dx * dx;
    m.var_y += dy * dy;
    m.cov += dx * dy;
  }
  m.var_x /= static_cast<long double>(n);
  m.var_y /= static_cast<long double>(n);
  m.cov /= static_cast<long double>(n);
  return m;
}

using ExactFn = std::function<Outputs(const Params&, const Bars&)>;

// Runs `f(moments of the window ending at i)` for every bar with a full window of `period`
// values of x and y starting at bar `first`, filling outputs NaN elsewhere.
template <class F>
Outputs windowed(const Bars& b, const Series& x, const Series& y, std::size_t first, int period,
                 std::size_t count, F f) {
  Outputs out(count, Series(b.size(), std::nan("")));
  const auto p = static_cast<std::size_t>(period);
  for (std::size_t i = first + p - 1; i < b.size(); ++i) f(i, moments(x, y, i, p), out);
  return out;
}

Outputs exact_var(const Params& p, const Bars& b) {
  return windowed(
      b, b.close, b.close, 0, p.get_int("period"), 1,
      [](std::size_t i, const Moments& m, Outputs& o) { o[0][i] = static_cast<double>(m.var_x); });
}

Outputs exact_stddev(const Params& p, const Bars& b) {
  return windowed(b, b.close, b.close, 0, p.get_int("period"), 1,
                  [](std::size_t i, const Moments& m, Outputs& o) {
                    o[0][i] = static_cast<double>(std::sqrt(m.var_x));
                  });
}

Outputs exact_bbands(const Params& p, const Bars& b) {
  const long double k = p.get("k");
  return windowed(b, b.close, b.close, 0, p.get_int("period"), 3,
                  [k](std::size_t i, const Moments& m, Outputs& o) {
                    const long double sd = std::sqrt(m.var_x);
                    o[0][i] = static_cast<double>(m.mean_x + k * sd);
                    o[1][i] = static_cast<double>(m.mean_x);
                    o[2][i] = static_cast<double>(m.mean_x - k * sd);
                  });
}

Outputs exact_correlation(const Params& p, const Bars& b) {
  return windowed(b, b.close, b.other, 0, p.get_int("period"), 1,
                  [](std::size_t i, const Moments& m, Outputs& o) {
                    const long double v = m.var_x * m.var_y;
                    o[0][i] = v > 0 ? static_cast<double>(m.cov / std::sqrt(v)) : 0.0;
                  });
}

// Slope of close returns on other returns; the windows start at bar 1, the first return.
Outputs exact_beta(const Params& p, const Bars& b) {
  return windowed(b, b.close_return, b.other_return, 1, p.get_int("period"), 1,
                  [](std::size_t i, const Moments& m, Outputs& o) {
                    o[0][i] = m.var_y > 0 ? static_cast<double>(m.cov / m.var_y) : 0.0;
                  });
}

// ---------------------------------------------------------------------------------------------
// The table

// The size of the terms an output is computed from, below which a difference is not measured
// relative to the output itself (see agree()).
enum class Scale {
  kInput,         // the inputs' level at that bar: prices, volumes (averages, ranges, MACD)
  kInputSquared,  // its square (variance)
  kPercent,       // 100: oscillators and changes in percent (RSI, %R, stochastics, CCI, ROC)
  kRatio,         // 1: correlations, slopes, fractional changes
  kValue,         // the value itself (products and quotients are exact to rounding)
};

struct Row {
  std::string fn;                // our function
  std::vector<RawParam> params;  // as a spec writes them; empty = our defaults
  std::vector<In> inputs;        // what our kernel reads, in FunctionSpec::inputs order
  std::string talib;             // the TA-Lib function, for messages
  TalibCall call;                // reads our bound parameters, so the defaults row is exact
  Scale scale;
  ExactFn exact = nullptr;  // where TA-Lib's formula cancels (see agree())
};

std::vector<RawParam> period(int p) { return {{"period", std::to_string(p)}}; }

const std::vector<Row>& table() {
  static const std::vector<Row> kRows = [] {
    std::vector<Row> r;
    const std::vector<In> close{In::kClose}, hlc{In::kHigh, In::kLow, In::kClose};
    // One row per period and one with no parameters (our defaults). The smallest period is the
    // smallest TA-Lib accepts.
    auto periods = [&](const std::string& fn, std::initializer_list<int> ps,
                       const std::vector<In>& in, const std::string& ta, const TalibCall& call,
                       Scale scale, const ExactFn& exact = nullptr) {
      for (int p : ps) r.push_back({fn, period(p), in, ta, call, scale, exact});
      r.push_back({fn, {}, in, ta, call, scale, exact});
    };
    periods("sma", {2, 5, 30, 200}, close, "TA_SMA", period_call(TA_SMA, In::kClose),
            Scale::kInput);
    periods("ema", {2, 10, 50}, close, "TA_EMA", period_call(TA_EMA, In::kClose), Scale::kInput);
    periods("wma", {2, 9, 50}, close, "TA_WMA", period_call(TA_WMA, In::kClose), Scale::kInput);
    periods("dema", {2, 10, 30}, close, "TA_DEMA", period_call(TA_DEMA, In::kClose), Scale::kInput);
    periods("tema", {2, 10, 30}, close, "TA_TEMA", period_call(TA_TEMA, In::kClose), Scale::kInput);
    periods("rsi", {2, 7, 30}, close, "TA_RSI", period_call(TA_RSI, In::kClose), Scale::kPercent);
    periods("mom", {1, 2, 30}, close, "TA_MOM", period_call(TA_MOM, In::kClose), Scale::kInput);
    periods("roc", {1, 2, 30}, close, "TA_ROC", period_call(TA_ROC, In::kClose), Scale::kPercent);
    // pct_change is TA-Lib's ROCP: (p - prev) / prev.
    periods("pct_change", {1, 2, 30}, close, "TA_ROCP", period_call(TA_ROCP, In::kClose),
            Scale::kRatio);
    periods("rolling_max", {2, 10, 50}, close, "TA_MAX", period_call(TA_MAX, In::kClose),
            Scale::kInput);
    periods("rolling_min", {2, 10, 50}, close, "TA_MIN", period_call(TA_MIN, In::kClose),
            Scale::kInput);
    periods("var", {1, 2, 10}, close, "TA_VAR(nbdev 1)", period_dev_call(TA_VAR, In::kClose),
            Scale::kInputSquared, exact_var);
    periods("stddev", {2, 5, 50}, close, "TA_STDDEV(nbdev 1)",
            period_dev_call(TA_STDDEV, In::kClose), Scale::kInput, exact_stddev);
    periods("atr", {1, 2, 30}, hlc, "TA_ATR", hlc_period_call(TA_ATR), Scale::kInput);
    periods("willr", {2, 5, 30}, hlc, "TA_WILLR", hlc_period_call(TA_WILLR), Scale::kPercent);
    periods("cci", {2, 5, 20}, hlc, "TA_CCI", hlc_period_call(TA_CCI), Scale::kPercent);
    // Period 1 is left out of the pair statistics: a one-point correlation or slope is 0/0, for
    // which TA-Lib's 0 is a placeholder, not a value to agree with.
    periods("correlation", {2, 5, 30}, {In::kClose, In::kOther}, "TA_CORREL",
            pair_period_call(TA_CORREL, In::kClose, In::kOther), Scale::kRatio, exact_correlation);
    // Our beta(a, b) regresses a on b over the returns it is given; TA_BETA takes prices, makes
    // one-bar returns itself and regresses inReal1's on inReal0's: so beta(ret(close),
    // ret(other)) against TA_BETA(inReal0 = other, inReal1 = close).
    periods("beta", {2, 5, 30}, {In::kCloseReturn, In::kOtherReturn},
            "TA_BETA(other, close) on prices", pair_period_call(TA_BETA, In::kOther, In::kClose),
            Scale::kRatio, exact_beta);

    r.push_back({"trange", {}, hlc, "TA_TRANGE", ta_trange, Scale::kInput});
    r.push_back({"obv", {}, {In::kClose, In::kVolume}, "TA_OBV", ta_obv, Scale::kInput});
    // TA-Lib's math operators, on close and the second series.
    const std::vector<In> pair{In::kClose, In::kOther};
    r.push_back(
        {"add", {}, pair, "TA_ADD", pair_call(TA_ADD, In::kClose, In::kOther), Scale::kInput});
    r.push_back(
        {"sub", {}, pair, "TA_SUB", pair_call(TA_SUB, In::kClose, In::kOther), Scale::kInput});
    r.push_back(
        {"mul", {}, pair, "TA_MULT", pair_call(TA_MULT, In::kClose, In::kOther), Scale::kValue});
    r.push_back(
        {"div", {}, pair, "TA_DIV", pair_call(TA_DIV, In::kClose, In::kOther), Scale::kValue});

    auto macd = [](int fast, int slow, int signal) {
      return std::vector<RawParam>{{"fast", std::to_string(fast)},
                                   {"slow", std::to_string(slow)},
                                   {"signal", std::to_string(signal)}};
    };
    // Not signal 1: TA-Lib accepts it but TA_EMA_Lookback(1) is -1, so its MACD comes out two
    // bars short and shifted (reference_test.cc checks our signal-1 form instead).
    for (const auto& params : {macd(2, 3, 2), macd(5, 35, 5), macd(8, 17, 9), macd(12, 26, 9),
                               std::vector<RawParam>{}}) {
      r.push_back({"macd", params, close, "TA_MACD", ta_macd, Scale::kInput});
    }
    auto bb = [](int p, const char* k) {
      return std::vector<RawParam>{{"period", std::to_string(p)}, {"k", k}};
    };
    for (const auto& params : {bb(2, "1"), bb(2, "2"), bb(10, "1.5"), bb(20, "2"), bb(50, "3"),
                               std::vector<RawParam>{}}) {
      r.push_back(
          {"bbands", params, close, "TA_BBANDS(SMA)", ta_bbands, Scale::kInput, exact_bbands});
    }
    auto stoch = [](int fastk, int slowk, int slowd) {
      return std::vector<RawParam>{{"fastk", std::to_string(fastk)},
                                   {"slowk", std::to_string(slowk)},
                                   {"slowd", std::to_string(slowd)}};
    };
    for (const auto& params : {stoch(1, 1, 1), stoch(2, 1, 2), stoch(5, 3, 3), stoch(14, 3, 3),
                               stoch(14, 1, 5), std::vector<RawParam>{}}) {
      r.push_back({"stoch", params, hlc, "TA_STOCH(SMA, SMA)", ta_stoch, Scale::kPercent});
    }
    return r;
  }();
  return kRows;
}

// ---------------------------------------------------------------------------------------------
// The harness

double scale_floor(Scale s, const std::vector<const Series*>& in, std::size_t i) {
  double level = 0;
  for (const Series* x : in) {
    if (std::isfinite((*x)[i])) level = std::max(level, std::fabs((*x)[i]));
  }
  switch (s) {
    case Scale::kInput:
      return level;
    case Scale::kInputSquared:
      return level * level;
    case Scale::kPercent:
      return 100;
    case Scale::kRatio:
      return 1;
    case Scale::kValue:
      return 0;
  }
  return 0;
}

// Ours agrees with TA-Lib's when |ours - ta| <= 1e-9 * max(|ours|, |ta|, floor, 1e-12) + slack.
//
// Why a floor and not plain relative error: values near zero (a MACD line crossing zero, a
// momentum of a few cents, a ROC of 0.001 %) are differences of numbers the size of the price,
// so any two correct implementations differ there by rounding of order eps x price, which is
// huge relative to the value. `floor` is the size of the terms the output is computed from (the
// input level, its square for a variance, 100 for a percentage, 1 for a ratio); 1e-12 keeps a
// true zero from demanding exact equality.
//
// Why slack: TA-Lib computes variance, correlation and slope from running raw sums (sum x^2 -
// (sum x)^2 / n), which cancels catastrophically when a window's spread is tiny next to its level
// (two nearly equal prices at period 2): there TA-Lib itself is off the exact value by far more
// than 1e-9 (1e-8 for STDDEV(2), 1e-3 for CORREL(2) on these data). Where the row has an exact
// reference, ours may also differ from TA-Lib by twice TA-Lib's own distance from the exact value,
// so an implementation at least as accurate as TA-Lib passes; elsewhere slack is 0.
bool agree(double ours, double ta, double floor, double slack) {
  if (std::isnan(ours) || std::isnan(ta)) return std::isnan(ours) && std::isnan(ta);
  if (std::isinf(ours) || std::isinf(ta)) return ours == ta;
  const double scale = std::max({std::fabs(ours), std::fabs(ta), floor, 1e-12});
  return std::fabs(ours - ta) <= 1e-9 * scale + slack;
}

enum class Form { kBatch, kPush };

// Runs a fresh kernel over bars [first, n) of `in` in the given form; outputs before `first`
// stay NaN (the executors do not feed a node until its inputs have values).
Outputs run(const FunctionSpec& f, const Params& p, const Bars& b,
            const std::vector<const Series*>& in, std::size_t first, Form form) {
  const std::size_t n = b.size(), outs = f.output_count();
  Outputs result(outs, Series(n, std::nan("")));
  if (first >= n) return result;
  auto kernel = f.make(p);
  if (form == Form::kBatch) {
    std::vector<const double*> x;
    std::vector<double*> y;
    for (const Series* s : in) x.push_back(s->data() + first);
    for (Series& o : result) y.push_back(o.data() + first);
    kernel->batch(b.t.data() + first, x.data(), y.data(), n - first);
  } else {
    std::vector<double> x(in.size()), y(outs);
    for (std::size_t i = first; i < n; ++i) {
      for (std::size_t k = 0; k < in.size(); ++k) x[k] = (*in[k])[i];
      kernel->push(b.t[i], x.data(), y.data());
      for (std::size_t o = 0; o < outs; ++o) result[o][i] = y[o];
    }
  }
  return result;
}

std::string describe(const Row& row, const Params& p) {
  std::string s = row.fn + "(";
  for (std::size_t i = 0; i < p.values().size(); ++i) {
    std::ostringstream v;
    v << p.values()[i].first << "=" << p.values()[i].second;
    s += (i ? ", " : "") + v.str();
  }
  return s + ") vs " + row.talib;
}

struct Case {
  std::size_t row;
  Dataset dataset;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << "row " << c.row << " on " << (c.dataset == Dataset::kRandomWalk ? "random walk" : "sp500");
}

class TalibReference : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() { ASSERT_EQ(TA_Initialize(), TA_SUCCESS); }
};

TEST_P(TalibReference, BatchAndPushEqualTalib) {
  // Checks our batch and push outputs are NaN exactly before TA-Lib's first output and equal to
  // TA-Lib's from there, for one row of the table on one data set.
  const Row& row = table()[GetParam().row];
  const Bars& b = bars(GetParam().dataset);
  const FunctionSpec* f = registry().find(row.fn);
  ASSERT_NE(f, nullptr) << row.fn << " is not in the registry";
  auto params = bind_params(*f, row.params);
  ASSERT_TRUE(params.ok()) << params.message();
  ASSERT_EQ(f->input_count(*params), row.inputs.size()) << "the row feeds the wrong inputs";
  SCOPED_TRACE(describe(row, *params) + " on " + b.name);

  const TalibOutput ta = row.call(*params, b);
  ASSERT_EQ(ta.rc, TA_SUCCESS);
  ASSERT_EQ(ta.values.size(), f->output_count());
  ASSERT_GT(ta.count, 0) << "TA-Lib gave no output: the data are too short for the row";
  ASSERT_EQ(static_cast<std::size_t>(ta.begin + ta.count), b.size());
  const auto begin = static_cast<std::size_t>(ta.begin);

  std::vector<const Series*> in;
  std::size_t first = 0;  // returns start at bar 1
  for (In k : row.inputs) {
    in.push_back(&series(b, k));
    if (k == In::kCloseReturn || k == In::kOtherReturn) first = 1;
  }
  const Outputs exact = row.exact ? row.exact(*params, b) : Outputs{};

  for (Form form : {Form::kBatch, Form::kPush}) {
    const char* form_name = form == Form::kBatch ? "batch" : "push";
    const Outputs ours = run(*f, *params, b, in, first, form);
    for (std::size_t o = 0; o < ours.size(); ++o) {
      const std::string out_name = f->outputs.empty() ? f->name : f->outputs[o];
      std::size_t bad = 0, first_bad = 0;
      double ours_bad = 0, ta_bad = 0;
      for (std::size_t i = 0; i < b.size(); ++i) {
        bool ok;
        double expected = std::nan("");
        if (i < begin) {
          ok = std::isnan(ours[o][i]);
        } else {
          expected = ta.values[o][i - begin];
          const double slack = exact.empty() ? 0.0 : 2 * std::fabs(expected - exact[o][i]);
          ok = agree(ours[o][i], expected, scale_floor(row.scale, in, i), slack);
        }
        if (!ok && bad++ == 0) {
          first_bad = i;
          ours_bad = ours[o][i];
          ta_bad = expected;
        }
      }
      EXPECT_EQ(bad, 0u) << form_name << " output " << out_name << ": " << bad << " of " << b.size()
                         << " bars differ; first at bar " << first_bad << " ("
                         << format_timestamp(b.t[first_bad]) << "): ours " << std::setprecision(17)
                         << ours_bad << ", TA-Lib " << ta_bad
                         << " (TA-Lib's first output is at bar " << begin << ")";
    }
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (std::size_t r = 0; r < table().size(); ++r) {
    for (Dataset d : {Dataset::kRandomWalk, Dataset::kSp500}) cases.push_back({r, d});
  }
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const Row& row = table()[info.param.row];
  std::string name = row.fn;
  if (row.params.empty()) name += "_defaults";
  for (const RawParam& p : row.params) name += "_" + p.name + "_" + p.text;
  name += info.param.dataset == Dataset::kRandomWalk ? "_random_walk" : "_sp500";
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Table, TalibReference, ::testing::ValuesIn(all_cases()), case_name);

TEST(TalibTable, CoversExactlyTheTalibOracleList) {
  // Checks the functions this table compares with TA-Lib are exactly the registry functions whose
  // row names a TA-Lib function, and that each row calls the one its function's row names.
  std::set<std::string> in_table;
  for (const Row& row : table()) {
    in_table.insert(row.fn);
    const FunctionSpec* f = registry().find(row.fn);
    if (f == nullptr) {
      ADD_FAILURE() << row.fn << " has TA-Lib rows but is not registered";
      continue;
    }
    EXPECT_FALSE(f->talib.empty()) << row.fn << " has TA-Lib rows but its registry row names no "
                                   << "TA-Lib function (set `.talib`)";
    EXPECT_TRUE(row.talib.starts_with("TA_" + f->talib) &&
                (row.talib.size() == f->talib.size() + 3 ||
                 !std::isalnum(static_cast<unsigned char>(row.talib[f->talib.size() + 3]))))
        << row.fn << "'s row calls " << row.talib << ", its registry row names " << f->talib;
  }
  for (const FunctionSpec& f : registry().all()) {
    if (f.talib.empty()) continue;
    EXPECT_TRUE(in_table.count(f.name)) << f.name << "'s registry row names TA-Lib's " << f.talib
                                        << " but this table has no row for it";
  }
}

TEST(TalibTable, EachFunctionHasItsDefaultsRow) {
  // Checks every function in the table is compared at least once with its default parameters.
  std::set<std::string> all, with_defaults;
  for (const Row& row : table()) {
    all.insert(row.fn);
    if (row.params.empty()) with_defaults.insert(row.fn);
  }
  EXPECT_EQ(all, with_defaults);
}

}  // namespace
}  // namespace tickgraph::analytics
