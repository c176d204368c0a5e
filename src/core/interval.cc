#include "core/interval.h"

namespace tickgraph {

namespace {
struct IntervalInfo {
  Interval interval;
  std::string_view name;
  Duration duration;
};
constexpr IntervalInfo kInfo[] = {
    {Interval::k1s, "1s", kSecond},     {Interval::k1m, "1m", kMinute},
    {Interval::k5m, "5m", 5 * kMinute}, {Interval::k15m, "15m", 15 * kMinute},
    {Interval::k1h, "1h", kHour},       {Interval::k4h, "4h", 4 * kHour},
    {Interval::k1d, "1d", kDay},        {Interval::k1w, "1w", kWeek},
};
// 1970-01-05 was the first Monday after the epoch.
constexpr Timestamp kFirstMonday = 4 * kDay;
}  // namespace

Duration interval_duration(Interval i) { return kInfo[static_cast<int>(i)].duration; }
std::string_view interval_name(Interval i) { return kInfo[static_cast<int>(i)].name; }

Result<Interval> parse_interval(std::string_view text) {
  for (const auto& info : kInfo) {
    if (info.name == text) return info.interval;
  }
  return Status::invalid_argument("unknown interval '" + std::string(text) +
                                  "' (expected one of 1s 1m 5m 15m 1h 4h 1d 1w)");
}

Timestamp bar_open_time(Timestamp t, Interval i) {
  const Duration d = interval_duration(i);
  const Timestamp origin = i == Interval::k1w ? kFirstMonday : 0;
  return origin + floor_div(t - origin, d) * d;
}

bool interval_divides(Interval fine, Interval coarse) {
  const Duration f = interval_duration(fine);
  const Duration c = interval_duration(coarse);
  // Weekly bars start on Mondays, which every interval up to a day divides.
  return c > f && c % f == 0;
}

}  // namespace tickgraph
