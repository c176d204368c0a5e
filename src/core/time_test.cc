#include "core/time.h"

#include <gtest/gtest.h>

#include <limits>

#include "core/interval.h"

namespace tickgraph {
namespace {

TEST(Time, ParsesDatesAndDateTimes) {
  // Checks the ISO-8601 forms we accept map to the right UTC nanoseconds.
  EXPECT_EQ(*parse_timestamp("1970-01-01"), 0);
  EXPECT_EQ(*parse_timestamp("2020-04-17"), 1587081600 * kSecond);
  EXPECT_EQ(*parse_timestamp("2020-04-17T13:30:00Z"), (1587081600 + 13 * 3600 + 1800) * kSecond);
  EXPECT_EQ(*parse_timestamp("2020-04-17 13:30:00"), (1587081600 + 13 * 3600 + 1800) * kSecond);
  EXPECT_EQ(*parse_timestamp("2020-04-17T15:30:00+02:00"), *parse_timestamp("2020-04-17T13:30Z"));
  EXPECT_EQ(*parse_timestamp("2020-04-17T13:30:00.25Z"),
            *parse_timestamp("2020-04-17T13:30:00Z") + 250 * kMillisecond);
  EXPECT_EQ(*parse_timestamp("1587081600s"), 1587081600 * kSecond);
  EXPECT_EQ(*parse_timestamp("1969-12-31"), -kDay);
  EXPECT_EQ(*parse_timestamp("2000-02-29"), 951782400 * kSecond);
}

TEST(Time, RejectsMalformedTimestampsQuotingThem) {
  // Checks impossible or malformed dates fail with the text in the message.
  for (const char* bad : {"", "2020-13-01", "2019-02-29", "2020-04-31", "20200417", "2020-4-17",
                          "2020-04-17T25:00", "2020-04-17Tfoo", "2020-04-17Z", "12parsecs"}) {
    auto r = parse_timestamp(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.message().find(std::string("'") + bad + "'"), std::string::npos) << r.message();
  }
}

TEST(Time, RefusesDatesOutsideTheNanosecondRange) {
  // Checks dates past what int64 nanoseconds hold fail, naming the text, instead of overflowing
  // (found by tests/fuzz/csv_reader_fuzz.cc: a CSV row dated 8874-…), and that both ends of the
  // range still parse.
  for (const char* bad :
       {"8874-01-01", "2262-04-12", "2262-04-11T23:59:59Z", "2262-04-11T23:47:16.9Z", "1677-09-21",
        "1677-09-22T00:00:00+23:59", "0000-01-01", "9999-12-31T23:59:59.999999999Z"}) {
    auto r = parse_timestamp(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.message().find(std::string("'") + bad + "' is out of range"), std::string::npos)
        << r.message();
  }
  EXPECT_EQ(*parse_timestamp("2262-04-11T23:47:16.854775807Z"),
            std::numeric_limits<Timestamp>::max());
  EXPECT_TRUE(parse_timestamp("1677-09-22").ok());
}

TEST(Time, FormatsRoundTrip) {
  // Checks formatting gives dates for midnights and full times otherwise, and parses back.
  EXPECT_EQ(format_timestamp(*parse_timestamp("2020-04-17")), "2020-04-17");
  EXPECT_EQ(format_timestamp(*parse_timestamp("2020-04-17T09:31:05Z")), "2020-04-17T09:31:05Z");
  EXPECT_EQ(format_timestamp(*parse_timestamp("2020-04-17T09:31:05.5Z")), "2020-04-17T09:31:05.5Z");
  EXPECT_EQ(format_timestamp(0, false), "1970-01-01T00:00:00Z");
  for (Timestamp t : {Timestamp{0}, -kDay - 1, 1587081600 * kSecond + 123456789}) {
    EXPECT_EQ(*parse_timestamp(format_timestamp(t)), t);
  }
}

TEST(Time, Durations) {
  // Checks duration text in every unit, and that bad ones are refused.
  EXPECT_EQ(*parse_duration("5m"), 5 * kMinute);
  EXPECT_EQ(*parse_duration("90s"), 90 * kSecond);
  EXPECT_EQ(*parse_duration("1w"), kWeek);
  EXPECT_EQ(*parse_duration("250ms"), 250 * kMillisecond);
  EXPECT_EQ(format_duration(300 * kSecond), "5m");
  for (const char* bad : {"", "5", "m", "0m", "-5m", "5 m", "5y"}) {
    EXPECT_FALSE(parse_duration(bad).ok()) << bad;
  }
}

TEST(Interval, NamesAndBarBoundaries) {
  // Checks interval names round-trip and bars open on the right boundary, weeks on Monday.
  for (Interval i : kAllIntervals) EXPECT_EQ(*parse_interval(interval_name(i)), i);
  EXPECT_FALSE(parse_interval("2m").ok());
  const Timestamp t = *parse_timestamp("2020-04-17T13:47:12Z");  // a Friday
  EXPECT_EQ(bar_open_time(t, Interval::k1m), *parse_timestamp("2020-04-17T13:47:00Z"));
  EXPECT_EQ(bar_open_time(t, Interval::k15m), *parse_timestamp("2020-04-17T13:45:00Z"));
  EXPECT_EQ(bar_open_time(t, Interval::k4h), *parse_timestamp("2020-04-17T12:00:00Z"));
  EXPECT_EQ(bar_open_time(t, Interval::k1d), *parse_timestamp("2020-04-17"));
  EXPECT_EQ(bar_open_time(t, Interval::k1w), *parse_timestamp("2020-04-13"));  // Monday
  EXPECT_EQ(bar_open_time(*parse_timestamp("1969-12-31T23:59:59Z"), Interval::k1h),
            *parse_timestamp("1969-12-31T23:00:00Z"));
  EXPECT_TRUE(interval_divides(Interval::k1m, Interval::k1h));
  EXPECT_TRUE(interval_divides(Interval::k1d, Interval::k1w));
  EXPECT_FALSE(interval_divides(Interval::k1h, Interval::k1m));
}

TEST(Time, DateOnlyTextAndSaturatingArithmetic) {
  // Checks which upper bounds mean "the whole day" and that open-range arithmetic never wraps.
  EXPECT_TRUE(is_date_only("2020-04-17"));
  EXPECT_FALSE(is_date_only("2020-04-17T00:00:01Z"));
  EXPECT_FALSE(is_date_only("946944001s"));
  EXPECT_FALSE(is_date_only("20200417"));
  constexpr Timestamp kMax = std::numeric_limits<Timestamp>::max();
  constexpr Timestamp kMin = std::numeric_limits<Timestamp>::min();
  EXPECT_EQ(saturating_add(kMax - 5, 10), kMax);
  EXPECT_EQ(saturating_sub(kMin + 5, 10), kMin);
  EXPECT_EQ(saturating_add(100, -10), 90);
  EXPECT_EQ(saturating_sub(100, 10), 90);
}

}  // namespace
}  // namespace tickgraph
