#include "core/candle_aggregator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/interval.h"
#include "core/time.h"

namespace tickgraph {

// Readable failure messages (the same inline definition is in resampler_test.cc).
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

CandleAggregator make(BarRule rule) {
  auto r = CandleAggregator::create(rule);
  EXPECT_TRUE(r.ok()) << r.message();
  return std::move(r).value();
}

Candle candle(Timestamp t, double o, double h, double l, double c, double v) {
  return Candle{t, o, h, l, c, v};
}

struct BoundaryCase {
  Interval interval;
  const char* tick;       // a time inside the bar
  const char* open;       // that bar's open, worked out by hand
  const char* next_open;  // the following bar's open
};

TEST(CandleAggregator, TimeBarBoundariesForEveryInterval) {
  // Checks each interval's bar opens and closes exactly on its boundary (weeks on Monday), also
  // before 1970, with the boundary tick starting the next bar and the one before it ending a bar.
  const BoundaryCase cases[] = {
      // 2020-04-17 is a Friday.
      {Interval::k1s, "2020-04-17T13:47:12.5Z", "2020-04-17T13:47:12Z", "2020-04-17T13:47:13Z"},
      {Interval::k1m, "2020-04-17T13:47:12.5Z", "2020-04-17T13:47:00Z", "2020-04-17T13:48:00Z"},
      {Interval::k5m, "2020-04-17T13:47:12.5Z", "2020-04-17T13:45:00Z", "2020-04-17T13:50:00Z"},
      {Interval::k15m, "2020-04-17T13:47:12.5Z", "2020-04-17T13:45:00Z", "2020-04-17T14:00:00Z"},
      {Interval::k1h, "2020-04-17T13:47:12.5Z", "2020-04-17T13:00:00Z", "2020-04-17T14:00:00Z"},
      {Interval::k4h, "2020-04-17T13:47:12.5Z", "2020-04-17T12:00:00Z", "2020-04-17T16:00:00Z"},
      {Interval::k1d, "2020-04-17T13:47:12.5Z", "2020-04-17", "2020-04-18"},
      {Interval::k1w, "2020-04-17T13:47:12.5Z", "2020-04-13", "2020-04-20"},
      // 1969-12-31 is a Wednesday; its week began on Monday 1969-12-29.
      {Interval::k1s, "1969-12-31T21:37:42.25Z", "1969-12-31T21:37:42Z", "1969-12-31T21:37:43Z"},
      {Interval::k1m, "1969-12-31T21:37:42.25Z", "1969-12-31T21:37:00Z", "1969-12-31T21:38:00Z"},
      {Interval::k5m, "1969-12-31T21:37:42.25Z", "1969-12-31T21:35:00Z", "1969-12-31T21:40:00Z"},
      {Interval::k15m, "1969-12-31T21:37:42.25Z", "1969-12-31T21:30:00Z", "1969-12-31T21:45:00Z"},
      {Interval::k1h, "1969-12-31T21:37:42.25Z", "1969-12-31T21:00:00Z", "1969-12-31T22:00:00Z"},
      {Interval::k4h, "1969-12-31T21:37:42.25Z", "1969-12-31T20:00:00Z", "1970-01-01"},
      {Interval::k1d, "1969-12-31T21:37:42.25Z", "1969-12-31", "1970-01-01"},
      {Interval::k1w, "1969-12-31T21:37:42.25Z", "1969-12-29", "1970-01-05"},
      // A week straddling the epoch: Monday 1969-12-29 to Monday 1970-01-05.
      {Interval::k1w, "1970-01-04T23:59:59Z", "1969-12-29", "1970-01-05"},
  };
  for (const BoundaryCase& c : cases) {
    SCOPED_TRACE(std::string(interval_name(c.interval)) + " at " + c.tick);
    const Timestamp open = ts(c.open);
    const Timestamp next = ts(c.next_open);
    const Timestamp inside = ts(c.tick);
    CandleAggregator agg = make(BarRule::time(c.interval));

    TickOutcome before = agg.on_tick({open - 1, 1.0, 1});
    ASSERT_TRUE(before.accepted());
    EXPECT_LT(*before.bar_time, open);

    TickOutcome first = agg.on_tick({open, 2.0, 1});
    ASSERT_TRUE(first.accepted());
    EXPECT_EQ(first.bar_time, open);
    ASSERT_TRUE(first.closed);  // the tick 1 ns earlier was in the previous bar
    EXPECT_EQ(first.closed->time, *before.bar_time);
    EXPECT_EQ(first.closed->close, 1.0);

    for (auto [t, p] : {std::pair{inside, 3.0}, std::pair{next - 1, 4.0}}) {
      TickOutcome o = agg.on_tick({t, p, 1});
      ASSERT_TRUE(o.accepted());
      EXPECT_EQ(o.bar_time, open);
      EXPECT_FALSE(o.closed);
    }

    TickOutcome after = agg.on_tick({next, 5.0, 1});
    ASSERT_TRUE(after.accepted());
    EXPECT_EQ(after.bar_time, next);
    ASSERT_TRUE(after.closed);
    EXPECT_EQ(*after.closed, candle(open, 2.0, 4.0, 2.0, 4.0, 3));
    EXPECT_EQ(agg.forming(), candle(next, 5.0, 5.0, 5.0, 5.0, 1));
  }
}

TEST(CandleAggregator, TickBarsCloseEveryNTicksStampedWithFirstTick) {
  // Checks tick bars close on the Nth tick, which belongs to the closing bar, and carry the time
  // of their first tick.
  CandleAggregator agg = make(BarRule::ticks(3));
  const Tick ticks[] = {{1000, 10, 1}, {1500, 12, 2}, {1700, 9, 3}, {2000, 11, 4},
                        {2100, 11, 5}, {2100, 13, 6}, {3000, 8, 7}};
  std::vector<Candle> closed;
  for (const Tick& t : ticks) {
    TickOutcome o = agg.on_tick(t);
    ASSERT_TRUE(o.accepted());
    if (o.closed) closed.push_back(*o.closed);
  }
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_EQ(closed[0], candle(1000, 10, 12, 9, 9, 6));
  EXPECT_EQ(closed[1], candle(2000, 11, 13, 11, 13, 15));
  EXPECT_EQ(agg.forming(), candle(3000, 8, 8, 8, 8, 7));
  EXPECT_EQ(agg.stats().bars_closed, 2u);
}

TEST(CandleAggregator, VolumeBarsCloseOnTheTickThatReachesOrCrosses) {
  // Checks volume bars close on the tick that reaches or crosses the threshold, without splitting
  // it, including a single tick larger than the threshold.
  CandleAggregator agg = make(BarRule::volume(10));
  struct Step {
    Tick tick;
    bool closes;
  };
  const Step steps[] = {
      {{1, 100, 4}, false}, {{2, 101, 5}, false}, {{3, 99, 3}, true},  // 12: crosses
      {{4, 98, 6}, false},  {{5, 97, 4}, true},                        // 10: reaches
      {{6, 96, 25}, true},                                             // one big tick
      {{7, 95, 1}, false},
  };
  std::vector<Candle> closed;
  for (const Step& s : steps) {
    TickOutcome o = agg.on_tick(s.tick);
    ASSERT_TRUE(o.accepted());
    EXPECT_EQ(o.closed.has_value(), s.closes) << "tick at " << s.tick.time;
    if (o.closed) closed.push_back(*o.closed);
  }
  ASSERT_EQ(closed.size(), 3u);
  EXPECT_EQ(closed[0], candle(1, 100, 101, 99, 99, 12));
  EXPECT_EQ(closed[1], candle(4, 98, 98, 97, 97, 10));
  EXPECT_EQ(closed[2], candle(6, 96, 96, 96, 96, 25));
  EXPECT_EQ(agg.forming(), candle(7, 95, 95, 95, 95, 1));
}

TEST(CandleAggregator, ValueBarsCloseOnTradedValue) {
  // Checks value (dollar) bars sum price * size and close on reaching or crossing the threshold;
  // the bar's volume is still the sum of sizes.
  CandleAggregator agg = make(BarRule::value(1000));
  EXPECT_FALSE(agg.on_tick({1, 10, 30}).closed);  // 300
  EXPECT_FALSE(agg.on_tick({2, 20, 30}).closed);  // 900
  TickOutcome reach = agg.on_tick({3, 50, 2});    // 1000
  ASSERT_TRUE(reach.closed);
  EXPECT_EQ(*reach.closed, candle(1, 10, 50, 10, 50, 62));
  TickOutcome cross = agg.on_tick({4, 100, 11});  // 1100 on its own
  ASSERT_TRUE(cross.closed);
  EXPECT_EQ(*cross.closed, candle(4, 100, 100, 100, 100, 11));
  EXPECT_FALSE(agg.on_tick({5, 10, 99.9}).closed);  // 999
  EXPECT_EQ(agg.forming(), candle(5, 10, 10, 10, 10, 99.9));
}

TEST(CandleAggregator, OutOfOrderTickInsideTimeBarIsApplied) {
  // Checks an older tick inside the open bar updates high/low/volume, becomes the open when it is
  // the earliest, and that timestamp ties keep arrival order (open: first, close: last).
  CandleAggregator agg = make(BarRule::time(Interval::k1m));
  const Timestamp m = ts("2020-04-17T10:00:00Z");
  EXPECT_FALSE(agg.on_tick({m + 30 * kSecond, 10, 1}).out_of_order);
  EXPECT_FALSE(agg.on_tick({m + 50 * kSecond, 12, 1}).out_of_order);
  TickOutcome older = agg.on_tick({m + 10 * kSecond, 8, 1});
  EXPECT_TRUE(older.accepted());
  EXPECT_TRUE(older.out_of_order);
  EXPECT_EQ(older.bar_time, m);
  // Same time as the latest tick: not out of order, and it becomes the close.
  EXPECT_FALSE(agg.on_tick({m + 50 * kSecond, 13, 1}).out_of_order);
  // Same time as the earliest tick: out of order, but the open stays with the first arrival.
  EXPECT_TRUE(agg.on_tick({m + 10 * kSecond, 7, 1}).out_of_order);
  // Between the two: only high/low/volume.
  EXPECT_TRUE(agg.on_tick({m + 40 * kSecond, 14, 2}).out_of_order);

  EXPECT_EQ(agg.forming(), candle(m, 8, 14, 7, 13, 7));
  EXPECT_EQ(agg.stats().out_of_order_ticks, 3u);
  EXPECT_EQ(agg.stats().ticks_accepted, 6u);
  EXPECT_EQ(agg.stats().late_ticks, 0u);
  EXPECT_EQ(agg.flush(), candle(m, 8, 14, 7, 13, 7));
}

TEST(CandleAggregator, LateTimeBarTicksAreCountedReportedAndNotApplied) {
  // Checks a tick whose bar is already closed is refused as late with that bar's open time (also
  // for an interval that had no bar), and changes neither the closed nor the open bar.
  CandleAggregator agg = make(BarRule::time(Interval::k1m));
  const Timestamp m = ts("2020-04-17T10:00:00Z");
  agg.on_tick({m + 10 * kSecond, 10, 1});
  TickOutcome next = agg.on_tick({m + 65 * kSecond, 11, 1});
  ASSERT_TRUE(next.closed);
  EXPECT_EQ(*next.closed, candle(m, 10, 10, 10, 10, 1));

  TickOutcome late = agg.on_tick({m + 59 * kSecond, 50, 1});
  EXPECT_EQ(late.verdict, TickVerdict::kLate);
  EXPECT_FALSE(late.accepted());
  EXPECT_EQ(late.bar_time, m);
  EXPECT_FALSE(late.closed);
  EXPECT_EQ(agg.forming(), candle(m + kMinute, 11, 11, 11, 11, 1));

  // Jump over a gap to 10:05, then a tick for the empty 10:03 interval arrives.
  TickOutcome jump = agg.on_tick({m + 5 * kMinute, 12, 1});
  ASSERT_TRUE(jump.closed);
  EXPECT_EQ(jump.closed->time, m + kMinute);
  TickOutcome gap_late = agg.on_tick({m + 3 * kMinute + 1, 99, 1});
  EXPECT_EQ(gap_late.verdict, TickVerdict::kLate);
  EXPECT_EQ(gap_late.bar_time, m + 3 * kMinute);

  // After a flush, a tick for the flushed bar is late too.
  EXPECT_EQ(agg.flush(), candle(m + 5 * kMinute, 12, 12, 12, 12, 1));
  TickOutcome after_flush = agg.on_tick({m + 5 * kMinute + 30 * kSecond, 13, 1});
  EXPECT_EQ(after_flush.verdict, TickVerdict::kLate);
  EXPECT_EQ(after_flush.bar_time, m + 5 * kMinute);
  EXPECT_FALSE(agg.forming());

  const AggregatorStats s = agg.stats();
  EXPECT_EQ(s.late_ticks, 3u);
  EXPECT_EQ(s.ticks_accepted, 3u);
  EXPECT_EQ(s.bars_closed, 3u);
  EXPECT_EQ(s.out_of_order_ticks, 0u);
}

TEST(CandleAggregator, InformationBarOutOfOrderAndLateTicks) {
  // Checks that for information bars a tick not older than the open bar's first tick is accepted
  // (out of order if older than the latest), an older one is late with the last closed bar's
  // stamp (or none when it predates that bar), and the next bar cannot start inside the last one.
  CandleAggregator agg = make(BarRule::ticks(3));
  agg.on_tick({10, 1.0, 1});
  agg.on_tick({12, 2.0, 1});
  TickOutcome third = agg.on_tick({11, 3.0, 1});
  EXPECT_TRUE(third.accepted());
  EXPECT_TRUE(third.out_of_order);
  ASSERT_TRUE(third.closed);
  EXPECT_EQ(*third.closed, candle(10, 1.0, 3.0, 1.0, 2.0, 3));

  TickOutcome inside_closed = agg.on_tick({11, 4.0, 1});  // before the closed bar's last tick
  EXPECT_EQ(inside_closed.verdict, TickVerdict::kLate);
  EXPECT_EQ(inside_closed.bar_time, 10);
  TickOutcome ancient = agg.on_tick({5, 5.0, 1});
  EXPECT_EQ(ancient.verdict, TickVerdict::kLate);
  EXPECT_FALSE(ancient.bar_time);

  TickOutcome opens = agg.on_tick({12, 6.0, 1});  // same time as the closed bar's last tick: ok
  EXPECT_TRUE(opens.accepted());
  EXPECT_EQ(opens.bar_time, 12);
  TickOutcome before_first = agg.on_tick({11, 7.0, 1});
  EXPECT_EQ(before_first.verdict, TickVerdict::kLate);
  EXPECT_EQ(before_first.bar_time, 10);
  EXPECT_EQ(agg.forming(), candle(12, 6.0, 6.0, 6.0, 6.0, 1));

  EXPECT_FALSE(agg.on_tick({14, 8.0, 1}).out_of_order);
  TickOutcome last = agg.on_tick({13, 9.0, 1});
  EXPECT_TRUE(last.out_of_order);
  ASSERT_TRUE(last.closed);
  EXPECT_EQ(*last.closed, candle(12, 6.0, 9.0, 6.0, 8.0, 3));

  const AggregatorStats s = agg.stats();
  EXPECT_EQ(s.ticks_accepted, 6u);
  EXPECT_EQ(s.late_ticks, 3u);
  EXPECT_EQ(s.out_of_order_ticks, 2u);
  EXPECT_EQ(s.bars_closed, 2u);
}

TEST(CandleAggregator, InvalidTicksAreRejectedWithAReason) {
  // Checks non-finite or non-positive prices and negative or non-finite sizes are refused with
  // their reason and change nothing, while a size of zero is a valid tick.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    Tick tick;
    InvalidReason reason;
  };
  const Case cases[] = {
      {{100, nan, 1}, InvalidReason::kPriceNotFinite},
      {{100, inf, 1}, InvalidReason::kPriceNotFinite},
      {{100, -inf, 1}, InvalidReason::kPriceNotFinite},
      {{100, 0.0, 1}, InvalidReason::kPriceNotPositive},
      {{100, -1.5, 1}, InvalidReason::kPriceNotPositive},
      {{100, 10, nan}, InvalidReason::kSizeNotFinite},
      {{100, 10, inf}, InvalidReason::kSizeNotFinite},
      {{100, 10, -1}, InvalidReason::kSizeNegative},
  };
  for (BarRule rule : {BarRule::time(Interval::k1s), BarRule::volume(5)}) {
    CandleAggregator agg = make(rule);
    for (const Case& c : cases) {
      TickOutcome o = agg.on_tick(c.tick);
      EXPECT_EQ(o.verdict, TickVerdict::kInvalid);
      EXPECT_EQ(o.invalid, c.reason);
      EXPECT_FALSE(o.bar_time);
      EXPECT_FALSE(o.closed);
      EXPECT_FALSE(agg.forming());
    }
    TickOutcome zero = agg.on_tick({100, 10, 0});
    EXPECT_TRUE(zero.accepted());
    EXPECT_EQ(agg.forming()->volume, 0);
    const AggregatorStats s = agg.stats();
    EXPECT_EQ(s.invalid_ticks, std::size(cases));
    EXPECT_EQ(s.ticks_accepted, 1u);
    EXPECT_EQ(s.late_ticks, 0u);
  }
  std::set<std::string_view> names;
  for (InvalidReason r : {InvalidReason::kPriceNotFinite, InvalidReason::kPriceNotPositive,
                          InvalidReason::kSizeNotFinite, InvalidReason::kSizeNegative}) {
    names.insert(invalid_reason_name(r));
  }
  EXPECT_EQ(names.size(), 4u);
  EXPECT_NE(invalid_reason_name(InvalidReason::kSizeNegative).find("size"), std::string::npos);
}

