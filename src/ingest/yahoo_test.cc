#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ingest/testing/replay_http_server.h"
#include "ingest/yahoo_chart.h"
#include "ingest/yahoo_client.h"

namespace tickgraph::ingest {
namespace {

using testing::json_response;
using testing::ReplayHttpServer;
using testing::ReplayResponse;

// Epoch seconds from `date -u -d …` (an oracle outside tickgraph).
constexpr Timestamp k2024_04_15 = 1713139200 * kSecond;  // Monday
constexpr Timestamp k2024_04_16 = 1713225600 * kSecond;
constexpr Timestamp k2024_04_17 = 1713312000 * kSecond;
constexpr Timestamp k2024_04_18 = 1713398400 * kSecond;
constexpr Timestamp k2024_04_19 = 1713484800 * kSecond;
constexpr Timestamp k2024_04_08 = k2024_04_15 - 7 * kDay;
constexpr std::int64_t k2024_04_19_1330 = 1713533400;  // epoch seconds, 9:30 New York time

std::string fixture_path(const std::string& name) {
  return std::string(TICKGRAPH_YAHOO_FIXTURES) + "/" + name;
}

std::string fixture(const std::string& name) {
  std::ifstream in(fixture_path(name), std::ios::binary);
  EXPECT_TRUE(in) << "cannot open " << fixture_path(name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<YahooChart> parse_fixture(const std::string& name) {
  return parse_yahoo_chart(fixture(name), fixture_path(name));
}

// A chart response of `granularity` at UTC offset `gmtoffset` seconds, with one bar per row of
// `rows`: "EPOCH_SECONDS,open,high,low,close,volume" (JSON values, null allowed).
std::string chart_json(const std::string& granularity, int gmtoffset,
                       const std::vector<std::string>& rows) {
  std::vector<std::string> columns(6);
  for (const std::string& row : rows) {
    std::istringstream fields(row);
    std::string field;
    for (std::size_t c = 0; c < columns.size() && std::getline(fields, field, ','); ++c) {
      columns[c] += (columns[c].empty() ? "" : ",") + field;
    }
  }
  return R"({"chart":{"result":[{"meta":{"currency":"USD","symbol":"TEST","exchangeName":"NMS",)"
         R"("instrumentType":"EQUITY","gmtoffset":)" +
         std::to_string(gmtoffset) + R"(,"exchangeTimezoneName":"Test/Zone","dataGranularity":")" +
         granularity + R"(","range":""},"timestamp":[)" + columns[0] +
         R"(],"indicators":{"quote":[{"open":[)" + columns[1] + "],\"high\":[" + columns[2] +
         "],\"low\":[" + columns[3] + "],\"close\":[" + columns[4] + "],\"volume\":[" + columns[5] +
         "]}]}}],\"error\":null}}";
}

// Asserts `r` failed with a message starting with `prefix` and containing `what`.
template <class T>
void expect_error(const Result<T>& r, const std::string& prefix, const std::string& what) {
  ASSERT_FALSE(r.ok()) << "expected an error starting with \"" << prefix << "\"";
  EXPECT_EQ(r.message().rfind(prefix, 0), 0u) << "message: " << r.message();
  EXPECT_NE(r.message().find(what), std::string::npos)
      << "message lacks \"" << what << "\": " << r.message();
}

// ---------------------------------------------------------------------------------------------
// Parser, on the fixtures.

TEST(YahooChart, ParsesDailyFixtureToMidnightUtcBars) {
  // Checks the 5-day AAPL response gives its metadata and four bars at midnight UTC of each New
  // York trading date (Yahoo stamps them 13:30 UTC), with the unadjusted OHLCV as sent.
  auto r = parse_fixture("aapl_1d_5d.json");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->symbol, "AAPL");
  EXPECT_EQ(r->currency, "USD");
  EXPECT_EQ(r->exchange, "NMS");
  EXPECT_EQ(r->instrument_type, "EQUITY");
  EXPECT_EQ(r->exchange_timezone, "America/New_York");
  EXPECT_EQ(r->utc_offset, -4 * kHour);
  EXPECT_EQ(r->interval, Interval::k1d);
  ASSERT_EQ(r->candles.size(), 4u);
  EXPECT_EQ(r->candles.time,
            (std::vector<Timestamp>{k2024_04_15, k2024_04_16, k2024_04_18, k2024_04_19}));
  EXPECT_EQ(r->candles.at(0), (Candle{k2024_04_15, 175.36000061035156, 176.6300048828125, 172.5,
                                      172.69000244140625, 73531800}));
  EXPECT_EQ(r->candles.at(3), (Candle{k2024_04_19, 166.2100067138672, 166.39999389648438,
                                      164.0800018310547, 165.0, 67772100}));
}

TEST(YahooChart, ReportsTheNullDailyBar) {
  // Checks the all-null bar of 2024-04-17 is left out and reported with its index and date.
  auto r = parse_fixture("aapl_1d_5d.json");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->candles.lower_bound(k2024_04_17), 2u);
  EXPECT_EQ(r->candles.time[2], k2024_04_18);
  EXPECT_EQ(r->skipped, (std::vector<YahooSkippedBar>{{2, k2024_04_17, "null bar"}}));
}

