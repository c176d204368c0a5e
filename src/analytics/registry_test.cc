#include <gtest/gtest.h>

#include <algorithm>

#include "analytics/function.h"

namespace tickgraph::analytics {
namespace {

// The functions the platform promises (issue #2); each must be in the registry.
const char* const kRequired[] = {
    "sma",        "ema",    "wma",      "dema",        "tema",        "rsi",         "macd",
    "bbands",     "stddev", "var",      "atr",         "trange",      "mom",         "roc",
    "willr",      "cci",    "stoch",    "obv",         "vwap",        "pct_change",  "log_return",
    "volatility", "zscore", "drawdown", "rolling_max", "rolling_min", "correlation", "beta",
    "add",        "sub",    "mul",      "div"};

TEST(Registry, HasEveryPromisedFunction) {
  // Checks that every function named in the product's contract can be looked up by name.
  for (const char* name : kRequired) EXPECT_NE(registry().find(name), nullptr) << name;
}

TEST(Registry, SpecsAreWellFormed) {
  // Checks each function documents itself and its defaults lie inside their own ranges.
  for (const FunctionSpec& f : registry().all()) {
    EXPECT_FALSE(f.summary.empty()) << f.name;
    EXPECT_FALSE(f.inputs.empty()) << f.name;
    EXPECT_TRUE(f.lookback && f.make) << f.name;
    for (const ParamSpec& p : f.params) {
      if (p.name == f.constant_param) continue;
      EXPECT_LE(p.min, p.default_value) << f.name << "." << p.name;
      EXPECT_LE(p.default_value, p.max) << f.name << "." << p.name;
      EXPECT_FALSE(p.help.empty()) << f.name << "." << p.name;
    }
  }
}

TEST(BindParams, FillsDefaultsAndKeepsGivenValues) {
  // Checks given values win and missing ones take the documented default.
  const FunctionSpec* sma = registry().find("sma");
  ASSERT_NE(sma, nullptr);
  auto p = bind_params(*sma, {});
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(p->get_int("period"), 20);
  auto q = bind_params(*sma, {{"period", "50"}});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->get_int("period"), 50);
  auto w = bind_params(*sma, {{"window", "5m"}});
  ASSERT_TRUE(w.ok()) << w.message();
  EXPECT_EQ(w->window, 5 * kMinute);
}

TEST(BindParams, RejectsBadParametersNamingThem) {
  // Checks each kind of bad parameter is refused with a message naming it and the problem.
  const FunctionSpec* sma = registry().find("sma");
  ASSERT_NE(sma, nullptr);
  struct Case {
    std::vector<RawParam> raw;
    std::string expected;
  };
  const Case cases[] = {
      {{{"period", "0"}}, "parameter 'period' = 0 is out of range [1, 100000]"},
      {{{"period", "2.5"}}, "parameter 'period': '2.5' is not an integer"},
      {{{"period", "abc"}}, "parameter 'period': 'abc' is not a number"},
      {{{"periods", "3"}}, "unknown parameter 'periods' for sma (expected period, window)"},
      {{{"window", "5x"}}, "parameter 'window': invalid duration '5x'"},
      {{{"period", "5"}, {"window", "5m"}}, "'period' and 'window' exclude each other"},
  };
  for (const Case& c : cases) {
    auto r = bind_params(*sma, c.raw);
    ASSERT_FALSE(r.ok()) << c.expected;
    EXPECT_NE(r.message().find(c.expected), std::string::npos) << r.message();
  }
  const FunctionSpec* ema = registry().find("ema");
  ASSERT_NE(ema, nullptr);
  auto r = bind_params(*ema, {{"window", "5m"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("ema takes no time window"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace tickgraph::analytics
