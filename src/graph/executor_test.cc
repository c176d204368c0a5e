// The core promise: one graph, two executors, the same numbers. Random graphs over random data
// (two assets with different calendars) must give bit-identical tables in pull and push mode, and
// the push executor's peek must equal the push that follows it.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <sstream>

#include "analytics/function.h"
#include "graph/compiled_graph.h"
#include "graph/plan.h"
#include "graph/pull_executor.h"
#include "graph/push_executor.h"

namespace tickgraph::graph {
namespace {

CandleSeries random_series(std::size_t n, unsigned seed, double skip_probability) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> step(0.0, 0.01);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  CandleSeries s;
  double price = 100;
  Timestamp t = 1'600'000'000 * kSecond;
  for (std::size_t i = 0; i < n; ++i) {
    t += kMinute;
    if (u(rng) < skip_probability) continue;  // a missing bar: calendars differ
    const double open = price;
    price *= std::exp(step(rng));
    s.push_back({t, open, std::max(open, price) * (1 + 0.003 * u(rng)),
                 std::min(open, price) * (1 - 0.003 * u(rng)), price,
                 std::floor(100 + 1000 * u(rng))});
  }
  return s;
}

// A random, valid spec: each node picks a function, parameters and inputs among the bar fields
// and earlier nodes, sometimes on the other asset ("B:name").
std::string random_spec(std::mt19937_64& rng, bool cross_asset) {
  const auto fns = analytics::registry().all();
  std::uniform_int_distribution<std::size_t> pick_fn(0, fns.size() - 1);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const char* fields[] = {"open", "high", "low", "close", "volume"};
  std::vector<std::string> names;  // referable outputs so far
  std::ostringstream yaml;
  yaml << "nodes:\n";
  const int count = 2 + static_cast<int>(u(rng) * 8);
  for (int n = 0; n < count; ++n) {
    const analytics::FunctionSpec& f = fns[pick_fn(rng)];
    // Parameters: small periods so the data warms every node up; other ints and reals random
    // inside their ranges. Redraw until cross-parameter checks pass.
    std::vector<analytics::RawParam> params;
    for (int attempt = 0; attempt < 50; ++attempt) {
      params.clear();
      for (const auto& p : f.params) {
        if (p.name == f.constant_param) {
          if (u(rng) < 0.3) params.push_back({p.name, std::to_string(0.5 + u(rng))});
          continue;
        }
        if (p.type == analytics::ParamType::kInt) {
          const double hi = std::min(p.max, p.min + 25);
          params.push_back({p.name, std::to_string(static_cast<long>(
                                        p.min + std::floor(u(rng) * (hi - p.min + 1))))});
        } else if (p.name == "k") {
          params.push_back({p.name, std::to_string(0.5 + 2.5 * u(rng))});
        }
      }
      if (f.accepts_window && u(rng) < 0.3) {
        std::erase_if(params, [](const auto& p) { return p.name == "period"; });
        params.push_back({"window", std::to_string(2 + static_cast<int>(u(rng) * 20)) + "m"});
      }
      if (analytics::bind_params(f, params).ok()) break;
    }
    auto bound = analytics::bind_params(f, params);
    EXPECT_TRUE(bound.ok()) << f.name << ": " << bound.message();
    const std::size_t inputs = f.input_count(*bound);
    yaml << "  n" << n << ": {fn: " << f.name;
    if (!(f.inputs_default_to_fields && u(rng) < 0.5)) {
      yaml << ", inputs: [";
      for (std::size_t k = 0; k < inputs; ++k) {
        std::string ref =
            (names.empty() || u(rng) < 0.4)
                ? fields[static_cast<std::size_t>(u(rng) * 5)]
                : names[static_cast<std::size_t>(u(rng) * static_cast<double>(names.size()))];
        if (cross_asset && u(rng) < 0.25) ref = "B:" + ref;
        yaml << (k ? ", " : "") << '"' << ref << '"';
      }
      yaml << "]";
    }
    for (const auto& p : params) yaml << ", " << p.name << ": " << p.text;
    yaml << "}\n";
    const std::string id = "n" + std::to_string(n);
    if (f.outputs.empty()) names.push_back(id);
    for (const auto& o : f.outputs) names.push_back(id + "." + o);
  }
  return yaml.str();
}

bool same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) ||
         std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

