// The Yahoo-format CSV reader (ingest/csv_reader.h), as `tickgraph import csv` and `compute --csv`
// use it, on arbitrary bytes. Checks, besides no crash, UB or leak:
//   - a successful read holds only bars the header comment promises: finite prices with
//     0 < low <= open, close <= high, a finite volume >= 0, strictly increasing times;
//   - a failed read has a message naming the source;
//   - skip mode agrees with strict mode: when strict succeeds, skip mode gives the same bars and
//     skips nothing; when skip mode skips nothing and succeeds, strict mode succeeds too; every
//     skipped line is reported as "SOURCE:LINE: reason".
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "ingest/csv_reader.h"

namespace {

using tickgraph::CandleSeries;

const std::string kSource = "fuzz.csv";

void check_series(const CandleSeries& s) {
  FUZZ_CHECK(s.open.size() == s.size() && s.high.size() == s.size() && s.low.size() == s.size() &&
                 s.close.size() == s.size() && s.volume.size() == s.size(),
             "columns of equal length");
  for (std::size_t i = 0; i < s.size(); ++i) {
    FUZZ_CHECK(std::isfinite(s.open[i]) && std::isfinite(s.high[i]) && std::isfinite(s.low[i]) &&
                   std::isfinite(s.close[i]) && std::isfinite(s.volume[i]),
               "finite values");
    FUZZ_CHECK(s.low[i] > 0, "positive prices");
    FUZZ_CHECK(s.low[i] <= s.open[i] && s.open[i] <= s.high[i], "open inside [low, high]");
    FUZZ_CHECK(s.low[i] <= s.close[i] && s.close[i] <= s.high[i], "close inside [low, high]");
    FUZZ_CHECK(s.volume[i] >= 0, "volume >= 0");
    FUZZ_CHECK(i == 0 || s.time[i - 1] < s.time[i], "strictly increasing times");
  }
}

bool same(const CandleSeries& a, const CandleSeries& b) {
  return a.time == b.time && a.open == b.open && a.high == b.high && a.low == b.low &&
         a.close == b.close && a.volume == b.volume;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(tickgraph::fuzz::as_text(data, size));

  std::istringstream strict_in(text);
  const auto strict = tickgraph::ingest::read_yahoo_csv(strict_in, kSource);
  if (strict) {
    check_series(*strict);
  } else {
    FUZZ_CHECK(strict.message().starts_with(kSource + ":"), "an error names the source");
  }

  std::istringstream skip_in(text);
  std::vector<std::string> skipped;
  const auto skip =
      tickgraph::ingest::read_yahoo_csv(skip_in, kSource, {.skip_bad_rows = true}, &skipped);
  if (skip) check_series(*skip);
  for (const std::string& line : skipped) {
    FUZZ_CHECK(line.starts_with(kSource + ":") && line.size() > kSource.size() + 3,
               "a skipped row names source, line and reason");
  }
  if (strict) {
    FUZZ_CHECK(skip.ok() && skipped.empty() && same(*strict, *skip),
               "skip mode equals strict mode on a clean file");
  } else if (skip && skipped.empty()) {
    FUZZ_CHECK(false, "strict mode fails only on a row skip mode would skip");
  }
  return 0;
}
