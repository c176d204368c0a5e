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

TEST(Registry, EveryOutputHasAUnit) {
  // Checks every output of every function says what it measures: one unit per output, an input
  // that exists for the kinds that follow one (and none for the others), a range exactly for the
  // bounded kind; a function added without its units fails here.
  for (const FunctionSpec& f : registry().all()) {
    ASSERT_EQ(f.units.size(), f.output_count()) << f.name << " gives no unit for some output";
    for (std::size_t j = 0; j < f.units.size(); ++j) {
      const Unit& u = f.units[j];
      const bool follows = u.kind == UnitKind::kSameAsInput ||
                           u.kind == UnitKind::kSameUnitsAsInput ||
                           u.kind == UnitKind::kSquareOfInput;
      EXPECT_EQ(u.follows_input(), follows) << f.name << " output " << j;
      if (follows) {
        EXPECT_LT(static_cast<std::size_t>(u.input), f.inputs.size()) << f.name << " output " << j;
        // A constant may replace the last input; a unit follows one the node always reads.
        if (!f.constant_param.empty()) {
          EXPECT_LT(static_cast<std::size_t>(u.input), f.inputs.size() - 1) << f.name;
        }
      }
      if (u.kind == UnitKind::kBounded) {
        EXPECT_LT(u.min, u.max) << f.name << " output " << j;
      } else {
        EXPECT_EQ(u.min, 0) << f.name;
        EXPECT_EQ(u.max, 0) << f.name;
      }
    }
  }
}

TEST(Registry, UnitsOfWellKnownFunctions) {
  // Checks the units a chart places series by: averages and bands follow their input, vwap the
  // close it averages, macd and atr are differences in their input's units, the oscillators have
  // their published ranges, returns are ratios and roc a percentage.
  auto unit = [](const char* name, std::size_t j = 0) {
    const FunctionSpec* f = registry().find(name);
    EXPECT_NE(f, nullptr) << name;
    return f ? f->units.at(j) : Unit::unbounded();
  };
  EXPECT_EQ(unit("sma"), Unit::same_as_input(0));
  EXPECT_EQ(unit("bbands", 0), Unit::same_as_input(0));
  EXPECT_EQ(unit("bbands", 2), Unit::same_as_input(0));
  EXPECT_EQ(unit("vwap"), Unit::same_as_input(2));  // (high + low + close) / 3, weighted
  EXPECT_EQ(registry().find("vwap")->inputs[2], "close");
  EXPECT_EQ(unit("macd", 0), Unit::same_units_as_input(0));
  EXPECT_EQ(unit("macd", 2), Unit::same_units_as_input(0));
  EXPECT_EQ(unit("atr"), Unit::same_units_as_input(2));
  EXPECT_EQ(unit("obv"), Unit::same_units_as_input(1));  // a running total of volume
  EXPECT_EQ(unit("var"), Unit::square_of_input(0));
  EXPECT_EQ(unit("rsi"), Unit::bounded(0, 100));
  EXPECT_EQ(unit("stoch", 1), Unit::bounded(0, 100));
  EXPECT_EQ(unit("willr"), Unit::bounded(-100, 0));
  EXPECT_EQ(unit("correlation"), Unit::bounded(-1, 1));
  EXPECT_EQ(unit("roc"), Unit::percent());
  EXPECT_EQ(unit("pct_change"), Unit::ratio());
  EXPECT_EQ(unit("drawdown"), Unit::ratio());
  EXPECT_EQ(unit("zscore"), Unit::unbounded());
  EXPECT_EQ(unit("div"), Unit::unbounded());
}

TEST(Registry, DescribesUnitsForPeople) {
  // Checks the text `tickgraph functions` prints for a unit names the input it follows by name
  // and gives a bounded range.
  const FunctionSpec* atr = registry().find("atr");
  const FunctionSpec* willr = registry().find("willr");
  ASSERT_TRUE(atr && willr);
  EXPECT_EQ(describe_unit(*atr, 0), "same units as input 'close', not its level");
  EXPECT_EQ(describe_unit(*willr, 0), "bounded -100..0");
  EXPECT_EQ(unit_name(UnitKind::kSameUnitsAsInput), "same_units_as_input");
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
