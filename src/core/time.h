// Time in tickgraph: int64 nanoseconds since the Unix epoch, UTC, everywhere. ISO-8601 text only
// at the edges, through the parse and format functions here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace tickgraph {

using Timestamp = std::int64_t;  // ns since 1970-01-01T00:00:00Z
using Duration = std::int64_t;   // ns

inline constexpr Duration kNanosecond = 1;
inline constexpr Duration kMicrosecond = 1000;
inline constexpr Duration kMillisecond = 1000 * kMicrosecond;
inline constexpr Duration kSecond = 1000 * kMillisecond;
inline constexpr Duration kMinute = 60 * kSecond;
inline constexpr Duration kHour = 60 * kMinute;
inline constexpr Duration kDay = 24 * kHour;
inline constexpr Duration kWeek = 7 * kDay;

// Parses "2020-04-17", "2020-04-17T13:30:00Z", "2020-04-17 13:30:00", "…T13:30:00.250+02:00" and
// plain epoch numbers with a unit suffix ("1587081600s", "…ms", "…us", "…ns"). A date alone means
// midnight UTC. Fails with a message quoting the text.
Result<Timestamp> parse_timestamp(std::string_view text);

// "2020-04-17" when the time is midnight and date_only_if_midnight, else
// "2020-04-17T13:30:00Z" (with ".fraction" only when non-zero).
std::string format_timestamp(Timestamp t, bool date_only_if_midnight = true);
std::string format_date(Timestamp t);  // "2020-04-17"

// Parses a duration: a positive integer and a unit among ns us ms s m h d w ("5m", "90s", "1w").
Result<Duration> parse_duration(std::string_view text);
std::string format_duration(Duration d);  // largest exact unit: 300s -> "5m"

// Days since 1970-01-01 for a proleptic Gregorian date, and back.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d);

// True for text of the form YYYY-MM-DD (a date without a time): callers read an upper bound given
// that way as the end of that day.
bool is_date_only(std::string_view text);

// t + d and t - d, clamped to the representable range instead of overflowing.
Timestamp saturating_add(Timestamp t, Duration d);
Timestamp saturating_sub(Timestamp t, Duration d);

// Floor division that rounds towards negative infinity (for times before 1970).
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

}  // namespace tickgraph
