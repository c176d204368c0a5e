// The pull facade against a real SQLite file: a run over the bars bars_for_range() loads equals,
// bit for bit, a run over every stored bar up to `to`, while it loads only the tail the run uses;
// and the stored-graph and asset errors carry their codes.
#include "live/pull.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/resampler.h"
#include "graph/pull_executor.h"
#include "store/store.h"

namespace tickgraph::live {
namespace {

constexpr Timestamp kStart = 1'600'000'000 * kSecond;  // fixed: no test data from the wall clock
constexpr Timestamp kMin = std::numeric_limits<Timestamp>::min();

bool every_day(std::size_t /*day*/) { return true; }

// A deterministic random walk of n daily bars from kStart, keeping the days `keep` says.
template <typename Keep>
CandleSeries walk(std::size_t n, Keep keep, std::uint64_t seed) {
  CandleSeries bars;
  double price = 100;
  std::uint64_t x = seed;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const double step = static_cast<double>(x >> 40) / static_cast<double>(1ULL << 24) - 0.5;
    const double open = price;
    price *= 1 + 0.02 * step;
    if (!keep(i)) continue;
    bars.push_back({kStart + static_cast<Timestamp>(i) * kDay, open, std::max(open, price) * 1.01,
                    std::min(open, price) * 0.99, price, 1000.0 + static_cast<double>(i % 17)});
  }
  return bars;
}

// Equal bit for bit (NaN included).
bool same_bits(std::span<const double> a, std::span<const double> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

bool same_bits(const graph::Table& a, const graph::Table& b) {
  if (a.time != b.time || a.columns != b.columns || a.values.size() != b.values.size()) {
    return false;
  }
  for (std::size_t c = 0; c < a.values.size(); ++c) {
    if (!same_bits(a.values[c], b.values[c])) return false;
  }
  return true;
}

class PullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (std::filesystem::temp_directory_path() / "tickgraph-pull-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    auto opened = store::open_store("sqlite:" + dir_ + "/pull.db");
    ASSERT_TRUE(opened.ok()) << opened.message();
    store_ = std::move(opened).value();
    add("AAA", walk(3000, every_day, 1));
    add("BBB", walk(
                   3000, [](std::size_t i) { return i % 7 == 0; }, 2));  // another calendar
    // Two calendars that share one day in seven, each with days the other lacks.
    add("PPP", walk(
                   3000, [](std::size_t i) { return i % 7 != 1; }, 3));
    add("QQQ", walk(
                   3000, [](std::size_t i) { return i % 7 <= 1; }, 4));
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void add(const std::string& symbol, const CandleSeries& bars) {
    Asset a;
    a.symbol = symbol;
    auto stored = store_->upsert_asset(a);
    ASSERT_TRUE(stored.ok()) << stored.message();
    std::vector<Candle> rows;
    for (std::size_t i = 0; i < bars.size(); ++i) rows.push_back(bars.at(i));
    auto written = store_->write_candles(stored->id, Interval::k1d, rows);
    ASSERT_TRUE(written.ok()) << written.message();
    all_[symbol] = bars;
  }

  std::shared_ptr<const graph::CompiledGraph> compile(const std::string& yaml) {
    auto compiled = prepare_graph(*store_, yaml, "test spec");
    EXPECT_TRUE(compiled.ok()) << compiled.message();
    return compiled.ok() ? *compiled : nullptr;
  }

  // The reference: every stored bar up to `to`, as the REST API used to load them.
  graph::Table whole_history(const std::shared_ptr<const graph::CompiledGraph>& g,
                             graph::TimeRange range, const std::string& primary = "AAA") {
    graph::MarketData data;
    const auto plan = graph::make_plan(g, primary);
    for (const auto& symbol : plan->assets) {
      auto id = store_->find_asset(symbol);
      auto bars = store_->read_candles((*id)->id, Interval::k1d, {kMin, range.to});
      EXPECT_TRUE(bars.ok()) << bars.message();
      data.emplace(symbol, *bars);
    }
    auto table = graph::run_pull(g, primary, data, range);
    EXPECT_TRUE(table.ok()) << table.message();
    return table.ok() ? *table : graph::Table{};
  }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
  graph::MarketData all_;
};

constexpr const char* kChain =
    "nodes:\n"
    "  ema26: {fn: ema, input: close, period: 26}\n"
    "  rsi14: {fn: rsi, input: close, period: 14}\n"
    "  bb20: {fn: bbands, input: close, period: 20, k: 2}\n"
    "  macd: {fn: macd, input: close, fast: 12, slow: 26, signal: 9}\n"
    "  atr: {fn: atr, period: 14}\n";

TEST(PullTestData, WalkIsDeterministic) {
  const CandleSeries a = walk(50, every_day, 3);
  const CandleSeries b = walk(50, every_day, 3);
  ASSERT_EQ(a.size(), 50U);
  EXPECT_EQ(a.close, b.close);
  EXPECT_NE(a.close, walk(50, every_day, 4).close);
}

TEST_F(PullTest, ARangeLoadsOnlyItsTailAndMatchesTheWholeHistoryBitForBit) {
  const auto g = compile(kChain);
  ASSERT_TRUE(g);
  const auto plan = graph::make_plan(g, "AAA");
  const auto& lb = g->lookback();
  for (const std::size_t first : {0UL, 5UL, 100UL, 2500UL, 2990UL}) {
    const graph::TimeRange range{kStart + static_cast<Timestamp>(first) * kDay,
                                 kStart + static_cast<Timestamp>(first + 20) * kDay};
    auto data = bars_for_range(*store_, *plan, Interval::k1d, range);
    ASSERT_TRUE(data.ok()) << data.message();
    // At most the lookback and settle bars before `from`, and the 21 days of the range.
    const std::size_t loaded = data->find("AAA")->second.size();
    EXPECT_LE(loaded, static_cast<std::size_t>(lb.bars + lb.settle) + 21) << "from bar " << first;
    EXPECT_EQ(data->find("AAA")->second.time.back(), std::min(range.to, kStart + 2999 * kDay))
        << "from bar " << first;
    auto pulled = graph::run_pull(g, "AAA", *data, range);
    ASSERT_TRUE(pulled.ok()) << pulled.message();
    ASSERT_EQ(pulled->rows(), std::min<std::size_t>(21, 3000 - first));
    EXPECT_TRUE(same_bits(*pulled, whole_history(g, range))) << "from bar " << first;
    auto facade = run(*store_, g, "AAA", Interval::k1d, range);
    ASSERT_TRUE(facade.ok()) << facade.message();
    EXPECT_TRUE(same_bits(*facade, *pulled)) << "from bar " << first;
  }
}

// beta of PPP on QQQ is a join: it ticks on the days both have a bar, one in seven. The
// lookback's bars before `from` on each asset (and so each asset's own walk back) hold few
// common days, so the facade must read further back on both until the join has its lookback.
TEST_F(PullTest, AJoinOnSparseCommonBarsReadsBackUntilItsLookbackIsThere) {
  const auto g = compile(
      "nodes:\n"
      "  ret: {fn: pct_change, input: close}\n"
      "  b: {fn: beta, inputs: [ret, 'QQQ:ret'], period: 30}\n");
  ASSERT_TRUE(g);
  const graph::TimeRange range{kStart + 2000 * kDay, kStart + 2100 * kDay};
  const auto plan = graph::make_plan(g, "PPP");
  auto data = bars_for_range(*store_, *plan, Interval::k1d, range);
  ASSERT_TRUE(data.ok()) << data.message();
  EXPECT_LT(data->find("PPP")->second.size(), 1000U);  // not the 1,800 bars up to `to`
  auto pulled = graph::run_pull(g, "PPP", *data, range);
  ASSERT_TRUE(pulled.ok()) << pulled.message();
  const graph::Table reference = whole_history(g, range, "PPP");
  ASSERT_EQ(pulled->rows(), 87U);  // PPP's days in [2000, 2100]
  const int beta = reference.column("b");
  ASSERT_GE(beta, 0);
  const auto& betas = reference.values[static_cast<std::size_t>(beta)];
  EXPECT_TRUE(std::any_of(betas.begin(), betas.end(), [](double v) { return !std::isnan(v); }));
  EXPECT_TRUE(same_bits(*pulled, reference));
  auto pushed = run(*store_, g, "PPP", Interval::k1d, range, Mode::kPush);
  ASSERT_TRUE(pushed.ok()) << pushed.message();
  EXPECT_TRUE(same_bits(*pushed, reference));
}

TEST_F(PullTest, OpenAndEarlyRangesReadFromTheFirstBar) {
  const auto g = compile(kChain);
  ASSERT_TRUE(g);
  const auto plan = graph::make_plan(g, "AAA");
  for (const graph::TimeRange range :
       {graph::TimeRange{kMin, kStart + 100 * kDay}, graph::TimeRange{kStart - kDay, kStart},
        graph::TimeRange{kStart + 3 * kDay, kStart + 9 * kDay}}) {
    auto data = bars_for_range(*store_, *plan, Interval::k1d, range);
    ASSERT_TRUE(data.ok()) << data.message();
    EXPECT_EQ(data->find("AAA")->second.time.front(), kStart);
    auto pulled = graph::run_pull(g, "AAA", *data, range);
    ASSERT_TRUE(pulled.ok()) << pulled.message();
    EXPECT_TRUE(same_bits(*pulled, whole_history(g, range)));
  }
}

TEST_F(PullTest, LatestBarsAreTheTailOfEveryAssetThePlanReads) {
  const auto g = compile("nodes:\n  c: {fn: correlation, inputs: [close, 'BBB:close']}\n");
  ASSERT_TRUE(g);
  auto data = latest_bars(*store_, *graph::make_plan(g, "AAA"), Interval::k1d, 10);
  ASSERT_TRUE(data.ok()) << data.message();
  ASSERT_EQ(data->size(), 2U);
  for (const auto& [symbol, bars] : *data) {
    const CandleSeries& stored = all_.find(symbol)->second;
    ASSERT_EQ(bars.size(), 10U) << symbol;
    EXPECT_EQ(bars.time.back(), stored.time.back()) << symbol;
    EXPECT_EQ(bars.time.front(), stored.time[stored.size() - 10]) << symbol;
  }
}

// An asset stored at 1m only, pulled at 1h and 1d: the graph runs over the bars derived on read
// (store/bar_reader.h), so any range equals a run over the whole aggregated history.
TEST_F(PullTest, AnIntervalNotStoredIsPulledOverBarsDerivedFromFinerOnes) {
  const Timestamp first = bar_open_time(kStart, Interval::k1m);
  CandleSeries minutes;
  {
    const CandleSeries days = walk(std::size_t{20} * 1440, every_day, 9);  // one bar a minute
    for (std::size_t i = 0; i < days.size(); ++i) {
      if (i % 1440 >= 600 && i % 1440 < 900) continue;  // a gap every day
      Candle m = days.at(i);
      m.time = first + static_cast<Timestamp>(i) * kMinute;
      minutes.push_back(m);
    }
  }
  Asset a;
  a.symbol = "MMM";
  auto stored = store_->upsert_asset(a);
  ASSERT_TRUE(stored.ok()) << stored.message();
  std::vector<Candle> rows;
  for (std::size_t i = 0; i < minutes.size(); ++i) rows.push_back(minutes.at(i));
  ASSERT_TRUE(store_->write_candles(stored->id, Interval::k1m, rows).ok());

  const auto g = compile(kChain);
  ASSERT_TRUE(g);
  const ManualClock clock(first + 40 * kDay);  // every bar closed
  for (Interval interval : {Interval::k1h, Interval::k1d}) {
    auto coarse = resample(minutes, Interval::k1m, interval);
    ASSERT_TRUE(coarse.ok()) << coarse.message();
    const graph::MarketData aggregated{{"MMM", *coarse}};
    for (const graph::TimeRange range :
         {graph::TimeRange{kMin, first + 20 * kDay},
          graph::TimeRange{first + 9 * kDay, first + 11 * kDay},
          graph::TimeRange{first + 17 * kDay + 5 * kHour, first + 30 * kDay}}) {
      SCOPED_TRACE(std::string(interval_name(interval)) + " from " + format_timestamp(range.from));
      auto reference = graph::run_pull(g, "MMM", aggregated, range);
      ASSERT_TRUE(reference.ok()) << reference.message();
      ASSERT_GT(reference->rows(), 0U);
      for (Mode mode : {Mode::kPull, Mode::kPush}) {
        auto pulled = run(*store_, g, "MMM", interval, range, mode, clock);
        ASSERT_TRUE(pulled.ok()) << pulled.message();
        EXPECT_TRUE(same_bits(*pulled, *reference));
      }
    }
  }
}

TEST_F(PullTest, ErrorsCarryTheirCodes) {
  auto unknown_asset = prepare_graph(
      *store_, "nodes:\n  b: {fn: beta, inputs: [close, 'ZZZ:close']}\n", "spec.yaml");
  ASSERT_FALSE(unknown_asset.ok());
  EXPECT_EQ(unknown_asset.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown_asset.message().find("ZZZ"), std::string::npos) << unknown_asset.message();

  auto bad_text = prepare_graph(*store_, "nodes: [", "spec.yaml");
  ASSERT_FALSE(bad_text.ok());
  EXPECT_EQ(bad_text.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_text.message().find("spec.yaml"), std::string::npos) << bad_text.message();

  auto no_graph = load_graph(*store_, "nope");
  ASSERT_FALSE(no_graph.ok());
  EXPECT_EQ(no_graph.status().code(), StatusCode::kNotFound);
  EXPECT_NE(no_graph.message().find("'nope'"), std::string::npos);

  ASSERT_TRUE(store_->put_graph("chain", kChain).ok());
  auto stored = load_graph(*store_, "chain");
  ASSERT_TRUE(stored.ok()) << stored.message();
  EXPECT_EQ(stored->version.version, 1);
  const auto g = compile(kChain);
  ASSERT_TRUE(g);
  EXPECT_EQ(stored->graph->outputs().size(), g->outputs().size());

  auto missing = run(*store_, g, "ZZZ", Interval::k1d, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("'ZZZ'"), std::string::npos) << missing.message();
}

}  // namespace
}  // namespace tickgraph::live