TEST(YahooChart, IntradayBarsKeepTheirExactTime) {
  // Checks 5m bars keep Yahoo's UTC open times, and that a null bar and a bar whose volume alone
  // is null are both skipped and reported.
  auto r = parse_fixture("aapl_5m.json");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->interval, Interval::k5m);
  const Timestamp open = k2024_04_19_1330 * kSecond;
  std::vector<Timestamp> expected;
  for (Duration i : {0, 1, 2, 3, 4, 7}) expected.push_back(open + i * 5 * kMinute);
  EXPECT_EQ(r->candles.time, expected);
  EXPECT_EQ(r->candles.at(0), (Candle{open, 166.2100067138672, 166.39999389648438,
                                      165.22000122070312, 165.4550018310547, 5286104}));
  EXPECT_EQ(r->skipped, (std::vector<YahooSkippedBar>{{5, open + 25 * kMinute, "null bar"},
                                                      {6, open + 30 * kMinute, "null volume"}}));
}

TEST(YahooChart, NotFoundBodyGivesYahoosDescription) {
  // Checks the 404 body's error object becomes an error quoting its code and description.
  auto r = parse_fixture("not_found_404.json");
  expect_error(r, fixture_path("not_found_404.json") + ": Yahoo error Not Found: ",
               "No data found, symbol may be delisted");
}

TEST(YahooChart, BadIntervalBodyGivesYahoosDescription) {
  // Checks the 400 body's error object becomes an error quoting its code and description.
  auto r = parse_fixture("bad_interval_400.json");
  expect_error(r, fixture_path("bad_interval_400.json") + ": Yahoo error Bad Request: ",
               "Invalid input - interval=7m is not supported. Valid intervals: [1m,");
}

TEST(YahooChart, TruncatedBodyIsMalformedJsonAtItsEnd) {
  // Checks a body cut after 1200 bytes fails as malformed JSON at byte 1200 (the end of input).
  auto r = parse_fixture("aapl_1d_truncated.json");
  expect_error(r,
               fixture_path("aapl_1d_truncated.json") + ": malformed JSON at byte 1200 of 1200: ",
               "unexpected end of input");
}

TEST(YahooChart, PartialResultNamesTheShortArray) {
  // Checks a result whose close array is one value short fails, naming the array and both lengths.
  auto r = parse_fixture("aapl_1d_partial.json");
  expect_error(
      r, fixture_path("aapl_1d_partial.json") + ": chart.result[0].indicators.quote[0].close: ",
      "has 4 values but timestamp has 5");
}

TEST(YahooChart, EmptyRangeIsAnEmptySeries) {
  // Checks Yahoo's answer for a range without trading (no timestamp, empty quote) is no bars, not
  // an error.
  auto r = parse_fixture("aapl_1d_empty_range.json");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->symbol, "AAPL");
  EXPECT_TRUE(r->candles.empty());
  EXPECT_TRUE(r->skipped.empty());
}

// ---------------------------------------------------------------------------------------------
// Parser, on small inline responses.

TEST(YahooChart, NonNumericValueNamesItsPath) {
  // Checks a string among the prices fails with the JSON path of the value and its type.
  auto r = parse_yahoo_chart(
      chart_json("1d", 0, {"1713139200,10,12,9,11,100", "1713225600,11,\"13\",10,12,100"}),
      "t.json");
  expect_error(r, "t.json: chart.result[0].indicators.quote[0].high[1]: ",
               "expected a number or null, found string");
}