TEST(CandleAggregator, GapsProduceNoFlatBars) {
  // Checks quiet intervals produce no bars: a tick several intervals ahead closes the open bar
  // and opens its own, and the output holds only intervals that had ticks.
  CandleAggregator agg = make(BarRule::time(Interval::k1m));
  const Timestamp m = ts("2020-04-17T10:00:00Z");
  std::vector<Candle> bars;
  for (Tick t :
       {Tick{m + 5 * kSecond, 10, 1}, Tick{m + 30 * kSecond, 11, 2},
        Tick{m + 3 * kMinute + 10 * kSecond, 9, 3}, Tick{m + 3 * kMinute + 20 * kSecond, 8, 4}}) {
    TickOutcome o = agg.on_tick(t);
    ASSERT_TRUE(o.accepted());
    if (o.closed) bars.push_back(*o.closed);
  }
  if (auto last = agg.flush()) bars.push_back(*last);
  ASSERT_EQ(bars.size(), 2u);
  EXPECT_EQ(bars[0], candle(m, 10, 11, 10, 11, 3));
  EXPECT_EQ(bars[1], candle(m + 3 * kMinute, 9, 9, 8, 8, 7));
  EXPECT_FALSE(agg.flush());
}

TEST(CandleAggregator, CloseUntilClosesTimeBarsInAQuietMarket) {
  // Checks close_until closes the open time bar exactly when now reaches its end, that its bar's
  // ticks are late afterwards, that later intervals still open bars, and that it never closes
  // information bars.
  CandleAggregator agg = make(BarRule::time(Interval::k1h));
  const Timestamp h = ts("2020-04-17T10:00:00Z");
  EXPECT_FALSE(agg.close_until(h));  // nothing open
  agg.on_tick({h + 15 * kMinute, 10, 1});
  EXPECT_FALSE(agg.close_until(h + kHour - 1));
  EXPECT_TRUE(agg.forming());
  EXPECT_EQ(agg.close_until(h + kHour), candle(h, 10, 10, 10, 10, 1));
  EXPECT_FALSE(agg.forming());
  EXPECT_FALSE(agg.close_until(h + 2 * kHour));

  EXPECT_EQ(agg.on_tick({h + 30 * kMinute, 11, 1}).verdict, TickVerdict::kLate);
  // The clock passed 12:00, but no bar after 10:00 was closed, so a 12:10 tick opens a bar.
  TickOutcome later = agg.on_tick({h + 2 * kHour + 10 * kMinute, 12, 1});
  EXPECT_TRUE(later.accepted());
  EXPECT_FALSE(later.closed);
  EXPECT_EQ(agg.close_until(h + 5 * kHour), candle(h + 2 * kHour, 12, 12, 12, 12, 1));
  EXPECT_EQ(agg.stats().bars_closed, 2u);
  EXPECT_EQ(agg.stats().late_ticks, 1u);

  CandleAggregator info = make(BarRule::volume(100));
  info.on_tick({h, 10, 1});
  EXPECT_FALSE(info.close_until(h + kWeek));
  EXPECT_TRUE(info.forming());
}

