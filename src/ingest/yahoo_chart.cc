#include "ingest/yahoo_chart.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <utility>

namespace tickgraph::ingest {

namespace {

using nlohmann::json;

// Epoch seconds beyond this (about the year 2255) cannot be a bar time: int64 ns end in 2262.
constexpr std::int64_t kMaxEpochSeconds = 9'000'000'000;

// The quote arrays, in CandleSeries order.
constexpr std::array<const char*, 5> kQuoteFields = {"open", "high", "low", "close", "volume"};

// "[json.exception.parse_error.101] parse error at line 1, column 9: syntax error while parsing
// array - unexpected end of input; expected ']'" -> "syntax error while parsing array - …".
std::string parse_error_detail(const char* what) {
  std::string_view detail = what;
  if (const auto bracket = detail.find("] "); bracket != std::string_view::npos) {
    detail.remove_prefix(bracket + 2);
  }
  if (detail.rfind("parse error", 0) == 0) {
    if (const auto colon = detail.find(": "); colon != std::string_view::npos) {
      detail.remove_prefix(colon + 2);
    }
  }
  return std::string(detail);
}

// Builds the messages; every error names the source and a JSON path.
class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  Result<YahooChart> parse(std::string_view text);

 private:
  template <class T = YahooChart>
  Result<T> fail(const std::string& path, const std::string& message) const {
    return Status::invalid_argument(std::string(source_) + ": " + path + ": " + message);
  }

  // `parent` at `path` must be an object holding `key`; returns the value.
  Result<const json*> member(const json& parent, const std::string& path, const char* key) const {
    if (!parent.is_object()) {
      return fail<const json*>(path,
                               std::string("expected an object, found ") + parent.type_name());
    }
    const auto it = parent.find(key);
    if (it == parent.end())
      return fail<const json*>(path, std::string("missing key '") + key + "'");
    return &*it;
  }

  // An optional string member: "" when missing or null.
  Result<std::string> optional_string(const json& parent, const std::string& path,
                                      const char* key) const {
    const auto it = parent.find(key);
    if (it == parent.end() || it->is_null()) return std::string();
    if (!it->is_string()) {
      return fail<std::string>(path + "." + key,
                               std::string("expected a string, found ") + it->type_name());
    }
    return it->get<std::string>();
  }