TEST(YahooChart, NumberBeyondADoubleIsMalformedJson) {
  // Checks a price too large for a double (1e400) fails as malformed JSON instead of throwing
  // (found by tests/fuzz/yahoo_chart_fuzz.cc).
  auto r = parse_yahoo_chart(chart_json("1d", 0, {"1713139200,10,1e400,9,11,100"}), "t.json");
  expect_error(r, "t.json: malformed JSON: ", "number overflow parsing '1e400'");
}

TEST(YahooChart, TimestampBeyondNanosecondRangeIsRefused) {
  // Checks epoch seconds past 2262 (where int64 ns end) fail naming timestamp[i], instead of
  // overflowing (found by tests/fuzz/yahoo_chart_fuzz.cc with 30871274200).
  for (const char* seconds : {"30871274200", "9300000000", "-9300000000"}) {
    auto r = parse_yahoo_chart(chart_json("1d", 0, {std::string(seconds) + ",10,12,9,11,100"}),
                               "t.json");
    expect_error(r, "t.json: chart.result[0].timestamp[0]: ", "out of range");
  }
}

TEST(YahooChart, NonIntegerTimestampNamesItsPath) {
  // Checks a fractional timestamp fails, naming timestamp[i].
  auto r = parse_yahoo_chart(chart_json("1d", 0, {"1713139200.5,10,12,9,11,100"}), "t.json");
  expect_error(r, "t.json: chart.result[0].timestamp[0]: ", "expected whole epoch seconds");
}

TEST(YahooChart, MissingKeysAreNamed) {
  // Checks each required key, when absent, is named with the path of its parent.
  const std::string good = chart_json("1d", 0, {"1713139200,10,12,9,11,100"});
  struct Case {
    std::string remove;
    std::string prefix;
    std::string what;
  };
  for (const Case& c : std::vector<Case>{
           {R"("symbol":"TEST",)", "t.json: chart.result[0].meta: ", "missing key 'symbol'"},
           {R"("gmtoffset":0,)", "t.json: chart.result[0].meta: ", "missing key 'gmtoffset'"},
           {R"(,"volume":[100])",
            "t.json: chart.result[0].indicators.quote[0]: ", "missing key 'volume'"},
           {R"("timestamp":[1713139200],)", "t.json: chart.result[0]: ", "missing key 'timestamp'"},
       }) {
    std::string text = good;
    const auto at = text.find(c.remove);
    ASSERT_NE(at, std::string::npos) << c.remove;
    text.erase(at, c.remove.size());
    SCOPED_TRACE(c.remove);
    expect_error(parse_yahoo_chart(text, "t.json"), c.prefix, c.what);
  }
  expect_error(parse_yahoo_chart(R"({"chart":{"error":null}})", "t.json"),
               "t.json: chart: ", "missing key 'result'");
  expect_error(parse_yahoo_chart(R"({"spark":{}})", "t.json"),
               "t.json: document: ", "missing key 'chart'");
  expect_error(parse_yahoo_chart("  \n", "t.json"), "t.json: ", "empty document");
}

TEST(YahooChart, UnsupportedGranularityIsRefused) {
  // Checks monthly bars (no tickgraph interval) fail, naming meta.dataGranularity and the value.
  auto r = parse_yahoo_chart(chart_json("1mo", 0, {"1711929600,10,12,9,11,100"}), "t.json");
  expect_error(r, "t.json: chart.result[0].meta.dataGranularity: ", "'1mo'");
}

TEST(YahooChart, DailyBarsLandOnTheExchangeLocalDate) {
  // Checks the date is the exchange's: Tokyo bars stamped 00:00 UTC (09:00 local) stay on that
  // date, and a London bar stamped 23:00 UTC (midnight BST) while meta says GMT is the next day.
  auto tokyo = parse_yahoo_chart(chart_json("1d", 32400, {"1713139200,10,12,9,11,100"}), "t");
  ASSERT_TRUE(tokyo.ok()) << tokyo.message();
  EXPECT_EQ(tokyo->candles.time, (std::vector<Timestamp>{k2024_04_15}));
  auto london = parse_yahoo_chart(chart_json("1d", 0, {"1713135600,10,12,9,11,100"}), "t");
  ASSERT_TRUE(london.ok()) << london.message();
  EXPECT_EQ(london->candles.time, (std::vector<Timestamp>{k2024_04_15}));
  auto new_york = parse_yahoo_chart(chart_json("1d", -18000, {"1713187800,10,12,9,11,100"}), "t");
  ASSERT_TRUE(new_york.ok()) << new_york.message();
  EXPECT_EQ(new_york->candles.time, (std::vector<Timestamp>{k2024_04_15}));
}

