// Responses of Yahoo Finance's chart API (ingest/yahoo_chart.h parse_yahoo_chart), which
// `tickgraph fetch yahoo` reads from the network: arbitrary bytes as a response body. Checks,
// besides no crash, UB or leak:
//   - an error names the source;
//   - the bars of a parsed response are what the header promises: finite prices with
//     0 < low <= open, close <= high, finite volume >= 0, strictly increasing times, daily and
//     weekly bars at midnight UTC (weekly ones on the interval's grid);
//   - skipped bars are listed in index order.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/interval.h"
#include "fuzz_check.h"
#include "ingest/yahoo_chart.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tickgraph;
  constexpr std::string_view kSource = "yahoo: FUZZ";
  const auto chart = ingest::parse_yahoo_chart(fuzz::as_text(data, size), kSource);
  if (!chart) {
    FUZZ_CHECK(chart.message().starts_with(kSource), "an error names the source");
    return 0;
  }
  const CandleSeries& s = chart->candles;
  FUZZ_CHECK(!chart->symbol.empty(), "a symbol");
  for (std::size_t i = 0; i < s.size(); ++i) {
    FUZZ_CHECK(std::isfinite(s.open[i]) && std::isfinite(s.high[i]) && std::isfinite(s.low[i]) &&
                   std::isfinite(s.close[i]) && std::isfinite(s.volume[i]),
               "finite values");
    FUZZ_CHECK(s.low[i] > 0 && s.low[i] <= s.open[i] && s.open[i] <= s.high[i],
               "open inside [low, high]");
    FUZZ_CHECK(s.low[i] <= s.close[i] && s.close[i] <= s.high[i], "close inside [low, high]");
    FUZZ_CHECK(s.volume[i] >= 0, "volume >= 0");
    FUZZ_CHECK(i == 0 || s.time[i - 1] < s.time[i], "strictly increasing times");
    if (chart->interval == Interval::k1d || chart->interval == Interval::k1w) {
      FUZZ_CHECK(bar_open_time(s.time[i], chart->interval) == s.time[i],
                 "daily and weekly bars on their grid");
    }
  }
  for (std::size_t i = 1; i < chart->skipped.size(); ++i) {
    FUZZ_CHECK(chart->skipped[i - 1].index < chart->skipped[i].index, "skipped bars in order");
  }
  return 0;
}
