// Reads a response of Yahoo Finance's v8 chart API (GET /v8/finance/chart/{SYMBOL}) into candles:
//
//   {"chart":{"result":[{"meta":{"symbol":"AAPL","currency":"USD","exchangeName":"NMS",
//     "instrumentType":"EQUITY","gmtoffset":-14400,"exchangeTimezoneName":"America/New_York",
//     "dataGranularity":"1d",…},
//     "timestamp":[1713533400,…],
//     "indicators":{"quote":[{"open":[…],"high":[…],"low":[…],"close":[…],"volume":[…]}],
//                   "adjclose":[{"adjclose":[…]}]}}],
//    "error":null}}
//
// Bars carry the unadjusted OHLC and the volume, like the CSV reader; `adjclose` and `events`
// (dividends, splits) are not read.
//
// Times. Yahoo stamps a bar with its open time in UTC epoch seconds. Daily bars are stamped at
// the exchange's market open (13:30 or 14:30 UTC for New York), so daily bars are moved to
// midnight UTC of the exchange-local date (from meta.gmtoffset), where the CSV reader puts them;
// weekly bars likewise, then to the Monday of that week (tickgraph's weekly grid). meta.gmtoffset
// is the exchange's offset when the request was made, which may differ by the daylight-saving
// hour from the offset on a bar's date, so a bar stamped in the last hour before local midnight
// counts as the next day. Intraday bars keep their exact time. Note that Yahoo's 60m bars on
// exchanges opening at half past (New York: 9:30) open at :30, off tickgraph's epoch-aligned 1h
// grid, and that while the market is open the last bar may still be forming.
//
// Missing bars. Yahoo reports a bar it has no data for as null in the quote arrays (the whole bar,
// or sometimes a single field). Such a bar is skipped and listed in `skipped` with its index, time
// and the null fields. Bars with impossible values (a price <= 0, high below low, open or close
// outside [low, high], negative volume) are skipped and listed likewise, and when two bars fall on
// the same time (Yahoo sometimes sends the live bar of the day twice) the later one is kept and
// the earlier listed. A result with no `timestamp` and empty quotes (no trading in the range) is an
// empty series, not an error.
//
// Errors. Malformed JSON ("SOURCE: malformed JSON at byte N: …"), the API's error object
// ("SOURCE: Yahoo error Not Found: No data found, symbol may be delisted"), a missing key, a value
// of the wrong type, arrays whose lengths differ from `timestamp`'s, times out of order and a
// granularity tickgraph has no interval for all fail the whole parse with a message naming the
// source and the JSON path, e.g. "SOURCE: chart.result[0].indicators.quote[0].close[3]: expected a
// number or null, found string".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/candle.h"
#include "core/interval.h"
#include "core/result.h"
#include "core/time.h"

namespace tickgraph::ingest {

// A bar of the response that is not in the series, and why.
struct YahooSkippedBar {
  std::size_t index = 0;  // position in the response's `timestamp` array
  Timestamp time = 0;     // after the daily/weekly normalisation described above
  std::string reason;     // "null bar", "null volume", "high below low", …

  friend bool operator==(const YahooSkippedBar&, const YahooSkippedBar&) = default;
};

// One symbol's bars as Yahoo sent them, normalised.
struct YahooChart {
  std::string symbol;             // meta.symbol, as Yahoo spells it ("AAPL", "^GSPC")
  std::string currency;           // meta.currency ("USD"); empty when Yahoo sends none
  std::string exchange;           // meta.exchangeName ("NMS")
  std::string instrument_type;    // meta.instrumentType ("EQUITY", "INDEX", "ETF", …)
  std::string exchange_timezone;  // meta.exchangeTimezoneName ("America/New_York")
  Duration utc_offset = 0;        // meta.gmtoffset: exchange-local time minus UTC
  Interval interval = Interval::k1d;
  CandleSeries candles;  // strictly increasing times
  std::vector<YahooSkippedBar> skipped;
};

// Parses one chart response. `source` names the input at the front of every message (a file path,
// or "yahoo: AAPL" for a download). Never throws.
Result<YahooChart> parse_yahoo_chart(std::string_view json, std::string_view source);

// Yahoo's name for a bar interval: 1m 5m 15m 1h 1d 1w -> "1m" "5m" "15m" "60m" "1d" "1wk". 1s and
// 4h fail, naming the interval and listing the supported ones.
Result<std::string_view> yahoo_interval_name(Interval interval);

// The interval of a meta.dataGranularity value ("1m" "5m" "15m" "60m" or "1h" "1d" "1wk"); other
// granularities (2m, 90m, 1mo, …) fail, naming the value.
Result<Interval> interval_from_yahoo(std::string_view granularity);

}  // namespace tickgraph::ingest
