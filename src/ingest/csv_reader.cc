#include "ingest/csv_reader.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <string_view>
#include <vector>

#include "core/time.h"

namespace tickgraph::ingest {

namespace {

enum Column { kDate, kOpen, kHigh, kLow, kClose, kAdjClose, kVolume, kColumnCount };
constexpr std::array<std::string_view, kColumnCount> kDisplay = {
    "Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"};

std::string lower_no_space(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '_') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

int column_of(std::string_view name) {
  const std::string n = lower_no_space(name);
  static constexpr std::array<std::string_view, kColumnCount> kNames = {
      "date", "open", "high", "low", "close", "adjclose", "volume"};
  for (int i = 0; i < kColumnCount; ++i) {
    if (kNames[static_cast<std::size_t>(i)] == n) return i;
  }
  return -1;
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = line.find(',', start);
    out.push_back(line.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '"')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<CandleSeries> read_yahoo_csv(std::istream& in, const std::string& source,
                                    const CsvOptions& options, std::vector<std::string>* skipped) {
  CandleSeries out;
  std::string line;
  std::size_t line_no = 0;
  std::array<int, kColumnCount> index{};
  index.fill(-1);
  std::size_t header_fields = 0;
  bool have_header = false;
  std::size_t previous_line = 0;
  auto fail = [&](const std::string& message) {
    return Status::invalid_argument(source + ":" + std::to_string(line_no) + ": " + message);
  };

  // Checks one data row; the message names the field (the caller adds file and line).
  auto parse_row = [&](const std::vector<std::string_view>& fields, Candle& bar) -> Status {
    if (fields.size() != header_fields) {
      return Status::invalid_argument("expected " + std::to_string(header_fields) +
                                      " fields, found " + std::to_string(fields.size()));
    }
    auto field = [&](int c) {
      return trim(fields[static_cast<std::size_t>(index[static_cast<std::size_t>(c)])]);
    };
    auto t = parse_timestamp(field(kDate));
    if (!t) return Status::invalid_argument("field 'Date': " + t.message());
    bar.time = *t;
    auto number = [&](int c, double& v) -> Status {
      const std::string_view text = field(c);
      const std::string name(kDisplay[static_cast<std::size_t>(c)]);
      if (text.empty() || text == "null") {
        return Status::invalid_argument("field '" + name + "' is " +
                                        (text.empty() ? "empty" : "null"));
      }
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v)) {
        return Status::invalid_argument("field '" + name + "': '" + std::string(text) +
                                        "' is not a number");
      }
      return {};
    };
    for (auto [c, v] :
         {std::pair{kOpen, &bar.open}, std::pair{kHigh, &bar.high}, std::pair{kLow, &bar.low},
          std::pair{kClose, &bar.close}, std::pair{kVolume, &bar.volume}}) {
      if (Status s = number(c, *v); !s.ok()) return Status::invalid_argument(s.message());
    }
    if (bar.high < bar.low) {
      return Status::invalid_argument("field 'High': " + std::string(field(kHigh)) +
                                      " is below Low " + std::string(field(kLow)));
    }
    if (bar.open < bar.low || bar.open > bar.high) {
      return Status::invalid_argument("field 'Open': " + std::string(field(kOpen)) +
                                      " is outside [Low, High]");
    }
    if (bar.close < bar.low || bar.close > bar.high) {
      return Status::invalid_argument("field 'Close': " + std::string(field(kClose)) +
                                      " is outside [Low, High]");
    }
    if (bar.low <= 0) return Status::invalid_argument("field 'Low': prices must be positive");
    if (bar.volume < 0)
      return Status::invalid_argument("field 'Volume': " + std::string(field(kVolume)) +
                                      " is negative");
    if (!out.empty() && bar.time <= out.time.back()) {
      return Status::invalid_argument(
          "field 'Date': " + std::string(field(kDate)) +
          (bar.time == out.time.back()
               ? " repeats the date of line " + std::to_string(previous_line)
               : " is earlier than line " + std::to_string(previous_line) +
                     " (rows must be in increasing time)"));
    }
    return {};
  };

  while (std::getline(in, line)) {
    ++line_no;
    std::string_view view = line;
    if (line_no == 1 && view.substr(0, 3) == "\xEF\xBB\xBF") view.remove_prefix(3);
    if (!view.empty() && view.back() == '\r') view.remove_suffix(1);
    if (trim(view).empty()) continue;
    const auto fields = split(view);
    if (!have_header) {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        const int c = column_of(trim(fields[i]));
        if (c < 0) {
          return fail("unexpected column '" + std::string(trim(fields[i])) +
                      "' in header (expected Date,Open,High,Low,Close,Adj Close,Volume)");
        }
        if (index[static_cast<std::size_t>(c)] >= 0) {
          return fail("column '" + std::string(kDisplay[static_cast<std::size_t>(c)]) +
                      "' appears twice in header");
        }
        index[static_cast<std::size_t>(c)] = static_cast<int>(i);
      }
      for (int c : {kDate, kOpen, kHigh, kLow, kClose, kVolume}) {
        if (index[static_cast<std::size_t>(c)] < 0) {
          return fail("header lacks column '" + std::string(kDisplay[static_cast<std::size_t>(c)]) +
                      "' (expected Date,Open,High,Low,Close,Adj Close,Volume)");
        }
      }
      header_fields = fields.size();
      have_header = true;
      continue;
    }
    Candle bar;
    if (Status s = parse_row(fields, bar); !s.ok()) {
      if (!options.skip_bad_rows) return fail(s.message());
      if (skipped) skipped->push_back(source + ":" + std::to_string(line_no) + ": " + s.message());
      continue;
    }
    previous_line = line_no;
    out.push_back(bar);
  }
  if (!have_header) {
    return Status::invalid_argument(source + ": file is empty (expected a CSV header)");
  }
  return out;
}

Result<CandleSeries> read_yahoo_csv_file(const std::string& path, const CsvOptions& options,
                                         std::vector<std::string>* skipped) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found(path + ": cannot open file");
  return read_yahoo_csv(in, path, options, skipped);
}

}  // namespace tickgraph::ingest
