#include "core/time.h"

#include <charconv>
#include <cstdio>
#include <limits>

namespace tickgraph {

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's days_from_civil algorithm (public domain description), rewritten here.
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = floor_div(y, 400);
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = floor_div(z, 146097);
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

namespace {

bool read_digits(std::string_view s, std::size_t& pos, std::size_t count, int& out) {
  if (pos + count > s.size()) return false;
  int v = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += count;
  out = v;
  return true;
}

bool days_in_month_ok(int y, int m, int d) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= kDays[m - 1] + (m == 2 && leap ? 1 : 0);
}

Result<Timestamp> bad_timestamp(std::string_view text) {
  return Status::invalid_argument("invalid timestamp '" + std::string(text) +
                                  "' (expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[.f][Z|±HH:MM] "
                                  "or an epoch number with unit s, ms, us or ns)");
}

Result<Timestamp> out_of_range(std::string_view text) {
  return Status::invalid_argument("timestamp '" + std::string(text) +
                                  "' is out of range (1677-09-22 to 2262-04-11)");
}

}  // namespace

Result<Timestamp> parse_timestamp(std::string_view text) {
  if (text.empty()) return bad_timestamp(text);
  // Epoch numbers with a unit.
  if (text.find('-') == std::string_view::npos || text.front() == '-') {
    std::int64_t v = 0;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || p == text.data()) return bad_timestamp(text);
    const std::string_view unit(p, static_cast<std::size_t>(end - p));
    std::int64_t mult = 0;
    if (unit == "s")
      mult = kSecond;
    else if (unit == "ms")
      mult = kMillisecond;
    else if (unit == "us")
      mult = kMicrosecond;
    else if (unit == "ns")
      mult = 1;
    else
      return bad_timestamp(text);
    if (v > INT64_MAX / mult || v < INT64_MIN / mult) return bad_timestamp(text);
    return v * mult;
  }
  std::size_t pos = 0;
  int y = 0, mo = 0, d = 0;
  if (!read_digits(text, pos, 4, y) || pos >= text.size() || text[pos++] != '-' ||
      !read_digits(text, pos, 2, mo) || pos >= text.size() || text[pos++] != '-' ||
      !read_digits(text, pos, 2, d) || !days_in_month_ok(y, mo, d)) {
    return bad_timestamp(text);
  }
  // Dates outside the int64 ns range (1677-09-21 … 2262-04-11) and the additions below are
  // checked: an overflow would be undefined behaviour and a wrong time.
  Timestamp t = 0;
  if (__builtin_mul_overflow(
          days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)), kDay, &t)) {
    return out_of_range(text);
  }
  if (pos == text.size()) return t;
  if (text[pos] != 'T' && text[pos] != ' ') return bad_timestamp(text);
  ++pos;
  int hh = 0, mm = 0, ss = 0;
  if (!read_digits(text, pos, 2, hh) || pos >= text.size() || text[pos++] != ':' ||
      !read_digits(text, pos, 2, mm) || hh > 23 || mm > 59) {
    return bad_timestamp(text);
  }
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    if (!read_digits(text, pos, 2, ss) || ss > 60) return bad_timestamp(text);
  }
  if (__builtin_add_overflow(t, hh * kHour + mm * kMinute + ss * kSecond, &t)) {
    return out_of_range(text);
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    Duration scale = kSecond / 10;
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits++ < 9) {
        if (__builtin_add_overflow(t, (text[pos] - '0') * scale, &t)) return out_of_range(text);
        scale /= 10;
      }
      ++pos;
    }
    if (digits == 0) return bad_timestamp(text);
  }
  if (pos == text.size()) return t;
  if (text[pos] == 'Z' && pos + 1 == text.size()) return t;
  if (text[pos] == '+' || text[pos] == '-') {
    const int sign = text[pos] == '+' ? 1 : -1;
    ++pos;
    int oh = 0, om = 0;
    if (!read_digits(text, pos, 2, oh)) return bad_timestamp(text);
    if (pos < text.size() && text[pos] == ':') ++pos;
    if (!read_digits(text, pos, 2, om) || pos != text.size() || oh > 23 || om > 59) {
      return bad_timestamp(text);
    }
    if (__builtin_sub_overflow(t, sign * (oh * kHour + om * kMinute), &t)) {
      return out_of_range(text);
    }
    return t;
  }
  return bad_timestamp(text);
}