  std::string_view source_;
};

Result<YahooChart> Parser::parse(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Status::invalid_argument(std::string(source_) +
                                    ": empty document (expected a chart response)");
  }
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // e.byte counts the bytes read, the offending one included; report its 0-based offset.
    const std::size_t at = e.byte > 0 ? e.byte - 1 : 0;
    return Status::invalid_argument(std::string(source_) + ": malformed JSON at byte " +
                                    std::to_string(at) + " of " + std::to_string(text.size()) +
                                    ": " + parse_error_detail(e.what()));
  } catch (const json::out_of_range& e) {
    // A number beyond a double ("1e400"): nlohmann throws this apart from syntax errors.
    return Status::invalid_argument(std::string(source_) +
                                    ": malformed JSON: " + parse_error_detail(e.what()));
  }

  auto chart = member(doc, "document", "chart");
  if (!chart) return chart.status();
  const json& c = **chart;
  if (!c.is_object()) {
    return fail("chart", std::string("expected an object, found ") + c.type_name());
  }
  if (const auto err = c.find("error"); err != c.end() && !err->is_null()) {
    std::string code, description;
    if (err->is_object()) {
      if (auto it = err->find("code"); it != err->end() && it->is_string()) code = *it;
      if (auto it = err->find("description"); it != err->end() && it->is_string()) {
        description = *it;
      }
    }
    if (code.empty() && description.empty()) {
      return fail("chart.error", "Yahoo error without code or description: " + err->dump());
    }
    // Yahoo's "Not Found" (no data for the symbol) is a symbol that does not exist; any other
    // error is Yahoo refusing the request as made.
    return Status(code == "Not Found" ? StatusCode::kNotFound : StatusCode::kInvalidArgument,
                  std::string(source_) + ": Yahoo error " + code +
                      (code.empty() || description.empty() ? "" : ": ") + description);
  }
  auto results = member(c, "chart", "result");
  if (!results) return results.status();
  if (!(*results)->is_array()) {
    return fail("chart.result", std::string("expected an array, found ") + (*results)->type_name());
  }
  if ((*results)->empty()) return fail("chart.result", "is empty (expected one result)");
  const json& result = (**results)[0];
  const std::string rpath = "chart.result[0]";

  // meta
  auto meta_r = member(result, rpath, "meta");
  if (!meta_r) return meta_r.status();
  const json& meta = **meta_r;
  const std::string mpath = rpath + ".meta";
  YahooChart out;
  {
    auto symbol = member(meta, mpath, "symbol");
    if (!symbol) return symbol.status();
    if (!(*symbol)->is_string() || (*symbol)->get_ref<const std::string&>().empty()) {
      return fail(mpath + ".symbol",
                  std::string("expected a non-empty string, found ") + (*symbol)->type_name());
    }
    out.symbol = **symbol;
  }
  for (auto [key, field] :
       {std::pair{"currency", &out.currency}, std::pair{"exchangeName", &out.exchange},
        std::pair{"instrumentType", &out.instrument_type},
        std::pair{"exchangeTimezoneName", &out.exchange_timezone}}) {
    auto s = optional_string(meta, mpath, key);
    if (!s) return s.status();
    *field = std::move(*s);
  }
  auto offset = member(meta, mpath, "gmtoffset");
  if (!offset) return offset.status();
  if (!(*offset)->is_number_integer() || std::abs((*offset)->get<std::int64_t>()) > 86400) {
    return fail(mpath + ".gmtoffset",
                "expected whole seconds within a day, found " + (*offset)->dump());
  }
  const std::int64_t gmtoffset = (*offset)->get<std::int64_t>();
  out.utc_offset = gmtoffset * kSecond;
  auto granularity = member(meta, mpath, "dataGranularity");
  if (!granularity) return granularity.status();
  if (!(*granularity)->is_string()) {
    return fail(mpath + ".dataGranularity",
                std::string("expected a string, found ") + (*granularity)->type_name());
  }
  auto interval = interval_from_yahoo((*granularity)->get_ref<const std::string&>());
  if (!interval) return fail(mpath + ".dataGranularity", interval.message());
  out.interval = *interval;

  // indicators.quote[0]
  auto indicators = member(result, rpath, "indicators");
  if (!indicators) return indicators.status();
  const std::string ipath = rpath + ".indicators";
  auto quotes = member(**indicators, ipath, "quote");
  if (!quotes) return quotes.status();
  if (!(*quotes)->is_array() || (*quotes)->empty()) {
    return fail(ipath + ".quote",
                std::string("expected an array of one object, found ") +
                    ((*quotes)->is_array() ? "an empty array" : (*quotes)->type_name()));
  }
  const json& quote = (**quotes)[0];
  const std::string qpath = ipath + ".quote[0]";
  if (!quote.is_object()) {
    return fail(qpath, std::string("expected an object, found ") + quote.type_name());
  }

  // timestamp: absent, with empty quotes, when nothing traded in the range.
  const auto ts_it = result.find("timestamp");
  if (ts_it == result.end() || ts_it->is_null()) {
    for (const char* name : kQuoteFields) {
      const auto it = quote.find(name);
      if (it != quote.end() && !(it->is_array() && it->empty())) {
        return fail(rpath, std::string("missing key 'timestamp' while ") + qpath + "." + name +
                               " has values");
      }
    }
    return out;
  }
  const json& stamps = *ts_it;
  if (!stamps.is_array()) {
    return fail(rpath + ".timestamp",
                std::string("expected an array, found ") + stamps.type_name());
  }
  const std::size_t n = stamps.size();
  std::array<const json*, 5> columns{};
  for (std::size_t f = 0; f < kQuoteFields.size(); ++f) {
    auto col = member(quote, qpath, kQuoteFields[f]);
    if (!col) return col.status();
    const std::string cpath = qpath + "." + kQuoteFields[f];
    if (!(*col)->is_array()) {
      return fail(cpath, std::string("expected an array, found ") + (*col)->type_name());
    }
    if ((*col)->size() != n) {
      return fail(cpath, "has " + std::to_string((*col)->size()) + " values but timestamp has " +
                             std::to_string(n));
    }
    for (std::size_t i = 0; i < n; ++i) {
      const json& v = (**col)[i];
      if (!v.is_number() && !v.is_null()) {
        return fail(
            cpath + "[" + std::to_string(i) + "]",
            std::string("expected a number or null, found ") + v.type_name() + " " + v.dump());
      }
    }
    columns[f] = *col;
  }

  out.candles.reserve(n);
  Timestamp previous_time = 0;
  std::size_t previous_index = 0;
  bool previous_kept = false;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string tpath = rpath + ".timestamp[" + std::to_string(i) + "]";
    const json& s = stamps[i];
    if (!s.is_number_integer()) {
      return fail(tpath, std::string("expected whole epoch seconds, found ") + s.type_name() + " " +
                             s.dump());
    }
    const std::int64_t seconds = s.get<std::int64_t>();
    if (seconds < -kMaxEpochSeconds || seconds > kMaxEpochSeconds) {
      return fail(tpath, "epoch seconds " + std::to_string(seconds) + " out of range");
    }
    Timestamp time = seconds * kSecond;
    if (out.interval == Interval::k1d || out.interval == Interval::k1w) {
      // The exchange-local date; the extra hour absorbs a daylight-saving change between the
      // bar's date and meta.gmtoffset for bars stamped at local midnight.
      time = floor_div(seconds + gmtoffset + 3600, 86400) * kDay;
      if (out.interval == Interval::k1w) time = bar_open_time(time, Interval::k1w);
    }
    if (i > 0 && time < previous_time) {
      return fail(tpath, format_timestamp(time) + " is earlier than timestamp[" +
                             std::to_string(i - 1) + "] " + format_timestamp(previous_time) +
                             " (bars must be in increasing time)");
    }
    if (i > 0 && time == previous_time && previous_kept) {
      // Yahoo sometimes repeats the still-forming bar: the later one is the newer data.
      for (auto* column : {&out.candles.open, &out.candles.high, &out.candles.low,
                           &out.candles.close, &out.candles.volume}) {
        column->pop_back();
      }
      out.candles.time.pop_back();
      out.skipped.push_back({previous_index, previous_time,
                             "superseded by timestamp[" + std::to_string(i) + "] (same time)"});
    }
    previous_time = time;
    previous_index = i;
    previous_kept = false;

    std::array<double, 5> v{};
    std::string nulls;
    std::size_t null_count = 0;
    for (std::size_t f = 0; f < kQuoteFields.size(); ++f) {
      const json& x = (*columns[f])[i];
      if (x.is_null()) {
        nulls += null_count++ == 0 ? "null " : ", ";
        nulls += kQuoteFields[f];
      } else {
        v[f] = x.get<double>();
      }
    }
    const Candle bar{time, v[0], v[1], v[2], v[3], v[4]};
    std::string reason;
    if (null_count == kQuoteFields.size()) {
      reason = "null bar";
    } else if (null_count > 0) {
      reason = std::move(nulls);
    } else if (bar.low <= 0) {
      reason = "price not positive";
    } else if (bar.high < bar.low) {
      reason = "high below low";
    } else if (bar.open < bar.low || bar.open > bar.high) {
      reason = "open outside [low, high]";
    } else if (bar.close < bar.low || bar.close > bar.high) {
      reason = "close outside [low, high]";
    } else if (bar.volume < 0) {
      reason = "negative volume";
    }
    if (!reason.empty()) {
      out.skipped.push_back({i, time, std::move(reason)});
      continue;
    }
    out.candles.push_back(bar);
    previous_kept = true;
  }
  std::sort(out.skipped.begin(), out.skipped.end(),
            [](const YahooSkippedBar& a, const YahooSkippedBar& b) { return a.index < b.index; });
  return out;
}

}  // namespace

