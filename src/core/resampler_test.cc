#include "core/resampler.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/candle_aggregator.h"
#include "core/interval.h"
#include "core/time.h"

namespace tickgraph {

// Readable failure messages (the same inline definition is in candle_aggregator_test.cc).
inline void PrintTo(const Candle& c, std::ostream* os) {
  *os << "{t=" << c.time << " o=" << c.open << " h=" << c.high << " l=" << c.low << " c=" << c.close
      << " v=" << c.volume << "}";
}

namespace {

Timestamp ts(const char* iso) {
  auto r = parse_timestamp(iso);
  EXPECT_TRUE(r.ok()) << iso << ": " << r.message();
  return r.ok() ? *r : 0;
}

CandleSeries series(const std::vector<Candle>& bars) {
  CandleSeries s;
  for (const Candle& c : bars) s.push_back(c);
  return s;
}

std::vector<Candle> rows(const CandleSeries& s) {
  std::vector<Candle> out;
  for (std::size_t i = 0; i < s.size(); ++i) out.push_back(s.at(i));
  return out;
}

CandleResampler make(Interval from, Interval to) {
  auto r = CandleResampler::create(from, to);
  EXPECT_TRUE(r.ok()) << r.message();
  return std::move(r).value();
}

// Pushes every bar, then flushes; fails the test on a refused bar.
std::vector<Candle> incremental(const CandleSeries& in, Interval from, Interval to) {
  CandleResampler r = make(from, to);
  std::vector<Candle> out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto pushed = r.push(in.at(i));
    EXPECT_TRUE(pushed.ok()) << pushed.message();
    if (pushed.ok() && *pushed) out.push_back(**pushed);
  }
  if (auto last = r.flush()) out.push_back(*last);
  return out;
}

TEST(Resampler, MinutesToHoursWithGaps) {
  // Checks 1m -> 1h takes open from the first existing minute, close from the last, high/low as
  // extremes and volume as the sum, stamps each hour with its own open even when its first
  // minutes are missing, and gives no bar for an hour with no minutes.
  const Timestamp h10 = ts("2020-04-17T10:00:00Z");
  const Timestamp h11 = ts("2020-04-17T11:00:00Z");
  const Timestamp h13 = ts("2020-04-17T13:00:00Z");
  const CandleSeries in = series({
      {h10, 100, 102, 99, 101, 5},
      {h10 + kMinute, 101, 105, 100, 104, 7},
      {h10 + 59 * kMinute, 104, 104, 98, 99, 1},
      {h11 + 30 * kMinute, 99, 100, 97, 98, 2},  // 11:00-11:29 missing
      {h11 + 31 * kMinute, 98, 103, 98, 103, 4},
      {h13 + 5 * kMinute, 103, 106, 102, 105, 3},  // no 12:xx at all
  });
  const std::vector<Candle> want = {
      {h10, 100, 105, 98, 99, 13},
      {h11, 99, 103, 97, 103, 6},
      {h13, 103, 106, 102, 105, 3},
  };
  auto out = resample(in, Interval::k1m, Interval::k1h);
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(rows(*out), want);
  EXPECT_EQ(incremental(in, Interval::k1m, Interval::k1h), want);
}

TEST(Resampler, DaysToMondayWeeksWithGaps) {
  // Checks 1d -> 1w groups days into Monday-to-Sunday weeks (a Sunday closes its week, a Monday
  // opens the next), skips weekends and an empty week, and works across 1970.
  const CandleSeries in = series({
      {ts("1969-12-31"), 10, 12, 9, 11, 1},  // Wednesday: week of Monday 1969-12-29
      {ts("1970-01-02"), 11, 13, 10, 12, 2},
      {ts("1970-01-04"), 12, 12, 8, 9, 3},    // Sunday: still that week
      {ts("1970-01-05"), 9, 10, 7, 8, 4},     // Monday: next week
      {ts("1970-01-20"), 8, 9, 5, 6, 5},      // Tuesday, after an empty week
      {ts("2020-04-15"), 50, 55, 49, 54, 6},  // Wednesday
      {ts("2020-04-17"), 54, 56, 53, 55, 7},  // Friday; no weekend bars
      {ts("2020-04-21"), 55, 57, 52, 53, 8},  // Tuesday; Monday missing
  });
  const std::vector<Candle> want = {
      {ts("1969-12-29"), 10, 13, 8, 9, 6},   {ts("1970-01-05"), 9, 10, 7, 8, 4},
      {ts("1970-01-19"), 8, 9, 5, 6, 5},     {ts("2020-04-13"), 50, 56, 49, 55, 13},
      {ts("2020-04-20"), 55, 57, 52, 53, 8},
  };
  auto out = resample(in, Interval::k1d, Interval::k1w);
  ASSERT_TRUE(out.ok()) << out.message();
  EXPECT_EQ(rows(*out), want);
  EXPECT_EQ(incremental(in, Interval::k1d, Interval::k1w), want);
}

TEST(Resampler, EmptyInputGivesEmptyOutput) {
  // Checks an empty series resamples to an empty series, and an idle resampler closes nothing.
  auto out = resample(CandleSeries{}, Interval::k1m, Interval::k5m);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->empty());
  CandleResampler r = make(Interval::k1m, Interval::k5m);
  EXPECT_FALSE(r.forming());
  EXPECT_FALSE(r.flush());
  EXPECT_FALSE(r.close_until(ts("2030-01-01")));
}

