// BarReader against a real SQLite file: bars derived on read equal an aggregation written here
// (a map from each bar's span to its OHLCV, not the resampler) at every coarser interval, across
// a gap and a week boundary; stored bars win span by span; a stored intermediate interval feeds
// the coarser ones; forming bars are left out by the clock; limits and latest-n reads are the
// full series' head and tail; an asset with only the asked interval reads as the store gives it.
#include "store/bar_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace tickgraph::store {
namespace {

// Wednesday 2021-03-03 13:17 UTC: mid-hour and mid-week, so the first derived bars of most
// intervals are partial, as an import's are.
constexpr Timestamp kStart = 1'614'777'420 * kSecond;

// A deterministic walk of 1m bars from kStart for `minutes`, without the minutes `skip` names.
template <typename Skip>
std::vector<Candle> minutes_of(int minutes, Skip skip, std::uint64_t seed = 1) {
  std::vector<Candle> bars;
  double price = 100;
  std::uint64_t x = seed;
  for (int i = 0; i < minutes; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const double step = static_cast<double>(x >> 40) / static_cast<double>(1ULL << 24) - 0.5;
    const double open = price;
    price *= 1 + 0.001 * step;
    if (skip(i)) continue;
    const double volume = 10.0 + static_cast<double>(x >> 58) + 0.1 * (i % 7);
    bars.push_back({kStart + i * kMinute, open, std::max(open, price) * 1.0002,
                    std::min(open, price) * 0.9998, price, volume});
  }
  return bars;
}

// Eight days of minutes (Wednesday to the next Thursday, over the Monday week boundary) with a
// gap: Thursday 02:00 to 07:30 and all of Saturday have no bars.
std::vector<Candle> minutes_with_gaps() {
  const Timestamp thursday = bar_open_time(kStart, Interval::k1d) + kDay;
  return minutes_of(8 * 1440, [thursday](int i) {
    const Timestamp t = kStart + i * kMinute;
    const bool thursday_gap = t >= thursday + 2 * kHour && t < thursday + 7 * kHour + 30 * kMinute;
    const bool saturday = t >= thursday + 2 * kDay && t < thursday + 3 * kDay;
    return thursday_gap || saturday;
  });
}

// The aggregation of `bars` into `interval`, independent of the resampler: a map from each
// bar's span (UTC, weeks from Monday 1970-01-05) to its OHLCV, volumes summed in time order.
CandleSeries aggregate(const std::vector<Candle>& bars, Interval interval) {
  const Duration d = interval_duration(interval);
  const Timestamp origin = interval == Interval::k1w ? 4 * kDay : 0;
  std::map<Timestamp, Candle> spans;
  for (const Candle& b : bars) {
    Timestamp k = (b.time - origin) / d;
    if ((b.time - origin) % d < 0) --k;
    const Timestamp open = origin + k * d;
    auto [it, fresh] = spans.try_emplace(open, Candle{open, b.open, b.high, b.low, b.close, 0});
    Candle& c = it->second;
    if (!fresh) {
      c.high = b.high > c.high ? b.high : c.high;
      c.low = b.low < c.low ? b.low : c.low;
      c.close = b.close;
    }
    c.volume += b.volume;
  }
  CandleSeries out;
  for (const auto& [open, c] : spans) out.push_back(c);
  return out;
}

std::vector<Candle> rows(const CandleSeries& s) {
  std::vector<Candle> out;
  for (std::size_t i = 0; i < s.size(); ++i) out.push_back(s.at(i));
  return out;
}

bool same(const CandleSeries& a, const CandleSeries& b) {
  return a.time == b.time && a.open == b.open && a.high == b.high && a.low == b.low &&
         a.close == b.close && a.volume == b.volume;
}

// The bars of `s` whose open time is in [from, to].
CandleSeries between(const CandleSeries& s, Timestamp from, Timestamp to) {
  return s.slice(s.lower_bound(from), s.lower_bound(to == INT64_MAX ? to : to + 1));
}

std::string describe(const CandleSeries& s) {
  std::string out = std::to_string(s.size()) + " bars";
  for (std::size_t i = 0; i < s.size() && i < 4; ++i) {
    out += " {" + format_timestamp(s.time[i]) + " o=" + std::to_string(s.open[i]) +
           " v=" + std::to_string(s.volume[i]) + "}";
  }
  return out;
}

class BarReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (std::filesystem::temp_directory_path() / "tickgraph-bars-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    auto opened = open_store("sqlite:" + dir_ + "/bars.db");
    ASSERT_TRUE(opened.ok()) << opened.message();
    store_ = std::move(opened).value();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::int64_t add(const std::string& symbol) {
    Asset a;
    a.symbol = symbol;
    auto stored = store_->upsert_asset(a);
    EXPECT_TRUE(stored.ok()) << stored.message();
    return stored.ok() ? stored->id : -1;
  }
  void write(std::int64_t id, Interval interval, const std::vector<Candle>& bars) {
    auto written = store_->write_candles(id, interval, bars);
    ASSERT_TRUE(written.ok()) << written.message();
  }
  CandleSeries read(std::int64_t id, Interval interval, TimeRange range = {},
                    std::size_t limit = 0) {
    auto bars = BarReader(*store_, clock_).read(id, interval, range, limit);
    EXPECT_TRUE(bars.ok()) << bars.message();
    return bars.ok() ? *bars : CandleSeries{};
  }
  CandleSeries latest(std::int64_t id, Interval interval, std::size_t n,
                      Timestamp before = INT64_MAX) {
    auto bars = BarReader(*store_, clock_).latest(id, interval, n, before);
    EXPECT_TRUE(bars.ok()) << bars.message();
    return bars.ok() ? *bars : CandleSeries{};
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  ManualClock clock_{kStart + 30 * kDay};  // long after every bar: all of them closed
};

const Interval kCoarser[] = {Interval::k5m, Interval::k15m, Interval::k1h,
                             Interval::k4h, Interval::k1d,  Interval::k1w};

TEST_F(BarReaderTest, DerivedBarsEqualAnIndependentAggregationAtEveryInterval) {
  const auto minutes = minutes_with_gaps();
  const std::int64_t id = add("MIN");
  write(id, Interval::k1m, minutes);
  for (Interval interval : kCoarser) {
    SCOPED_TRACE(std::string(interval_name(interval)));
    const CandleSeries want = aggregate(minutes, interval);
    ASSERT_GT(want.size(), 1u);
    const CandleSeries got = read(id, interval);
    EXPECT_TRUE(same(got, want)) << "got " << describe(got) << "\nwant " << describe(want);
  }
  // The gap stays a gap: no hourly bar from Thursday 02:00 to 07:00, none on Saturday.
  const CandleSeries hours = read(id, Interval::k1h);
  const Timestamp thursday = bar_open_time(kStart, Interval::k1d) + kDay;
  EXPECT_EQ(between(hours, thursday + 2 * kHour, thursday + 6 * kHour).size(), 0u);
  EXPECT_EQ(between(hours, thursday + 2 * kDay, thursday + 3 * kDay - 1).size(), 0u);
  EXPECT_EQ(between(hours, thursday + 7 * kHour, thursday + 7 * kHour).size(), 1u);
  // Weeks from Monday: the first week's bar opens on Monday 2021-03-01, the second on 03-08.
  const CandleSeries weeks = read(id, Interval::k1w);
  ASSERT_EQ(weeks.size(), 2u);
  EXPECT_EQ(format_timestamp(weeks.time[0]), format_timestamp(1'614'556'800 * kSecond));
  EXPECT_EQ(weeks.time[1] - weeks.time[0], kWeek);
}

TEST_F(BarReaderTest, RangesLimitsAndLatestAreTheFullSeriesHeadAndTail) {
  const auto minutes = minutes_with_gaps();
  const std::int64_t id = add("MIN");
  write(id, Interval::k1m, minutes);
  for (Interval interval : {Interval::k15m, Interval::k1h, Interval::k1d}) {
    SCOPED_TRACE(std::string(interval_name(interval)));
    const CandleSeries all = aggregate(minutes, interval);
    const Timestamp from = kStart + kDay + 17 * kMinute;  // not a bar boundary
    const Timestamp to = kStart + 5 * kDay;
    EXPECT_TRUE(same(read(id, interval, {from, to}), between(all, from, to)));
    for (std::size_t n : {1u, 7u, 40u, 100000u}) {
      SCOPED_TRACE("n=" + std::to_string(n));
      const CandleSeries head = between(all, from, INT64_MAX);
      EXPECT_TRUE(
          same(read(id, interval, {from, INT64_MAX}, n), head.slice(0, std::min(n, head.size()))));
      const CandleSeries tail = between(all, INT64_MIN, to);
      const std::size_t k = std::min(n, tail.size());
      EXPECT_TRUE(same(latest(id, interval, n, to), tail.slice(tail.size() - k, tail.size())));
      EXPECT_TRUE(same(latest(id, interval, n),
                       all.slice(all.size() - std::min(n, all.size()), all.size())));
    }
  }
  EXPECT_EQ(latest(id, Interval::k1h, 0).size(), 0u);
  EXPECT_EQ(read(id, Interval::k1h, {kStart + kDay, kStart}).size(), 0u);
  // The ends of time: reads there hold nothing and every bar boundary stays in range.
  for (Interval interval : {Interval::k1h, Interval::k1w}) {
    EXPECT_EQ(read(id, interval, {INT64_MIN, INT64_MIN + 1}).size(), 0u);
    EXPECT_EQ(read(id, interval, {INT64_MAX - 1, INT64_MAX}, 3).size(), 0u);
    EXPECT_EQ(latest(id, interval, 3, INT64_MIN).size(), 0u);
    EXPECT_EQ(read(id, interval, {INT64_MIN, INT64_MAX}).size(),
              aggregate(minutes, interval).size());
  }
  clock_.set(INT64_MIN);
  EXPECT_EQ(read(id, Interval::k1w).size(), 0u);  // nothing has closed yet
}

TEST_F(BarReaderTest, AStoredCoarserBarWinsOverADerivedOne) {
  const auto minutes = minutes_with_gaps();
  const std::int64_t id = add("MIX");
  write(id, Interval::k1m, minutes);
  CandleSeries want = aggregate(minutes, Interval::k1h);
  // A stored hour that differs from its minutes, and one in the Thursday gap, which has none.
  const std::size_t replaced = 5;
  Candle own = want.at(replaced);
  own.close += 1.5;
  own.volume = 1;
  const Timestamp thursday = bar_open_time(kStart, Interval::k1d) + kDay;
  const Candle in_gap{thursday + 3 * kHour, 50, 51, 49, 50.5, 7};
  write(id, Interval::k1h, {own, in_gap});

  const CandleSeries got = read(id, Interval::k1h);
  ASSERT_EQ(got.size(), want.size() + 1);
  const std::size_t row = got.lower_bound(own.time);
  EXPECT_EQ(got.close[row], own.close);
  EXPECT_EQ(got.volume[row], 1.0);
  const std::size_t gap_row = got.lower_bound(in_gap.time);
  ASSERT_EQ(got.time[gap_row], in_gap.time);
  EXPECT_EQ(got.volume[gap_row], 7.0);
  // Every other hour is the minutes' aggregation.
  CandleSeries rest;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (i != row && i != gap_row) rest.push_back(got.at(i));
  }
  CandleSeries want_rest;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (i != replaced) want_rest.push_back(want.at(i));
  }
  EXPECT_TRUE(same(rest, want_rest));
  // And a day holding the stored hour is aggregated from it (the live path's chain), not from
  // that hour's minutes.
  const CandleSeries days = read(id, Interval::k1d);
  const std::size_t day = days.lower_bound(bar_open_time(own.time, Interval::k1d));
  EXPECT_EQ(days.volume[day], aggregate(rows(got), Interval::k1d).volume[day]);
  EXPECT_NE(days.volume[day], aggregate(minutes, Interval::k1d).volume[day]);
}

TEST_F(BarReaderTest, AStoredIntermediateIntervalFeedsTheCoarserOnes) {
  // As Yahoo serves them: hours for the first five days, minutes for the last three.
  const auto minutes = minutes_with_gaps();
  const Timestamp split = bar_open_time(kStart, Interval::k1d) + 5 * kDay;
  std::vector<Candle> early;
  std::vector<Candle> late;
  for (const Candle& m : minutes) (m.time < split ? early : late).push_back(m);
  const CandleSeries hours = aggregate(early, Interval::k1h);
  const std::int64_t id = add("YHO");
  write(id, Interval::k1h, rows(hours));
  write(id, Interval::k1m, late);

  // Each span from what is stored in it: the hours, then the minutes.
  std::vector<Candle> sources = rows(hours);
  for (const Candle& h : rows(aggregate(late, Interval::k1h))) sources.push_back(h);
  for (Interval interval : {Interval::k4h, Interval::k1d, Interval::k1w}) {
    SCOPED_TRACE(std::string(interval_name(interval)));
    EXPECT_TRUE(same(read(id, interval), aggregate(sources, interval)));
  }
  // 15m bars exist only where minutes do.
  EXPECT_TRUE(same(read(id, Interval::k15m), aggregate(late, Interval::k15m)));
}

TEST_F(BarReaderTest, ABarStillFormingIsLeftOut) {
  const auto minutes = minutes_of(3 * 60, [](int) { return false; });  // 13:17 to 16:16
  const std::int64_t id = add("NOW");
  write(id, Interval::k1m, minutes);
  const Timestamp last_hour = bar_open_time(minutes.back().time, Interval::k1h);
  clock_.set(last_hour + kHour - 1);  // the 16:00 bar ends in a nanosecond
  CandleSeries hours = read(id, Interval::k1h);
  ASSERT_FALSE(hours.empty());
  EXPECT_EQ(hours.time.back(), last_hour - kHour);
  EXPECT_EQ(read(id, Interval::k1d).size(), 0u);
  EXPECT_EQ(latest(id, Interval::k1h, 1).time.back(), last_hour - kHour);
  clock_.set(last_hour + kHour);  // now it has closed
  hours = read(id, Interval::k1h);
  EXPECT_EQ(hours.time.back(), last_hour);
  EXPECT_TRUE(same(hours, aggregate(minutes, Interval::k1h)));
}

TEST_F(BarReaderTest, NoBarIsDerivedWhereTheLiveEngineAggregatesTicks) {
  const auto minutes = minutes_of(6 * 60, [](int) { return false; });  // 13:17 to 19:16
  const std::int64_t id = add("LIV");
  write(id, Interval::k1m, minutes);
  // Live ticks from 16:20 on: the engine stores its own 1h bars from the 16:00 one on.
  const Timestamp first_tick = bar_open_time(kStart, Interval::k1h) + 3 * kHour + 20 * kMinute;
  ASSERT_TRUE(store_->write_ticks(id, std::vector<StoredTick>{{first_tick, 0, 100.0, 1.0}}).ok());
  const CandleSeries hours = read(id, Interval::k1h);
  ASSERT_FALSE(hours.empty());
  EXPECT_EQ(hours.time.back(), bar_open_time(first_tick, Interval::k1h) - kHour);
  EXPECT_TRUE(
      same(hours, between(aggregate(minutes, Interval::k1h), INT64_MIN, hours.time.back())));
  EXPECT_EQ(latest(id, Interval::k1h, 1).time.back(), hours.time.back());
}

TEST_F(BarReaderTest, AnAssetStoringOnlyTheAskedIntervalReadsAsTheStoreGivesIt) {
  const auto minutes = minutes_with_gaps();
  const CandleSeries days = aggregate(minutes, Interval::k1d);
  const std::int64_t id = add("DLY");
  write(id, Interval::k1d, rows(days));
  const TimeRange some{kStart + kDay, kStart + 5 * kDay};
  auto stored = store_->read_candles(id, Interval::k1d, some, 2);
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(same(read(id, Interval::k1d, some, 2), *stored));
  EXPECT_TRUE(same(read(id, Interval::k1d), days));
  EXPECT_TRUE(same(latest(id, Interval::k1d, 3, kStart + 4 * kDay),
                   *store_->latest_candles(id, Interval::k1d, 3, kStart + 4 * kDay)));
  // Finer intervals are never made up from coarser ones.
  EXPECT_EQ(read(id, Interval::k1h).size(), 0u);
  EXPECT_EQ(latest(id, Interval::k1m, 5).size(), 0u);
  // And coarser ones are derived from the days.
  EXPECT_TRUE(same(read(id, Interval::k1w), aggregate(rows(days), Interval::k1w)));
}

}  // namespace
}  // namespace tickgraph::store