void expect_tables_identical(const Table& pull, const Table& push, const std::string& spec) {
  ASSERT_EQ(pull.time, push.time) << spec;
  ASSERT_EQ(pull.columns, push.columns) << spec;
  for (std::size_t c = 0; c < pull.columns.size(); ++c) {
    for (std::size_t r = 0; r < pull.rows(); ++r) {
      ASSERT_TRUE(same(pull.values[c][r], push.values[c][r]))
          << "column " << pull.columns[c] << " row " << r << ": pull " << pull.values[c][r]
          << " push " << push.values[c][r] << "\n"
          << spec;
    }
  }
}

TEST(PushEqualsPull, RandomGraphsBitForBit) {
  // Checks, over many random graphs, that replaying bars through push mode gives the pull result
  // for every output at every timestamp, bit for bit, across assets with different calendars.
  MarketData data;
  data.emplace("A", random_series(1500, 1, 0.05));
  data.emplace("B", random_series(1500, 2, 0.15));
  std::mt19937_64 rng(42);
  std::size_t non_nan = 0;
  for (int g = 0; g < 150; ++g) {
    const std::string text = random_spec(rng, g % 2 == 1);
    auto spec = parse_spec(text, "random");
    ASSERT_TRUE(spec.ok()) << spec.message() << "\n" << text;
    auto graph = compile(*spec);
    ASSERT_TRUE(graph.ok()) << graph.message() << "\n" << text;
    TimeRange range;
    if (g % 3 == 0) range.from = data["A"].time[700];  // a range that needs warm-up history
    auto pull = run_pull(*graph, "A", data, range);
    auto push = run_push(*graph, "A", data, range);
    ASSERT_TRUE(pull.ok() && push.ok()) << pull.message() << push.message();
    expect_tables_identical(*pull, *push, text);
    for (const auto& col : pull->values) {
      non_nan += static_cast<std::size_t>(
          std::count_if(col.begin(), col.end(), [](double v) { return !std::isnan(v); }));
    }
  }
  EXPECT_GT(non_nan, 100000u);  // the comparison saw real values, not just warm-up NaNs
}

TEST(PushExecutor, PeekThenPushEqualsPush) {
  // Checks peeking a forming bar (at other prices, then the final one) leaves the state alone and
  // predicts exactly what the push of that bar gives, for every slot of the asset's domain.
  auto spec = parse_spec(R"(nodes:
  s:   {fn: sma, input: close, period: 5}
  e:   {fn: ema, input: close, period: 10}
  r:   {fn: rsi, input: close}
  bb:  {fn: bbands, input: close, period: 8}
  a:   {fn: atr, period: 5}
  w:   {fn: sma, input: close, window: 7m}
  z:   {fn: zscore, input: s, period: 6}
)",
                         "peek");
  ASSERT_TRUE(spec.ok());
  auto graph = compile(*spec);
  ASSERT_TRUE(graph.ok()) << graph.message();
  PushExecutor peeked(make_plan(*graph, "A"));
  PushExecutor plain(make_plan(*graph, "A"));
  const CandleSeries s = random_series(400, 3, 0.1);
  std::vector<double> scratch;
  for (std::size_t i = 0; i < s.size(); ++i) {
    Candle forming = s.at(i);
    forming.close = forming.low;
    peeked.peek(0, forming, scratch);
    peeked.peek(0, s.at(i), scratch);
    peeked.on_bar(0, s.at(i));
    plain.on_bar(0, s.at(i));
    for (std::size_t k = 0; k < scratch.size(); ++k) {
      ASSERT_TRUE(same(scratch[k], plain.value(static_cast<int>(k))))
          << "bar " << i << " slot " << k;
      ASSERT_TRUE(same(peeked.value(static_cast<int>(k)), plain.value(static_cast<int>(k))));
    }
  }
}