TEST(YahooChart, WeeklyBarsStartOnMondayAndTheLiveRowWins) {
  // Checks 1wk bars move to Monday 00:00 UTC, and that the live row Yahoo appends for the current
  // week (stamped Friday) replaces that week's bar, the replaced one being reported.
  auto r = parse_yahoo_chart(chart_json("1wk", -14400,
                                        {"1712583000,10,12,9,11,100", "1713187800,11,13,10,12,200",
                                         "1713556800,11,14,10,13,300"}),
                             "t");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->interval, Interval::k1w);
  EXPECT_EQ(r->candles.time, (std::vector<Timestamp>{k2024_04_08, k2024_04_15}));
  EXPECT_EQ(r->candles.close, (std::vector<double>{11, 13}));
  EXPECT_EQ(
      r->skipped,
      (std::vector<YahooSkippedBar>{{1, k2024_04_15, "superseded by timestamp[2] (same time)"}}));
}

TEST(YahooChart, ImpossibleBarsAreSkippedWithAReason) {
  // Checks bars no market can print are left out and reported, each with its reason.
  auto r = parse_yahoo_chart(
      chart_json("1d", 0,
                 {"1713139200,10,12,9,11,100", "1713225600,10,9,12,11,100",
                  "1713312000,13,12,9,11,100", "1713398400,10,12,9,8,100", "1713484800,0,0,0,0,0",
                  "1713744000,10,12,9,11,-1", "1713830400,10,12,null,null,100"}),
      "t");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->candles.time, (std::vector<Timestamp>{k2024_04_15}));
  std::vector<std::string> reasons;
  for (const auto& s : r->skipped) reasons.push_back(s.reason);
  EXPECT_EQ(reasons, (std::vector<std::string>{"high below low", "open outside [low, high]",
                                               "close outside [low, high]", "price not positive",
                                               "negative volume", "null low, close"}));
}

TEST(YahooChart, BarsOutOfOrderAreRefused) {
  // Checks a timestamp earlier than the one before fails, naming both.
  auto r = parse_yahoo_chart(
      chart_json("5m", 0, {"1713533700,10,12,9,11,100", "1713533400,10,12,9,11,100"}), "t");
  expect_error(r, "t: chart.result[0].timestamp[1]: ", "is earlier than timestamp[0]");
}

TEST(YahooChart, IntervalNamesRoundTrip) {
  // Checks every interval Yahoo serves maps to Yahoo's name and back, and 1s and 4h are refused.
  for (Interval i : kAllIntervals) {
    auto name = yahoo_interval_name(i);
    if (i == Interval::k1s || i == Interval::k4h) {
      expect_error(name, "interval " + std::string(interval_name(i)), "not supported");
      continue;
    }
    ASSERT_TRUE(name.ok()) << name.message();
    auto back = interval_from_yahoo(*name);
    ASSERT_TRUE(back.ok()) << back.message();
    EXPECT_EQ(*back, i);
  }
  EXPECT_EQ(*yahoo_interval_name(Interval::k1h), "60m");
  EXPECT_EQ(*yahoo_interval_name(Interval::k1w), "1wk");
  EXPECT_EQ(*interval_from_yahoo("1h"), Interval::k1h);
}

// ---------------------------------------------------------------------------------------------
// Client, against the replay server.

class YahooClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The replay server is local: keep any proxy of the environment out of the way.
    setenv("no_proxy", "127.0.0.1", 1);
    setenv("NO_PROXY", "127.0.0.1", 1);
  }

  YahooClientOptions options_for(const ReplayHttpServer& server) {
    YahooClientOptions o;
    o.base_url = server.base_url();
    o.connect_timeout = 2 * kSecond;
    o.timeout = 5 * kSecond;
    o.max_attempts = 3;
    o.initial_backoff = 100 * kMillisecond;
    o.max_backoff = 1 * kSecond;
    o.user_agent = "tickgraph-test/1";
    o.sleeper = [this](Duration d) { sleeps_.push_back(d); };
    return o;
  }

  std::vector<Duration> sleeps_;
};

