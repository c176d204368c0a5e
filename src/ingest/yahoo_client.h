// Downloads bars from Yahoo Finance's v8 chart API over HTTP(S) with libcurl:
//
//   GET {base}/v8/finance/chart/{SYMBOL}?range=5y&interval=1d&includePrePost=false&events=div,split
//   GET {base}/v8/finance/chart/{SYMBOL}?period1=…&period2=…&interval=1d&…   (epoch seconds)
//
// and parses the answer with parse_yahoo_chart (yahoo_chart.h), so the chart's bars are
// normalised the same way.
//
// Retries. One fetch makes up to `max_attempts` requests. It retries on a timeout, a connection
// failure (refused, reset, closed before the whole body arrived), HTTP 429 and HTTP 5xx, and on
// nothing else: another 4xx, a 200 whose body is not a valid chart, and bad arguments fail at
// once. Before retry k (k = 1, 2, …) it sleeps a random time in [0, min(max_backoff,
// initial_backoff * 2^(k-1))] ("full jitter"), or, for a 429 with a Retry-After header (seconds or
// an HTTP date), exactly that long; a Retry-After beyond `max_retry_after` fails at once rather
// than wait. Sleeping goes through `sleeper`, so tests can record the waits instead of waiting.
//
// Messages name the symbol: "yahoo: AAPL: HTTP 404: No data found, symbol may be delisted",
// "yahoo: AAPL: rate limited (HTTP 429) after 4 attempts", "yahoo: AAPL: timed out after 4
// attempts (30s limit per attempt)", "yahoo: AAPL: malformed JSON at byte 812 of 4096: …",
// "yahoo: AAPL: truncated body after 4 attempts: transfer closed with 412 bytes remaining to read".
//
// Yahoo limits how far back intraday bars go (1m: about 7 days per request and 30 days back;
// 5m, 15m: 60 days; 60m: 730 days); asking for more comes back as an HTTP 4xx whose description
// is passed on. Yahoo also rate-limits by client, so callers fetching many symbols should pace
// themselves.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <variant>

#include "core/interval.h"
#include "core/result.h"
#include "core/time.h"
#include "ingest/yahoo_chart.h"

namespace tickgraph::ingest {

inline constexpr std::string_view kYahooDefaultBaseUrl = "https://query1.finance.yahoo.com";
// Environment variable that overrides the default base URL (for a mirror or a test server).
inline constexpr const char* kYahooUrlEnvVar = "TICKGRAPH_YAHOO_URL";

// The ranges Yahoo accepts in `range=`: 1d 5d 1mo 3mo 6mo 1y 2y 5y 10y ytd max.
bool is_yahoo_range(std::string_view range);

// A period of time [begin, end), sent as period1 = begin rounded down to the second and
// period2 = end rounded up.
struct YahooPeriod {
  Timestamp begin = 0;
  Timestamp end = 0;
};

// What to fetch: a named range ("5y", "ytd", "max", …) or a period.
using YahooSpan = std::variant<std::string, YahooPeriod>;

struct YahooClientOptions {
  // Scheme, host and optional port, no path ("http://127.0.0.1:8080"). Empty: the value of
  // $TICKGRAPH_YAHOO_URL when set and non-empty, else kYahooDefaultBaseUrl.
  std::string base_url;
  Duration connect_timeout = 10 * kSecond;  // per attempt; 0 means libcurl's default (300s)
  Duration timeout = 30 * kSecond;          // whole request, per attempt; 0 means none
  int max_attempts = 4;                     // values below 1 count as 1
  Duration initial_backoff = 500 * kMillisecond;
  Duration max_backoff = 30 * kSecond;
  Duration max_retry_after = 120 * kSecond;
  std::size_t max_body_bytes = std::size_t{64} << 20;  // a bigger response fails
  std::string user_agent = "Mozilla/5.0 (compatible; tickgraph/0.1)";
  // Called to wait before a retry, from the thread calling fetch. Empty: sleep the thread.
  std::function<void(Duration)> sleeper;
};

// Thread-safety: fetch is const and may run on several threads at once (each call uses its own
// libcurl handle), provided the sleeper may too. Constructing the first client initialises libcurl
// globally; do that before starting threads that use libcurl otherwise.
class YahooClient {
 public:
  explicit YahooClient(YahooClientOptions options = {});

  // Downloads `symbol`'s bars of `interval` over `span` (e.g. fetch("AAPL", "5y", Interval::k1d)).
  // The symbol (1 to 32 of letters, digits and . - ^ = _), the range or period and the interval
  // (1m 5m 15m 1h 1d 1w) are checked before any request. Fails, with the messages above, when
  // every attempt failed, when one failed in a way a retry cannot fix, or when Yahoo answered with
  // bars of another interval than asked. Skipped bars are reported in the chart, not as errors.
  Result<YahooChart> fetch(std::string_view symbol, const YahooSpan& span, Interval interval) const;

  // The path and query fetch sends, e.g.
  // "/v8/finance/chart/AAPL?range=5y&interval=1d&includePrePost=false&events=div,split"; the
  // symbol is percent-encoded ("^GSPC" -> "%5EGSPC"). Fails on the arguments fetch refuses.
  static Result<std::string> request_target(std::string_view symbol, const YahooSpan& span,
                                            Interval interval);

  // The base URL in use (after the environment and default rules above).
  const std::string& base_url() const { return options_.base_url; }

 private:
  YahooClientOptions options_;
};

}  // namespace tickgraph::ingest
