// Bar intervals. A candle is stamped with its open time; a bar of interval I starting at t covers
// [t, t + I). Weekly bars start on Monday 00:00 UTC; all others are aligned to the Unix epoch.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/time.h"

namespace tickgraph {

enum class Interval { k1s, k1m, k5m, k15m, k1h, k4h, k1d, k1w };

inline constexpr std::array<Interval, 8> kAllIntervals = {
    Interval::k1s, Interval::k1m, Interval::k5m, Interval::k15m,
    Interval::k1h, Interval::k4h, Interval::k1d, Interval::k1w};

Duration interval_duration(Interval i);
std::string_view interval_name(Interval i);  // "1s" … "1w"
// Accepts exactly the names above; the error lists them.
Result<Interval> parse_interval(std::string_view text);

// Open time of the bar of interval `i` that contains t.
Timestamp bar_open_time(Timestamp t, Interval i);
// True when bars of `fine` nest exactly into bars of `coarse` (resampling is possible).
bool interval_divides(Interval fine, Interval coarse);

}  // namespace tickgraph