TEST(CandleAggregator, FlushClosesAPartialInformationBar) {
  // Checks flush returns the partial information bar once, that ticks older than its latest tick
  // are then late, and that a tick at that same time starts the next bar.
  CandleAggregator agg = make(BarRule::volume(100));
  agg.on_tick({20, 10, 1});
  agg.on_tick({30, 11, 2});
  EXPECT_EQ(agg.flush(), candle(20, 10, 11, 10, 11, 3));
  EXPECT_FALSE(agg.flush());
  TickOutcome late = agg.on_tick({25, 12, 1});
  EXPECT_EQ(late.verdict, TickVerdict::kLate);
  EXPECT_EQ(late.bar_time, 20);
  EXPECT_EQ(agg.on_tick({30, 13, 1}).bar_time, 30);
}

TEST(CandleAggregator, CreateRejectsBadThresholds) {
  // Checks information-bar thresholds that are zero, negative, fractional (tick bars) or not
  // finite are refused with a message naming the threshold; time rules always build.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (BarRule bad : {BarRule::ticks(0), BarRule::ticks(-3), BarRule{BarKind::kTick, {}, 2.5},
                      BarRule::volume(0), BarRule::volume(-1), BarRule::volume(nan),
                      BarRule::volume(inf), BarRule::value(0), BarRule::value(nan)}) {
    auto r = CandleAggregator::create(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("threshold"), std::string::npos) << r.message();
  }
  for (Interval i : kAllIntervals) EXPECT_TRUE(CandleAggregator::create(BarRule::time(i)).ok());
  EXPECT_TRUE(CandleAggregator::create(BarRule::ticks(1)).ok());
  EXPECT_TRUE(CandleAggregator::create(BarRule::value(0.01)).ok());
}