Result<YahooChart> parse_yahoo_chart(std::string_view json, std::string_view source) {
  return Parser(source).parse(json);
}

Result<std::string_view> yahoo_interval_name(Interval interval) {
  switch (interval) {
    case Interval::k1m:
      return std::string_view("1m");
    case Interval::k5m:
      return std::string_view("5m");
    case Interval::k15m:
      return std::string_view("15m");
    case Interval::k1h:
      return std::string_view("60m");
    case Interval::k1d:
      return std::string_view("1d");
    case Interval::k1w:
      return std::string_view("1wk");
    case Interval::k1s:
    case Interval::k4h:
      break;
  }
  return Status::invalid_argument("interval " + std::string(interval_name(interval)) +
                                  " is not supported by the Yahoo importer (supported: "
                                  "1m 5m 15m 1h 1d 1w)");
}

Result<Interval> interval_from_yahoo(std::string_view granularity) {
  static constexpr std::array<std::pair<std::string_view, Interval>, 7> kTable = {{
      {"1m", Interval::k1m},
      {"5m", Interval::k5m},
      {"15m", Interval::k15m},
      {"60m", Interval::k1h},
      {"1h", Interval::k1h},
      {"1d", Interval::k1d},
      {"1wk", Interval::k1w},
  }};
  for (const auto& [name, interval] : kTable) {
    if (name == granularity) return interval;
  }
  return Status::invalid_argument("granularity '" + std::string(granularity) +
                                  "' has no tickgraph interval (expected 1m 5m 15m 60m 1h 1d 1wk)");
}

}  // namespace tickgraph::ingest