TEST(Resampler, RefusesATargetThatIsNotACoarserMultiple) {
  // Checks finer, equal and non-nesting targets are refused by both forms, naming both intervals.
  const std::pair<Interval, Interval> bad[] = {{Interval::k1h, Interval::k1m},
                                               {Interval::k1m, Interval::k1m},
                                               {Interval::k1w, Interval::k1d},
                                               {Interval::k1d, Interval::k4h}};
  for (auto [from, to] : bad) {
    auto out = resample(CandleSeries{}, from, to);
    ASSERT_FALSE(out.ok());
    EXPECT_NE(out.message().find(std::string(interval_name(from))), std::string::npos);
    EXPECT_NE(out.message().find(std::string(interval_name(to))), std::string::npos);
    EXPECT_FALSE(CandleResampler::create(from, to).ok());
  }
  EXPECT_TRUE(resample(CandleSeries{}, Interval::k4h, Interval::k1w).ok());
}

TEST(Resampler, RefusesMisalignedOrUnorderedRowsNamingTheRow) {
  // Checks a row not on a `from` boundary, a repeated time and a time going backwards are each
  // refused with the row number in the message.
  const Timestamp m = ts("2020-04-17T10:00:00Z");
  struct Case {
    std::vector<Timestamp> times;
    const char* row;
  };
  const Case cases[] = {
      {{m, m + kMinute, m + 2 * kMinute + 30 * kSecond}, "row 2"},
      {{m + 30 * kSecond}, "row 0"},
      {{m, m + kMinute, m + kMinute}, "row 2"},
      {{m, m + 2 * kMinute, m + kMinute}, "row 2"},
  };
  for (const Case& c : cases) {
    CandleSeries in;
    for (Timestamp t : c.times) in.push_back({t, 1, 1, 1, 1, 1});
    auto out = resample(in, Interval::k1m, Interval::k5m);
    ASSERT_FALSE(out.ok());
    EXPECT_NE(out.message().find(c.row), std::string::npos) << out.message();
  }
  CandleSeries ragged = series({{m, 1, 1, 1, 1, 1}});
  ragged.volume.clear();
  EXPECT_FALSE(resample(ragged, Interval::k1m, Interval::k5m).ok());
}

TEST(CandleResampler, RefusesBadBarsWithoutChangingState) {
  // Checks push refuses a misaligned bar, a bar not after the previous one, and a bar in a coarse
  // bar already closed by close_until, leaving the forming bar untouched.
  const Timestamp h = ts("2020-04-17T10:00:00Z");
  CandleResampler r = make(Interval::k1m, Interval::k1h);
  ASSERT_TRUE(r.push({h + 5 * kMinute, 10, 11, 9, 10, 1}).ok());
  const std::optional<Candle> before = r.forming();
  for (Timestamp t : {h + 6 * kMinute + 1, h + 5 * kMinute, h + 4 * kMinute}) {
    auto p = r.push({t, 50, 50, 50, 50, 50});
    EXPECT_FALSE(p.ok());
    EXPECT_NE(p.message().find(format_timestamp(t)), std::string::npos) << p.message();
    EXPECT_EQ(r.forming(), before);
  }
  ASSERT_TRUE(r.close_until(h + kHour));
  auto into_closed = r.push({h + 30 * kMinute, 50, 50, 50, 50, 50});
  EXPECT_FALSE(into_closed.ok());
  EXPECT_NE(into_closed.message().find("closed"), std::string::npos) << into_closed.message();
  EXPECT_FALSE(r.forming());
  EXPECT_TRUE(r.push({h + kHour, 50, 50, 50, 50, 50}).ok());
}

TEST(CandleResampler, ClosesOnLaterSpanCloseUntilAndFlush) {
  // Checks a coarse bar closes when a fine bar of a later span arrives, or when close_until
  // reaches its end (not before), and that forming shows the partial coarse bar.
  const Timestamp h = ts("2020-04-17T10:00:00Z");
  CandleResampler r = make(Interval::k1m, Interval::k5m);
  auto a = r.push({h + kMinute, 10, 12, 9, 11, 1});
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(*a);
  EXPECT_EQ(r.forming(), (Candle{h, 10, 12, 9, 11, 1}));
  ASSERT_TRUE(r.push({h + 3 * kMinute, 11, 14, 11, 13, 2}).ok());
  EXPECT_EQ(r.forming(), (Candle{h, 10, 14, 9, 13, 3}));

  auto b = r.push({h + 6 * kMinute, 13, 13, 12, 12, 4});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, (Candle{h, 10, 14, 9, 13, 3}));

  EXPECT_FALSE(r.close_until(h + 10 * kMinute - 1));
  EXPECT_EQ(r.close_until(h + 10 * kMinute), (Candle{h + 5 * kMinute, 13, 13, 12, 12, 4}));
  ASSERT_TRUE(r.push({h + 12 * kMinute, 12, 12, 12, 12, 1}).ok());
  EXPECT_EQ(r.flush(), (Candle{h + 10 * kMinute, 12, 12, 12, 12, 1}));
  EXPECT_FALSE(r.flush());
}