TEST(CandleAggregator, RandomJitteredStreamMatchesAReferenceGrouping) {
  // Checks, on random streams with out-of-order jitter and invalid ticks, that every tick is
  // counted exactly once and that the bars equal a direct grouping of the ticks a simple model
  // accepts (late iff its interval precedes the newest interval seen).
  std::mt19937_64 rng(20200417);
  for (Interval interval : {Interval::k1s, Interval::k1m, Interval::k4h, Interval::k1w}) {
    SCOPED_TRACE(std::string(interval_name(interval)));
    const Duration d = interval_duration(interval);
    std::uniform_int_distribution<Duration> step(0, d / 3);
    std::uniform_int_distribution<Duration> jitter(0, d / 2);
    std::uniform_real_distribution<double> price(50, 150);
    std::uniform_int_distribution<int> size(0, 9);
    std::uniform_int_distribution<int> pct(0, 99);

    CandleAggregator agg = make(BarRule::time(interval));
    struct Ref {
      Candle c;
      Timestamp first, last;
    };
    std::map<Timestamp, Ref> ref;
    std::vector<Candle> got;
    Timestamp clock = ts("1969-12-20");
    Timestamp newest = std::numeric_limits<Timestamp>::min();
    std::uint64_t fed = 0, late = 0, invalid = 0;
    for (int i = 0; i < 5000; ++i) {
      clock += step(rng);
      Tick t{clock, price(rng), static_cast<double>(size(rng))};
      if (pct(rng) < 20) t.time -= jitter(rng);
      if (pct(rng) < 2) t.price = -t.price;
      ++fed;
      TickOutcome o = agg.on_tick(t);
      if (o.closed) got.push_back(*o.closed);
      if (t.price <= 0) {
        EXPECT_EQ(o.verdict, TickVerdict::kInvalid);
        ++invalid;
        continue;
      }
      const Timestamp open = bar_open_time(t.time, interval);
      if (open < newest) {
        EXPECT_EQ(o.verdict, TickVerdict::kLate);
        EXPECT_EQ(o.bar_time, open);
        ++late;
        continue;
      }
      ASSERT_TRUE(o.accepted());
      newest = open;
      auto it =
          ref.try_emplace(open, Ref{{open, t.price, t.price, t.price, t.price, 0}, t.time, t.time})
              .first;
      Ref& r = it->second;
      r.c.high = std::max(r.c.high, t.price);
      r.c.low = std::min(r.c.low, t.price);
      r.c.volume += t.size;
      if (t.time < r.first) {
        r.first = t.time;
        r.c.open = t.price;
      }
      if (t.time >= r.last) {
        r.last = t.time;
        r.c.close = t.price;
      }
    }
    if (auto last = agg.flush()) got.push_back(*last);

    std::vector<Candle> want;
    for (const auto& [open, r] : ref) want.push_back(r.c);
    EXPECT_EQ(got, want);
    const AggregatorStats s = agg.stats();
    EXPECT_EQ(s.ticks_accepted + s.late_ticks + s.invalid_ticks, fed);
    EXPECT_EQ(s.late_ticks, late);
    EXPECT_EQ(s.invalid_ticks, invalid);
    EXPECT_EQ(s.bars_closed, want.size());
    EXPECT_GT(late, 0u);
    EXPECT_GT(s.out_of_order_ticks, 0u);
  }
}

}  // namespace
}  // namespace tickgraph
