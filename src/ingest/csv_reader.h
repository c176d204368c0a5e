// Reads daily or intraday bars from Yahoo Finance's CSV format:
//   Date,Open,High,Low,Close,Adj Close,Volume      (Yahoo's download)
//   date,open,high,low,close,adjclose,volume       (the lower-case variant, e.g. vega-datasets)
// Header names are matched case-insensitively; `Adj Close` is optional and not used (tickgraph
// works on the unadjusted OHLC). Dates are ISO-8601 dates or date-times (UTC). A UTF-8 BOM and
// CRLF line ends are accepted; blank lines are skipped.
//
// Every row is checked: a parseable date, finite numbers, "null" (Yahoo's missing value) refused,
// 0 < low <= open, close <= high (prices are positive), volume >= 0, times strictly increasing (a
// duplicate names both lines). The first bad row fails the whole read with "FILE:LINE: field
// 'High': …".
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "core/candle.h"
#include "core/result.h"

namespace tickgraph::ingest {

struct CsvOptions {
  // false: the first bad row fails the read. true: bad rows are skipped, and each is reported in
  // `skipped` as "FILE:LINE: reason"; header errors still fail.
  bool skip_bad_rows = false;
};

// `source` names the input in messages (usually the file path).
Result<CandleSeries> read_yahoo_csv(std::istream& in, const std::string& source,
                                    const CsvOptions& options = {},
                                    std::vector<std::string>* skipped = nullptr);
Result<CandleSeries> read_yahoo_csv_file(const std::string& path, const CsvOptions& options = {},
                                         std::vector<std::string>* skipped = nullptr);

}  // namespace tickgraph::ingest