// A random series of `from` bars with random gaps, starting before 1970.
CandleSeries random_series(std::mt19937_64& rng, Interval from, int n) {
  const Duration d = interval_duration(from);
  std::uniform_int_distribution<int> skip(0, 99);
  std::uniform_real_distribution<double> move(-1, 1);
  std::uniform_real_distribution<double> vol(0, 1000);
  CandleSeries s;
  Timestamp t = bar_open_time(ts("1969-11-03T07:00:00Z"), from);
  double price = 100;
  for (int i = 0; i < n; ++i) {
    const int r = skip(rng);
    t += d * (r < 60 ? 1 : r < 90 ? 2 + r % 5 : 20 + r * 3);  // short and long gaps
    const double open = price;
    price = std::max(1.0, price + move(rng));
    s.push_back(
        {t, open, std::max(open, price) + 0.5, std::min(open, price) - 0.5, price, vol(rng)});
  }
  return s;
}

TEST(Resampler, BatchEqualsIncrementalOnRandomSeriesWithGaps) {
  // Checks resample() and CandleResampler give bit-identical bars for every valid interval pair
  // on random series with random gaps, and that each coarse bar lies on its own boundary.
  std::mt19937_64 rng(42);
  int pairs = 0;
  for (Interval from : kAllIntervals) {
    for (Interval to : kAllIntervals) {
      if (!interval_divides(from, to)) continue;
      ++pairs;
      SCOPED_TRACE(std::string(interval_name(from)) + " -> " + std::string(interval_name(to)));
      const CandleSeries in = random_series(rng, from, 2000);
      auto batch = resample(in, from, to);
      ASSERT_TRUE(batch.ok()) << batch.message();
      const std::vector<Candle> got = rows(*batch);
      EXPECT_EQ(got, incremental(in, from, to));
      ASSERT_FALSE(got.empty());
      for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(bar_open_time(got[i].time, to), got[i].time);
        if (i > 0) {
          EXPECT_LT(got[i - 1].time, got[i].time);
        }
      }
    }
  }
  EXPECT_EQ(pairs, 28);  // 7 + 6 + … + 1: every interval nests in every coarser one
}

TEST(Resampler, ResamplingAggregatedBarsEqualsAggregatingTicksDirectly) {
  // Checks the law ticks -> `from` bars -> `to` bars == ticks -> `to` bars, on random in-order
  // ticks with gaps (whole sizes, so the volume sums are exact in any order).
  std::mt19937_64 rng(7);
  const std::pair<Interval, Interval> pairs[] = {{Interval::k1m, Interval::k1h},
                                                 {Interval::k15m, Interval::k4h},
                                                 {Interval::k1h, Interval::k1d},
                                                 {Interval::k1d, Interval::k1w}};
  for (auto [from, to] : pairs) {
    SCOPED_TRACE(std::string(interval_name(from)) + " -> " + std::string(interval_name(to)));
    const Duration d = interval_duration(from);
    std::uniform_int_distribution<Duration> step(0, d);
    std::uniform_int_distribution<int> gap(0, 99);
    std::uniform_real_distribution<double> price(10, 20);
    std::uniform_int_distribution<int> size(0, 100);

    CandleAggregator fine = std::move(CandleAggregator::create(BarRule::time(from))).value();
    CandleAggregator direct = std::move(CandleAggregator::create(BarRule::time(to))).value();
    CandleSeries fine_bars;
    std::vector<Candle> want;
    Timestamp t = ts("1969-12-01");
    for (int i = 0; i < 20000; ++i) {
      t += step(rng) + (gap(rng) == 0 ? 50 * d : 0);
      const Tick tick{t, price(rng), static_cast<double>(size(rng))};
      if (auto c = fine.on_tick(tick).closed) fine_bars.push_back(*c);
      if (auto c = direct.on_tick(tick).closed) want.push_back(*c);
    }
    if (auto c = fine.flush()) fine_bars.push_back(*c);
    if (auto c = direct.flush()) want.push_back(*c);

    auto got = resample(fine_bars, from, to);
    ASSERT_TRUE(got.ok()) << got.message();
    EXPECT_EQ(rows(*got), want);
  }
}

}  // namespace
}  // namespace tickgraph