TEST(PushExecutor, OnlyNodesDownstreamOfTheTickingAssetFire) {
  // Checks a bar of asset B does not fire A's own nodes, and a cross-asset node fires only once
  // both assets have the bar, at that bar's time.
  auto spec = parse_spec(R"(nodes:
  ret: {fn: pct_change, input: close}
  rel: {fn: sub, inputs: [ret, "B:ret"]}
)",
                         "fire");
  ASSERT_TRUE(spec.ok());
  auto graph = compile(*spec);
  ASSERT_TRUE(graph.ok()) << graph.message();
  auto plan = make_plan(*graph, "A");
  PushExecutor exec(plan);
  std::vector<std::pair<Timestamp, int>> fired;
  exec.set_listener([&](Timestamp t, int domain) { fired.emplace_back(t, domain); });
  const int a = plan->asset_index("A"), b = plan->asset_index("B");
  ASSERT_EQ(a, 0);
  ASSERT_EQ(b, 1);
  const int join_domain =
      plan->instances[static_cast<std::size_t>(plan->columns[1].instance)].domain;
  EXPECT_GE(join_domain, 2);

  auto bar = [](Timestamp t, double c) { return Candle{t, c, c, c, c, 1}; };
  exec.on_bar(a, bar(1, 100));
  exec.on_bar(a, bar(2, 110));  // A ahead of B
  exec.on_bar(b, bar(1, 50));
  exec.on_bar(b, bar(2, 55));  // now both have t=2: rel fires for t=2 (t=1 has NaN returns)
  exec.on_bar(b, bar(3, 66));  // B alone: no join
  exec.on_bar(a, bar(4, 99));  // A skips 3, B skips 4: no join for either
  const std::vector<std::pair<Timestamp, int>> expected = {
      {1, a}, {2, a}, {1, b}, {1, join_domain}, {2, b}, {2, join_domain}, {3, b}, {4, a}};
  EXPECT_EQ(fired, expected);
  // rel at t=2 = A's return 0.1 minus B's 0.1, computed when B's bar arrived.
  EXPECT_NEAR(exec.value(plan->columns[1].slot), (110.0 / 100 - 1) - (55.0 / 50 - 1), 1e-15);
}

TEST(PullExecutor, ExtendsTheRangeBackwardsForWarmUp) {
  // Checks a range that starts mid-history still has warmed-up values on its first row, equal to
  // the full run's for a non-recursive function, and that rows are exactly the range.
  auto spec = parse_spec("nodes:\n  s: {fn: sma, input: close, period: 30}\n", "w");
  ASSERT_TRUE(spec.ok());
  auto graph = compile(*spec);
  ASSERT_TRUE(graph.ok());
  MarketData data;
  data.emplace("A", random_series(500, 5, 0.0));
  const auto& t = data["A"].time;
  auto part = run_pull(*graph, "A", data, {t[100], t[199]});
  auto full = run_pull(*graph, "A", data);
  ASSERT_TRUE(part.ok() && full.ok());
  ASSERT_EQ(part->rows(), 100u);
  EXPECT_EQ(part->time.front(), t[100]);
  EXPECT_EQ(part->time.back(), t[199]);
  for (std::size_t r = 0; r < 100; ++r) {
    EXPECT_NEAR(part->values[0][r], full->values[0][r + 100], 1e-12 * full->values[0][r + 100]);
  }
  // A range whose start lacks history reports NaN until warm, as a full run would.
  auto early = run_pull(*graph, "A", data, {t[10], t[40]});
  ASSERT_TRUE(early.ok());
  EXPECT_TRUE(std::isnan(early->values[0][0]));
  EXPECT_FALSE(std::isnan(early->values[0][19]));  // bar 29 is the first with 30 bars
}