bool is_date_only(std::string_view text) {
  std::size_t pos = 0;
  int y = 0, m = 0, d = 0;
  return text.size() == 10 && read_digits(text, pos, 4, y) && text[pos++] == '-' &&
         read_digits(text, pos, 2, m) && text[pos++] == '-' && read_digits(text, pos, 2, d);
}

Timestamp saturating_add(Timestamp t, Duration d) {
  Timestamp out = 0;
  if (__builtin_add_overflow(t, d, &out)) {
    return d > 0 ? std::numeric_limits<Timestamp>::max() : std::numeric_limits<Timestamp>::min();
  }
  return out;
}

Timestamp saturating_sub(Timestamp t, Duration d) {
  Timestamp out = 0;
  if (__builtin_sub_overflow(t, d, &out)) {
    return d > 0 ? std::numeric_limits<Timestamp>::min() : std::numeric_limits<Timestamp>::max();
  }
  return out;
}

std::string format_date(Timestamp t) {
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(floor_div(t, kDay), y, m, d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  return buf;
}

std::string format_timestamp(Timestamp t, bool date_only_if_midnight) {
  const std::int64_t day = floor_div(t, kDay);
  Duration rest = t - day * kDay;
  std::string out = format_date(t);
  if (rest == 0 && date_only_if_midnight) return out;
  const auto hh = rest / kHour;
  rest %= kHour;
  const auto mm = rest / kMinute;
  rest %= kMinute;
  const auto ss = rest / kSecond;
  const auto ns = rest % kSecond;
  char buf[48];
  std::snprintf(buf, sizeof buf, "T%02lld:%02lld:%02lld", static_cast<long long>(hh),
                static_cast<long long>(mm), static_cast<long long>(ss));
  out += buf;
  if (ns != 0) {
    std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(ns));
    std::string frac = buf;
    while (frac.back() == '0') frac.pop_back();
    out += frac;
  }
  out += 'Z';
  return out;
}

Result<Duration> parse_duration(std::string_view text) {
  std::int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  const std::string_view unit(p, static_cast<std::size_t>(end - p));
  Duration mult = 0;
  if (unit == "ns")
    mult = 1;
  else if (unit == "us")
    mult = kMicrosecond;
  else if (unit == "ms")
    mult = kMillisecond;
  else if (unit == "s")
    mult = kSecond;
  else if (unit == "m")
    mult = kMinute;
  else if (unit == "h")
    mult = kHour;
  else if (unit == "d")
    mult = kDay;
  else if (unit == "w")
    mult = kWeek;
  if (ec != std::errc() || p == text.data() || v <= 0 || mult == 0 || v > INT64_MAX / mult) {
    return Status::invalid_argument("invalid duration '" + std::string(text) +
                                    "' (expected a positive integer and a unit: ns us ms s m h "
                                    "d w, e.g. 5m)");
  }
  return v * mult;
}

std::string format_duration(Duration d) {
  struct Unit {
    Duration size;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{kWeek, "w"},         {kDay, "d"},        {kHour, "h"},
                                    {kMinute, "m"},       {kSecond, "s"},     {kMillisecond, "ms"},
                                    {kMicrosecond, "us"}, {kNanosecond, "ns"}};
  for (const auto& u : kUnits) {
    if (d != 0 && d % u.size == 0) return std::to_string(d / u.size) + u.name;
  }
  return "0s";
}

}  // namespace tickgraph