const std::string kDailyTarget =
    "/v8/finance/chart/AAPL?range=5d&interval=1d&includePrePost=false&events=div,split";

TEST_F(YahooClientTest, FetchesAndParsesTheChart) {
  // Checks a 200 answer is parsed into the chart, the GET went to the chart path with the range,
  // interval and our User-Agent, and nothing was retried.
  ReplayHttpServer server({json_response(200, fixture("aapl_1d_5d.json"))});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->symbol, "AAPL");
  EXPECT_EQ(r->candles.size(), 4u);
  EXPECT_EQ(r->skipped, (std::vector<YahooSkippedBar>{{2, k2024_04_17, "null bar"}}));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, kDailyTarget);
  EXPECT_EQ(requests[0].header("user-agent"), "tickgraph-test/1");
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(YahooClientTest, PeriodRequestSendsEpochSecondsAndReportsNullBars) {
  // Checks a period goes out as period1/period2 epoch seconds (end rounded up) with Yahoo's 5m
  // name, and the 5m bars come back with the null ones reported.
  ReplayHttpServer server({json_response(200, fixture("aapl_5m.json"))});
  YahooClient client(options_for(server));
  const Timestamp begin = k2024_04_19_1330 * kSecond;
  auto r = client.fetch("AAPL", YahooPeriod{begin, begin + 40 * kMinute + 1}, Interval::k5m);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->candles.size(), 6u);
  EXPECT_EQ(r->skipped.size(), 2u);
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target,
            "/v8/finance/chart/AAPL?period1=1713533400&period2=1713535801&interval=5m"
            "&includePrePost=false&events=div,split");
}

TEST_F(YahooClientTest, RequestTargetEncodesTheSymbol) {
  // Checks index and currency symbols are percent-encoded in the path.
  auto gspc = YahooClient::request_target("^GSPC", "max", Interval::k1w);
  ASSERT_TRUE(gspc.ok()) << gspc.message();
  EXPECT_EQ(
      *gspc,
      "/v8/finance/chart/%5EGSPC?range=max&interval=1wk&includePrePost=false&events=div,split");
  auto fx = YahooClient::request_target("EURUSD=X", "1mo", Interval::k1h);
  ASSERT_TRUE(fx.ok()) << fx.message();
  EXPECT_EQ(fx->rfind("/v8/finance/chart/EURUSD%3DX?range=1mo&interval=60m&", 0), 0u) << *fx;
}

TEST_F(YahooClientTest, NotFoundIsNotRetried) {
  // Checks a 404 fails at once with Yahoo's description.
  ReplayHttpServer server({json_response(404, fixture("not_found_404.json"))});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "yahoo: AAPL: HTTP 404: No data found, symbol may be delisted");
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(YahooClientTest, BadRequestIsNotRetried) {
  // Checks a 400 fails at once with Yahoo's description.
  ReplayHttpServer server({json_response(400, fixture("bad_interval_400.json"))});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(),
            "yahoo: AAPL: HTTP 400: Invalid input - interval=7m is not supported. Valid "
            "intervals: [1m, 2m, 5m, 15m, 30m, 60m, 90m, 1h, 1d, 5d, 1wk, 1mo, 3mo]");
  EXPECT_EQ(server.requests().size(), 1u);
}

ReplayResponse too_many_requests(std::optional<std::string> retry_after) {
  ReplayResponse r;
  r.status = 429;
  r.headers = {{"Content-Type", "text/plain"}};
  if (retry_after) r.headers.emplace_back("Retry-After", *retry_after);
  r.body = "Too Many Requests\r\n";
  return r;
}

TEST_F(YahooClientTest, RateLimitHonoursRetryAfter) {
  // Checks a 429 with Retry-After: 7 waits exactly 7 s (through the sleeper) and then succeeds.
  ReplayHttpServer server({too_many_requests("7"), json_response(200, fixture("aapl_1d_5d.json"))});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(sleeps_, (std::vector<Duration>{7 * kSecond}));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].target, kDailyTarget);
}

TEST_F(YahooClientTest, RateLimitWithoutRetryAfterBacksOff) {
  // Checks a bare 429 waits a jittered time within the first backoff step, then succeeds.
  ReplayHttpServer server(
      {too_many_requests(std::nullopt), json_response(200, fixture("aapl_1d_5d.json"))});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(sleeps_.size(), 1u);
  EXPECT_GE(sleeps_[0], 0);
  EXPECT_LE(sleeps_[0], 100 * kMillisecond);
}