TEST(PullExecutor, WarmUpCountsEveryAssetsOwnBars) {
  // Checks a range starting mid-history is warmed up for nodes on another asset with fewer bars,
  // and for a join over both calendars, in both executors: no NaN where a full run has values.
  auto spec = parse_spec(R"(nodes:
  x: {fn: sma, input: "B:close", period: 30}
  b: {fn: beta, inputs: [close, "B:close"], period: 30}
)",
                         "w");
  ASSERT_TRUE(spec.ok());
  auto graph = compile(*spec);
  ASSERT_TRUE(graph.ok()) << graph.message();
  MarketData data;
  data.emplace("A", random_series(600, 8, 0.0));
  data.emplace("B", random_series(600, 9, 0.5));  // half of A's bars missing
  const Timestamp from = data["A"].time[400];
  auto full = run_pull(*graph, "A", data);
  auto part = run_pull(*graph, "A", data, {from, data["A"].time.back()});
  auto pushed = run_push(*graph, "A", data, {from, data["A"].time.back()});
  ASSERT_TRUE(full.ok() && part.ok() && pushed.ok());
  expect_tables_identical(*part, *pushed, "warm-up");
  for (std::size_t c = 0; c < part->columns.size(); ++c) {
    std::size_t compared = 0;
    for (std::size_t r = 0; r < part->rows(); ++r) {
      const double want = full->values[c][r + 400];
      ASSERT_EQ(std::isnan(part->values[c][r]), std::isnan(want))
          << part->columns[c] << " row " << r;
      if (!std::isnan(want)) {
        EXPECT_NEAR(part->values[c][r], want, 1e-9 * std::max(1.0, std::abs(want)));
        ++compared;
      }
    }
    EXPECT_GT(compared, 50u) << part->columns[c];
  }
}

TEST(PullExecutor, GraphWithoutBarLookbackStartsAtFrom) {
  // Checks a graph that needs no bars before `from` (lookback 0 bars, or only time windows)
  // starts its run at `from` itself, on one asset and across assets. warmup_start read one past
  // the end of its bar list here (found by tests/fuzz/graph_spec_fuzz.cc under AddressSanitizer).
  MarketData data;
  data.emplace("A", random_series(200, 5, 0.0));
  data.emplace("B", random_series(200, 6, 0.3));
  const Timestamp from = data["A"].time[100];
  for (const char* text : {"nodes:\n  d: {fn: sub, inputs: [close, open]}\n",
                           "nodes:\n  o: {fn: obv}\n  j: {fn: add, inputs: [close, 'B:close']}\n",
                           "nodes:\n  w: {fn: sma, input: close, window: 5m}\n"}) {
    auto spec = parse_spec(text, "z");
    ASSERT_TRUE(spec.ok()) << spec.message();
    auto graph = compile(*spec);
    ASSERT_TRUE(graph.ok()) << graph.message();
    ASSERT_EQ((*graph)->lookback().bars + (*graph)->lookback().settle, 0) << text;
    const auto plan = make_plan(*graph, "A");
    EXPECT_EQ(warmup_start(*plan, data, from), from - (*graph)->lookback().time) << text;
    auto pull = run_pull(*graph, "A", data, {from, data["A"].time.back()});
    auto push = run_push(*graph, "A", data, {from, data["A"].time.back()});
    ASSERT_TRUE(pull.ok() && push.ok());
    expect_tables_identical(*pull, *push, text);
  }
}

TEST(PullExecutor, MissingAssetIsNamed) {
  // Checks a graph reading an asset with no data fails naming that asset.
  auto spec = parse_spec("nodes:\n  c: {fn: correlation, inputs: [close, 'SPY:close']}\n", "m");
  ASSERT_TRUE(spec.ok());
  auto graph = compile(*spec);
  ASSERT_TRUE(graph.ok());
  MarketData data;
  data.emplace("A", random_series(50, 5, 0.0));
  auto r = run_pull(*graph, "A", data);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("no bars for asset 'SPY'"), std::string::npos) << r.message();
  EXPECT_FALSE(run_push(*graph, "A", data).ok());
}

}  // namespace
}  // namespace tickgraph::graph
