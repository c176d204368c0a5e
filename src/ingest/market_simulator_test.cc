#include "ingest/market_simulator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/candle_aggregator.h"

namespace tickgraph::ingest {
namespace {

// 2020-04-17T00:00:00Z, from `date -u -d 2020-04-17 +%s`.
constexpr Timestamp kStart = 1587081600 * kSecond;

SimulatedAsset asset(std::string symbol, double drift, double volatility, double tick_rate,
                     TickArrival arrival = TickArrival::kPoisson) {
  SimulatedAsset a;
  a.symbol = std::move(symbol);
  a.drift = drift;
  a.volatility = volatility;
  a.tick_rate = tick_rate;
  a.arrival = arrival;
  return a;
}

SimulatorConfig two_assets(std::uint64_t seed) {
  SimulatorConfig c;
  c.assets = {asset("AAPL", 0.05, 0.3, 20), asset("BTC-USD", 0.1, 0.8, 50)};
  c.start_time = kStart;
  c.seed = seed;
  return c;
}

MarketSimulator make(SimulatorConfig config) {
  auto sim = MarketSimulator::create(std::move(config));
  EXPECT_TRUE(sim.ok()) << sim.message();
  return std::move(sim).value();
}

std::vector<SimulatedTick> take(MarketSimulator& sim, std::size_t n) {
  std::vector<SimulatedTick> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(sim.next());
  return out;
}

// Mean and unbiased sample variance.
struct Moments {
  double mean = 0;
  double variance = 0;
};
Moments moments(const std::vector<double>& xs) {
  double sum = 0;
  for (double x : xs) sum += x;
  const double mean = sum / static_cast<double>(xs.size());
  double ss = 0;
  for (double x : xs) ss += (x - mean) * (x - mean);
  return {mean, ss / static_cast<double>(xs.size() - 1)};
}

TEST(MarketSimulator, SameSeedSameTicksDifferentSeedDifferentTicks) {
  // Checks one seed and config reproduce the exact tick sequence, and another seed changes it.
  MarketSimulator a = make(two_assets(42));
  MarketSimulator b = make(two_assets(42));
  MarketSimulator c = make(two_assets(43));
  const auto ta = take(a, 5000);
  const auto tb = take(b, 5000);
  const auto tc = take(c, 5000);
  EXPECT_EQ(ta, tb);
  std::size_t same_price = 0;
  for (std::size_t i = 0; i < ta.size(); ++i) same_price += ta[i].tick.price == tc[i].tick.price;
  EXPECT_NE(ta, tc);
  EXPECT_LT(same_price, 10u);
}

TEST(MarketSimulator, StreamDoesNotDependOnHowItIsRead) {
  // Checks next_until in uneven clock steps yields exactly the ticks next() gives one by one, and
  // that adding a symbol leaves the existing symbol's ticks unchanged.
  MarketSimulator one_by_one = make(two_assets(7));
  MarketSimulator by_clock = make(two_assets(7));
  std::vector<SimulatedTick> clocked;
  for (Timestamp t = kStart - kSecond; t < kStart + 120 * kSecond; t += 377 * kMillisecond) {
    const auto batch = by_clock.next_until(t);
    for (const auto& tick : batch) EXPECT_LE(tick.tick.time, t);
    clocked.insert(clocked.end(), batch.begin(), batch.end());
  }
  ASSERT_GT(clocked.size(), 1000u);
  EXPECT_EQ(clocked, take(one_by_one, clocked.size()));

  SimulatorConfig more = two_assets(7);
  more.assets.push_back(asset("SPY", 0, 0.2, 100));
  MarketSimulator wider = make(more);
  MarketSimulator base = make(two_assets(7));
  std::vector<SimulatedTick> base_aapl, wider_aapl;
  while (base_aapl.size() < 500) {
    if (SimulatedTick t = base.next(); t.asset == 0) base_aapl.push_back(t);
  }
  while (wider_aapl.size() < 500) {
    if (SimulatedTick t = wider.next(); t.asset == 0) wider_aapl.push_back(t);
  }
  EXPECT_EQ(base_aapl, wider_aapl);
}

TEST(MarketSimulator, TimesIncreasePerSymbolAndNeverGoBack) {
  // Checks each symbol's ticks are strictly increasing, the merged stream non-decreasing, all
  // after start_time, and equal times ordered by symbol index.
  MarketSimulator sim = make(two_assets(1));
  EXPECT_TRUE(sim.next_until(kStart).empty());  // nothing at or before start_time
  std::vector<Timestamp> last(2, kStart);
  Timestamp prev = kStart;
  for (const auto& t : take(sim, 20000)) {
    EXPECT_GT(t.tick.time, last[t.asset]);
    EXPECT_GE(t.tick.time, prev);
    last[t.asset] = t.tick.time;
    prev = t.tick.time;
  }
  EXPECT_TRUE(sim.next_until(kStart).empty());  // a clock in the past yields nothing

  SimulatorConfig fixed;
  fixed.start_time = kStart;
  fixed.assets = {asset("B", 0, 0.2, 4, TickArrival::kFixed),
                  asset("A", 0, 0.2, 4, TickArrival::kFixed)};
  MarketSimulator tied = make(fixed);
  const auto ticks = tied.next_until(kStart + 10 * kSecond);
  ASSERT_EQ(ticks.size(), 80u);  // 4 per second each, the last exactly at 10 s
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    EXPECT_EQ(ticks[i].asset, i % 2);
    EXPECT_EQ(ticks[i].tick.time, kStart + static_cast<Timestamp>(i / 2 + 1) * 250 * kMillisecond);
  }
}

TEST(MarketSimulator, ZeroVolatilityFollowsDriftExactly) {
  // Checks with sigma = 0 every price is start_price * exp(mu t), t in 365.25-day years, to the
  // last bits, and to within half an increment when prices are rounded.
  SimulatorConfig c;
  c.start_time = kStart;
  c.assets = {asset("UP", 0.7, 0, 0.001), asset("DOWN", -0.4, 0, 0.002)};
  c.assets[1].start_price = 37.5;
  MarketSimulator sim = make(c);
  c.price_increment = 0.01;
  MarketSimulator rounded = make(c);
  for (int i = 0; i < 4000; ++i) {  // about 30 days
    const SimulatedTick t = sim.next();
    const SimulatedTick r = rounded.next();
    ASSERT_EQ(t.tick.time, r.tick.time);
    const SimulatedAsset& a = c.assets[t.asset];
    const double years = static_cast<double>(t.tick.time - kStart) / (365.25 * 86400e9);
    const double exact = a.start_price * std::exp(a.drift * years);
    EXPECT_NEAR(t.tick.price, exact, 1e-13 * exact);
    EXPECT_NEAR(r.tick.price, exact, 0.005 + 1e-12);
  }
}

TEST(MarketSimulator, LogReturnsOverFixedStepsHaveTheGbmMoments) {
  // Checks daily log returns have mean (mu - sigma^2/2) dt and variance sigma^2 dt, within four
  // standard errors of the theory (normal returns: SE of the mean sigma sqrt(dt / N), of the
  // variance sigma^2 dt sqrt(2 / (N - 1))).
  constexpr double kMu = 0.5;
  constexpr double kSigma = 2.0;  // large, so mu dt and (mu - sigma^2/2) dt are > 15 SE apart
  constexpr double kDt = 1.0 / 365.25;
  SimulatorConfig c;
  c.start_time = 0;
  c.seed = 2024;
  for (const char* s : {"A", "B", "C", "D", "E"}) {
    c.assets.push_back(asset(s, kMu, kSigma, 1.0 / 86400, TickArrival::kFixed));
  }
  MarketSimulator sim = make(c);
  std::vector<double> last_log(c.assets.size(), std::log(100.0));
  std::vector<double> returns;
  constexpr std::size_t kN = 100000;
  for (const auto& t : take(sim, kN)) {
    returns.push_back(std::log(t.tick.price) - last_log[t.asset]);
    last_log[t.asset] = std::log(t.tick.price);
  }
  const Moments m = moments(returns);
  const double n = static_cast<double>(kN);
  const double mean_se = kSigma * std::sqrt(kDt / n);
  const double var = kSigma * kSigma * kDt;
  EXPECT_NEAR(m.mean, (kMu - kSigma * kSigma / 2) * kDt, 4 * mean_se);
  EXPECT_NEAR(m.variance, var, 4 * var * std::sqrt(2 / (n - 1)));
}

TEST(MarketSimulator, LogReturnsOverPoissonGapsAreExactForEachGap) {
  // Checks per-tick log returns standardised by their own gap, (r - (mu - sigma^2/2) dt) /
  // (sigma sqrt(dt)), have mean 0 and variance 1 within four standard errors.
  constexpr double kMu = 0.1;
  constexpr double kSigma = 0.3;
  SimulatorConfig c;
  c.start_time = kStart;
  c.seed = 99;
  c.assets = {asset("X", kMu, kSigma, 10)};
  MarketSimulator sim = make(c);
  constexpr std::size_t kN = 100000;
  std::vector<double> z;
  double last_log = std::log(100.0);
  Timestamp last_time = kStart;
  for (const auto& t : take(sim, kN)) {
    const double dt = static_cast<double>(t.tick.time - last_time) / (365.25 * 86400e9);
    const double r = std::log(t.tick.price) - last_log;
    z.push_back((r - (kMu - kSigma * kSigma / 2) * dt) / (kSigma * std::sqrt(dt)));
    last_log = std::log(t.tick.price);
    last_time = t.tick.time;
  }
  const Moments m = moments(z);
  const double n = static_cast<double>(kN);
  EXPECT_NEAR(m.mean, 0, 4 / std::sqrt(n));
  EXPECT_NEAR(m.variance, 1, 4 * std::sqrt(2 / (n - 1)));
}

TEST(MarketSimulator, TickRateAndGapsMatchAPoissonProcess) {
  // Checks the tick count over a long horizon is within four sqrt(N) of rate * horizon and the
  // gaps have the exponential variance 1 / rate^2 (SE sqrt(8 / N) / rate^2).
  constexpr double kRate = 50;
  constexpr int kSeconds = 2000;
  SimulatorConfig c;
  c.start_time = kStart;
  c.seed = 5;
  c.assets = {asset("X", 0, 0.2, kRate)};
  MarketSimulator sim = make(c);
  const auto ticks = sim.next_until(kStart + kSeconds * kSecond);
  const double expected = kRate * kSeconds;
  EXPECT_NEAR(static_cast<double>(ticks.size()), expected, 4 * std::sqrt(expected));

  std::vector<double> gaps;
  Timestamp last = kStart;
  for (const auto& t : ticks) {
    gaps.push_back(static_cast<double>(t.tick.time - last) / kSecond);
    last = t.tick.time;
  }
  const Moments m = moments(gaps);
  const double n = static_cast<double>(gaps.size());
  EXPECT_NEAR(m.mean, 1 / kRate, 4 / kRate / std::sqrt(n));
  EXPECT_NEAR(m.variance, 1 / (kRate * kRate), 4 * std::sqrt(8 / n) / (kRate * kRate));
}

TEST(MarketSimulator, SizesArePositiveWithTheConfiguredMean) {
  // Checks lognormal sizes average mean_size within four standard errors (variance
  // mean^2 (exp(s^2) - 1)), and dispersion 0 gives mean_size on every tick.
  SimulatorConfig c;
  c.seed = 11;
  c.assets = {asset("X", 0, 0.2, 10), asset("Y", 0, 0.2, 10)};
  c.assets[0].mean_size = 250;
  c.assets[0].size_dispersion = 0.8;
  c.assets[1].mean_size = 100;
  c.assets[1].size_dispersion = 0;
  MarketSimulator sim = make(c);
  std::vector<double> sizes;
  for (const auto& t : take(sim, 200000)) {
    ASSERT_GT(t.tick.size, 0);
    if (t.asset == 0) {
      sizes.push_back(t.tick.size);
    } else {
      EXPECT_NEAR(t.tick.size, 100, 1e-12);
    }
  }
  const double n = static_cast<double>(sizes.size());
  const double sd = 250 * std::sqrt(std::exp(0.8 * 0.8) - 1);
  EXPECT_NEAR(moments(sizes).mean, 250, 4 * sd / std::sqrt(n));
}

TEST(MarketSimulator, PricesArePositiveAndOnTheIncrementGrid) {
  // Checks rounded prices are positive multiples of the increment, even when the path falls
  // below one increment (then the price is one increment).
  SimulatorConfig c;
  c.seed = 3;
  c.price_increment = 0.05;
  c.assets = {asset("PENNY", -3, 1.5, 1), asset("BIG", 0.2, 0.4, 1)};
  c.assets[0].start_price = 0.01;
  c.assets[1].start_price = 4321.0;
  MarketSimulator sim = make(c);
  bool floored = false;
  for (const auto& t : take(sim, 50000)) {
    ASSERT_GT(t.tick.price, 0);
    const double steps = t.tick.price / c.price_increment;
    ASSERT_NEAR(steps, std::round(steps), 1e-9 * steps) << t.tick.price;
    ASSERT_GE(std::round(steps), 1);
    floored = floored || t.tick.price == c.price_increment;
  }
  EXPECT_TRUE(floored);  // PENNY starts at 0.01, below one increment
}

TEST(MarketSimulator, RejectsBadConfigsNamingTheField) {
  // Checks each out-of-bounds field is refused with a message naming the field and the symbol.
  struct Case {
    const char* what;
    void (*edit)(SimulatorConfig&);
    std::vector<std::string> expected;
  };
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const std::vector<Case> cases = {
      {"no assets", [](SimulatorConfig& c) { c.assets.clear(); }, {"assets"}},
      {"bad symbol",
       [](SimulatorConfig& c) { c.assets[1].symbol = "BAD SYM"; },
       {"#1", "symbol", "BAD SYM"}},
      {"empty symbol", [](SimulatorConfig& c) { c.assets[0].symbol = ""; }, {"#0", "symbol"}},
      {"duplicate", [](SimulatorConfig& c) { c.assets[1].symbol = "AAPL"; }, {"AAPL", "duplicate"}},
      {"zero price",
       [](SimulatorConfig& c) { c.assets[0].start_price = 0; },
       {"AAPL", "start_price"}},
      {"NaN price",
       [](SimulatorConfig& c) { c.assets[1].start_price = kNaN; },
       {"BTC-USD", "start_price"}},
      {"inf drift", [](SimulatorConfig& c) { c.assets[0].drift = kInf; }, {"AAPL", "drift"}},
      {"negative sigma",
       [](SimulatorConfig& c) { c.assets[1].volatility = -0.1; },
       {"BTC-USD", "volatility", "-0.1"}},
      {"NaN sigma",
       [](SimulatorConfig& c) { c.assets[0].volatility = kNaN; },
       {"AAPL", "volatility"}},
      {"zero rate", [](SimulatorConfig& c) { c.assets[0].tick_rate = 0; }, {"AAPL", "tick_rate"}},
      {"negative rate",
       [](SimulatorConfig& c) { c.assets[0].tick_rate = -5; },
       {"AAPL", "tick_rate"}},
      {"NaN rate", [](SimulatorConfig& c) { c.assets[0].tick_rate = kNaN; }, {"AAPL", "tick_rate"}},
      {"huge rate",
       [](SimulatorConfig& c) { c.assets[1].tick_rate = 2e6; },
       {"BTC-USD", "tick_rate"}},
      {"zero size", [](SimulatorConfig& c) { c.assets[0].mean_size = 0; }, {"AAPL", "mean_size"}},
      {"negative dispersion",
       [](SimulatorConfig& c) { c.assets[0].size_dispersion = -1; },
       {"AAPL", "size_dispersion"}},
      {"negative increment",
       [](SimulatorConfig& c) { c.price_increment = -0.01; },
       {"price_increment"}},
      {"NaN increment", [](SimulatorConfig& c) { c.price_increment = kNaN; }, {"price_increment"}},
  };
  for (const Case& k : cases) {
    SimulatorConfig c = two_assets(1);
    k.edit(c);
    auto sim = MarketSimulator::create(c);
    ASSERT_FALSE(sim.ok()) << "accepted: " << k.what;
    for (const std::string& word : k.expected) {
      EXPECT_NE(sim.message().find(word), std::string::npos)
          << k.what << ": message lacks \"" << word << "\": " << sim.message();
    }
  }
  EXPECT_TRUE(MarketSimulator::create(two_assets(1)).ok());
}

TEST(MarketSimulator, FeedsCoherentMinuteBarsThroughTheAggregator) {
  // Checks ticks driven by a clock into CandleAggregator (1m bars) are all accepted and give one
  // bar per minute whose OHLCV matches the ticks of that minute, with low <= open, close <= high.
  MarketSimulator sim = make(two_assets(17));
  std::vector<CandleAggregator> aggregators;
  for (int i = 0; i < 2; ++i) {
    auto agg = CandleAggregator::create(BarRule::time(Interval::k1m));
    ASSERT_TRUE(agg.ok()) << agg.message();
    aggregators.push_back(std::move(agg).value());
  }
  // Reference bars computed straight from the ticks: asset -> minute -> candle.
  std::vector<std::map<Timestamp, Candle>> expected(2);
  std::vector<std::vector<Candle>> bars(2);
  const Timestamp end = kStart + kHour;
  for (Timestamp now = kStart + 7 * kSecond; now <= end; now += 7 * kSecond) {
    for (const SimulatedTick& t : sim.next_until(now)) {
      const TickOutcome out = aggregators[t.asset].on_tick(t.tick);
      ASSERT_TRUE(out.accepted());
      EXPECT_FALSE(out.out_of_order);
      if (out.closed) bars[t.asset].push_back(*out.closed);
      const Timestamp minute = bar_open_time(t.tick.time, Interval::k1m);
      auto [it, fresh] = expected[t.asset].try_emplace(
          minute, Candle{minute, t.tick.price, t.tick.price, t.tick.price, t.tick.price, 0});
      Candle& e = it->second;
      e.high = std::max(e.high, t.tick.price);
      e.low = std::min(e.low, t.tick.price);
      e.close = t.tick.price;
      e.volume += t.tick.size;
    }
    for (std::size_t a = 0; a < 2; ++a) {
      if (auto closed = aggregators[a].close_until(now)) bars[a].push_back(*closed);
    }
  }
  for (std::size_t a = 0; a < 2; ++a) {
    if (auto last = aggregators[a].flush()) bars[a].push_back(*last);
    ASSERT_EQ(bars[a].size(), 60u) << sim.symbol(a);  // P(an empty minute) < 1e-500
    ASSERT_EQ(bars[a].size(), expected[a].size());
    for (const Candle& bar : bars[a]) {
      EXPECT_GT(bar.low, 0);
      EXPECT_LE(bar.low, std::min(bar.open, bar.close));
      EXPECT_GE(bar.high, std::max(bar.open, bar.close));
      const Candle& e = expected[a].at(bar.time);
      EXPECT_EQ(bar.open, e.open);
      EXPECT_EQ(bar.high, e.high);
      EXPECT_EQ(bar.low, e.low);
      EXPECT_EQ(bar.close, e.close);
      EXPECT_NEAR(bar.volume, e.volume, 1e-9 * e.volume);
    }
  }
}

}  // namespace
}  // namespace tickgraph::ingest