TEST_F(YahooClientTest, RateLimitedOnEveryAttemptFails) {
  // Checks 429 on all three attempts fails saying so, after two waits.
  ReplayHttpServer server({too_many_requests("1"), too_many_requests("2"), too_many_requests("3")});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "yahoo: AAPL: rate limited (HTTP 429) after 3 attempts");
  EXPECT_EQ(sleeps_, (std::vector<Duration>{1 * kSecond, 2 * kSecond}));
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST_F(YahooClientTest, RetryAfterBeyondTheLimitFailsAtOnce) {
  // Checks a Retry-After longer than max_retry_after fails without waiting or retrying.
  ReplayHttpServer server({too_many_requests("3600")});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  expect_error(r, "yahoo: AAPL: rate limited (HTTP 429)", "retry after 1h");
  EXPECT_TRUE(sleeps_.empty());
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(YahooClientTest, ServerErrorsAreRetriedUpToMaxAttempts) {
  // Checks 5xx answers are retried with full-jitter exponential backoff (each wait within
  // 100, 200, 400 ms) up to max_attempts, then fail naming the last status and the attempts.
  ReplayHttpServer server({json_response(502, "<html>Bad Gateway</html>"),
                           json_response(500, "oops"), json_response(503, "busy"),
                           json_response(503, "Service Unavailable")});
  auto options = options_for(server);
  options.max_attempts = 4;
  YahooClient client(options);
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "yahoo: AAPL: HTTP 503 after 4 attempts: Service Unavailable");
  EXPECT_EQ(server.requests().size(), 4u);
  ASSERT_EQ(sleeps_.size(), 3u);
  for (std::size_t k = 0; k < sleeps_.size(); ++k) {
    EXPECT_GE(sleeps_[k], 0) << k;
    EXPECT_LE(sleeps_[k], (100 * kMillisecond) << k) << k;
  }
}

TEST_F(YahooClientTest, ServerErrorThenSuccess) {
  // Checks one 503 followed by a good answer gives the chart.
  ReplayHttpServer server({json_response(503, ""), json_response(200, fixture("aapl_1d_5d.json"))});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(sleeps_.size(), 1u);
}

TEST_F(YahooClientTest, TimeoutsAreRetriedThenFail) {
  // Checks a server slower than the client's timeout on every attempt fails as a timeout after
  // max_attempts, promptly (each attempt gives up at the timeout).
  ReplayResponse slow = json_response(200, fixture("aapl_1d_5d.json"));
  slow.delay = std::chrono::milliseconds(3000);
  ReplayHttpServer server({slow, slow, slow});
  auto options = options_for(server);
  options.timeout = 200 * kMillisecond;
  YahooClient client(options);
  const auto start = std::chrono::steady_clock::now();
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "yahoo: AAPL: timed out after 3 attempts (200ms limit per attempt)");
  EXPECT_EQ(sleeps_.size(), 2u);
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_LT(elapsed, std::chrono::milliseconds(2500));
}

TEST_F(YahooClientTest, TimeoutThenSuccess) {
  // Checks a single slow answer is retried and the next, prompt one is used.
  ReplayResponse slow = json_response(200, fixture("aapl_1d_5d.json"));
  slow.delay = std::chrono::milliseconds(3000);
  ReplayHttpServer server({slow, json_response(200, fixture("aapl_1d_5d.json"))});
  auto options = options_for(server);
  options.timeout = 200 * kMillisecond;
  YahooClient client(options);
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->candles.size(), 4u);
  EXPECT_EQ(server.requests().size(), 2u);
}

ReplayResponse truncated() {
  ReplayResponse r = json_response(200, fixture("aapl_1d_5d.json"));
  r.close_after_body_bytes = 1200;
  return r;
}

TEST_F(YahooClientTest, TruncatedBodyIsRetriedThenFails) {
  // Checks a connection closed before Content-Length bytes arrived is retried, and fails as a
  // truncated body when it keeps happening.
  ReplayHttpServer server({truncated(), truncated(), truncated()});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  expect_error(r, "yahoo: AAPL: truncated body after 3 attempts: ",
               std::to_string(fixture("aapl_1d_5d.json").size() - 1200) + " bytes remaining");
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST_F(YahooClientTest, TruncatedBodyThenSuccess) {
  // Checks one truncated answer is retried and the complete one is used.
  ReplayHttpServer server({truncated(), json_response(200, fixture("aapl_1d_5d.json"))});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->candles.size(), 4u);
}

TEST_F(YahooClientTest, MalformedJsonIsNotRetried) {
  // Checks a complete 200 answer that is not valid JSON fails at once, giving the byte offset.
  ReplayHttpServer server({json_response(200, fixture("aapl_1d_truncated.json"))});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  expect_error(r, "yahoo: AAPL: malformed JSON at byte 1200 of 1200: ", "unexpected end of input");
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(YahooClientTest, EmptyReplyIsRetried) {
  // Checks a connection closed without any answer counts as a connection failure and is retried.
  ReplayResponse hang_up;
  hang_up.close_without_response = true;
  ReplayHttpServer server({hang_up, json_response(200, fixture("aapl_1d_5d.json"))});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST_F(YahooClientTest, RefusedConnectionIsRetriedThenFails) {
  // Checks a port nobody listens on fails as a connection failure after max_attempts.
  YahooClientOptions options;
  {
    ReplayHttpServer gone({});
    options = options_for(gone);
  }
  YahooClient client(options);
  auto r = client.fetch("AAPL", "5d", Interval::k1d);
  expect_error(r, "yahoo: AAPL: connection failed after 3 attempts: ", options.base_url);
  EXPECT_EQ(sleeps_.size(), 2u);
}

TEST_F(YahooClientTest, OtherIntervalThanAskedIsRefused) {
  // Checks an answer with bars of another interval than requested fails, naming both.
  ReplayHttpServer server({json_response(200, fixture("aapl_1d_5d.json"))});
  YahooClient client(options_for(server));
  auto r = client.fetch("AAPL", "5d", Interval::k1h);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "yahoo: AAPL: asked for 1h bars, Yahoo sent 1d bars");
}

TEST_F(YahooClientTest, BadArgumentsFailBeforeAnyRequest) {
  // Checks a bad symbol, range, period or interval is refused without contacting the server.
  ReplayHttpServer server({});
  YahooClient client(options_for(server));
  expect_error(client.fetch("", "5d", Interval::k1d), "yahoo: ", "empty");
  expect_error(client.fetch("AA PL", "5d", Interval::k1d), "yahoo: symbol 'AA PL'",
               "character ' '");
  expect_error(client.fetch("AAPL/../x", "5d", Interval::k1d), "yahoo: symbol", "'/'");
  expect_error(client.fetch("AAPL", "7y", Interval::k1d), "yahoo: AAPL: range '7y'",
               "1d 5d 1mo 3mo 6mo 1y 2y 5y 10y ytd max");
  expect_error(client.fetch("AAPL", YahooPeriod{k2024_04_16, k2024_04_15}, Interval::k1d),
               "yahoo: AAPL: period 2024-04-16 to 2024-04-15", "empty");
  expect_error(client.fetch("AAPL", "5d", Interval::k4h), "yahoo: AAPL: interval 4h",
               "not supported");
  expect_error(client.fetch("AAPL", "5d", Interval::k1s), "yahoo: AAPL: interval 1s",
               "not supported");
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(YahooClientTest, EnvironmentOverridesTheDefaultUrl) {
  // Checks TICKGRAPH_YAHOO_URL replaces the default base URL, and an explicit option beats it.
  ReplayHttpServer server({json_response(200, fixture("aapl_1d_5d.json"))});
  setenv(kYahooUrlEnvVar, (server.base_url() + "/").c_str(), 1);
  YahooClientOptions options = options_for(server);
  options.base_url.clear();
  YahooClient from_env(options);
  YahooClient explicit_url(YahooClientOptions{.base_url = "http://example.invalid"});
  unsetenv(kYahooUrlEnvVar);
  YahooClient by_default;
  EXPECT_EQ(from_env.base_url(), server.base_url());
  EXPECT_EQ(explicit_url.base_url(), "http://example.invalid");
  EXPECT_EQ(by_default.base_url(), kYahooDefaultBaseUrl);
  auto r = from_env.fetch("AAPL", "5d", Interval::k1d);
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target, kDailyTarget);
}

}  // namespace
}  // namespace tickgraph::ingest
