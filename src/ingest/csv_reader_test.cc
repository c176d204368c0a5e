#include "ingest/csv_reader.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace tickgraph::ingest {
namespace {

// Epoch seconds of the dates used below, from `date -u -d DATE +%s` (an oracle outside tickgraph).
constexpr Timestamp k2000_01_03 = 946857600 * kSecond;
constexpr Timestamp k2000_01_04 = 946944000 * kSecond;
constexpr Timestamp k2020_04_17 = 1587081600 * kSecond;

constexpr const char* kSource = "bars.csv";

Result<CandleSeries> read(const std::string& text) {
  std::istringstream in(text);
  return read_yahoo_csv(in, kSource);
}

// The reader must refuse `text`, naming the source and `line` up front and quoting `what` (the
// field or column at fault, or another detail such as the offending value).
void expect_error(const std::string& text, int line, const std::string& what) {
  auto r = read(text);
  ASSERT_FALSE(r.ok()) << "accepted:\n" << text;
  EXPECT_EQ(r.code(), StatusCode::kInvalidArgument) << r.status().to_string();
  const std::string prefix = std::string(kSource) + ":" + std::to_string(line) + ": ";
  EXPECT_EQ(r.message().rfind(prefix, 0), 0u) << "message: " << r.message();
  EXPECT_NE(r.message().find(what), std::string::npos)
      << "message lacks \"" << what << "\": " << r.message();
}

// One valid header and row in Yahoo's layout, to be followed by the row under test.
const std::string kHeader = "Date,Open,High,Low,Close,Adj Close,Volume\n";
const std::string kGoodRow = "2000-01-03,10,12,9,11,11,1000\n";

TEST(CsvReader, ReadsYahooDownloadHeader) {
  // Checks Yahoo's own header reads every bar with its date and unadjusted OHLCV values.
  auto r = read(
      "Date,Open,High,Low,Close,Adj Close,Volume\n"
      "2000-01-03,1469.25,1478.0,1438.359985,1455.219971,1455.219971,931800000\n"
      "2000-01-04,1455.219971,1455.219971,1397.430054,1399.420044,1399.420044,1009000000\n");
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(r->at(0), (Candle{k2000_01_03, 1469.25, 1478.0, 1438.359985, 1455.219971, 931800000}));
  EXPECT_EQ(r->at(1),
            (Candle{k2000_01_04, 1455.219971, 1455.219971, 1397.430054, 1399.420044, 1009000000}));
}

TEST(CsvReader, ReadsLowerCaseHeaderVariant) {
  // Checks the vega-datasets header (date,open,…,adjclose,volume) reads the same bars.
  auto upper = read(kHeader + "2000-01-03,10,12,9,11,11,1000\n2000-01-04,11,13,10,12,12,2000\n");
  auto lower = read(
      "date,open,high,low,close,adjclose,volume\n"
      "2000-01-03,10,12,9,11,11,1000\n2000-01-04,11,13,10,12,12,2000\n");
  ASSERT_TRUE(upper.ok()) << upper.message();
  ASSERT_TRUE(lower.ok()) << lower.message();
  ASSERT_EQ(lower->size(), 2u);
  EXPECT_EQ(lower->at(0), (Candle{k2000_01_03, 10, 12, 9, 11, 1000}));
  EXPECT_EQ(lower->at(1), (Candle{k2000_01_04, 11, 13, 10, 12, 2000}));
  EXPECT_EQ(lower->time, upper->time);
  EXPECT_EQ(lower->close, upper->close);
}

TEST(CsvReader, UsesCloseNotAdjClose) {
  // Checks a differing Adj Close is ignored: bars carry the unadjusted Close.
  auto r = read(kHeader + "2000-01-03,10,12,9,11,5.5,1000\n");
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->close[0], 11.0);
}

TEST(CsvReader, AcceptsHeaderWithoutAdjClose) {
  // Checks Adj Close is optional: a six-column file reads with six fields per row.
  auto r = read("Date,Open,High,Low,Close,Volume\n2000-01-03,10,12,9,11,1000\n");
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->at(0), (Candle{k2000_01_03, 10, 12, 9, 11, 1000}));
}

TEST(CsvReader, AcceptsByteOrderMarkAndCrlf) {
  // Checks a file saved by Excel on Windows (UTF-8 BOM, CRLF line ends) reads like a plain one.
  auto r = read(
      "\xEF\xBB\xBF"
      "Date,Open,High,Low,Close,Adj Close,Volume\r\n"
      "2000-01-03,10,12,9,11,11,1000\r\n"
      "2000-01-04,11,13,10,12,12,2000\r\n");
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(r->at(0), (Candle{k2000_01_03, 10, 12, 9, 11, 1000}));
  EXPECT_EQ(r->at(1), (Candle{k2000_01_04, 11, 13, 10, 12, 2000}));
}

TEST(CsvReader, SkipsBlankLinesButCountsThemInLineNumbers) {
  // Checks blank lines anywhere are skipped, and that error lines still match the editor's.
  auto r = read("\n" + kHeader + "\n2000-01-03,10,12,9,11,11,1000\n\r\n\n" +
                "2000-01-04,11,13,10,12,12,2000\n\n");
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(r->time[1], k2000_01_04);
  // Line 1 blank, 2 header, 3 blank, 4 row, 5 blank, 6 the bad row.
  expect_error("\n" + kHeader + "\n" + kGoodRow + "\n2000-01-04,11,13,10,abc,12,2000\n", 6,
               "'Close'");
}

TEST(CsvReader, ReadsIntradayDateTimes) {
  // Checks intraday bars keep their time of day, in every accepted date-time spelling.
  auto r = read(kHeader +
                "2020-04-17T13:30:00Z,10,12,9,11,11,1000\n"
                "2020-04-17 13:31:00,10,12,9,11,11,1000\n"
                "2020-04-17T15:32:00+02:00,10,12,9,11,11,1000\n"
                "2020-04-17T13:33:00.5Z,10,12,9,11,11,1000\n");
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->size(), 4u);
  const Timestamp open = k2020_04_17 + 13 * kHour + 30 * kMinute;
  EXPECT_EQ(r->time[0], open);
  EXPECT_EQ(r->time[1], open + kMinute);
  EXPECT_EQ(r->time[2], open + 2 * kMinute);
  EXPECT_EQ(r->time[3], open + 3 * kMinute + 500 * kMillisecond);
}

TEST(CsvReader, HeaderOnlyGivesZeroBars) {
  // Checks a file with a header and no rows is valid and empty (a new listing, say).
  for (const std::string& text :
       {kHeader, kHeader + "\n\n", std::string("Date,Open,High,Low,Close,Volume")}) {
    auto r = read(text);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_TRUE(r->empty());
  }
}

TEST(CsvReader, RefusesEmptyFile) {
  // Checks a file with no header at all is an error naming the source.
  for (const std::string& text :
       {std::string(), std::string("\n\n"), std::string("\xEF\xBB\xBF")}) {
    auto r = read(text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.message().rfind(std::string(kSource) + ":", 0), 0u) << r.message();
    EXPECT_NE(r.message().find("empty"), std::string::npos) << r.message();
  }
}

TEST(CsvReader, RefusesBadDate) {
  // Checks unparseable or impossible dates are refused, naming the Date field and the text.
  for (const std::string date : {"2000-13-01", "2000-02-30", "03/01/2000", "yesterday", ""}) {
    SCOPED_TRACE(date);
    expect_error(kHeader + kGoodRow + date + ",11,13,10,12,12,2000\n", 3, "'Date'");
    if (!date.empty()) {
      expect_error(kHeader + kGoodRow + date + ",11,13,10,12,12,2000\n", 3, date);
    }
  }
}

TEST(CsvReader, RefusesNonNumericFields) {
  // Checks text, trailing junk and non-finite values in a numeric field name that field and value.
  for (const std::string bad : {"abc", "12x", "1.2.3", "0x10", "inf", "nan", "1e999"}) {
    SCOPED_TRACE(bad);
    expect_error(kHeader + "2000-01-03," + bad + ",12,9,11,11,1000\n", 2, "'Open'");
    expect_error(kHeader + "2000-01-03,10," + bad + ",9,11,11,1000\n", 2, "'High'");
    expect_error(kHeader + "2000-01-03,10,12," + bad + ",11,11,1000\n", 2, "'Low'");
    expect_error(kHeader + "2000-01-03,10,12,9," + bad + ",11,1000\n", 2, "'Close'");
    expect_error(kHeader + "2000-01-03,10,12,9,11,11," + bad + "\n", 2, "'Volume'");
    expect_error(kHeader + "2000-01-03,10,12,9,11,11," + bad + "\n", 2, "'" + bad + "'");
  }
}

TEST(CsvReader, RefusesYahooNullField) {
  // Checks Yahoo's "null" placeholder for a missing value is refused, naming field and "null".
  expect_error(kHeader + kGoodRow + "2000-01-04,null,13,10,12,12,2000\n", 3, "'Open'");
  expect_error(kHeader + kGoodRow + "2000-01-04,null,13,10,12,12,2000\n", 3, "null");
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,12,12,null\n", 3, "'Volume'");
  expect_error(kHeader + kGoodRow + "2000-01-04,null,null,null,null,null,null\n", 3, "null");
}

TEST(CsvReader, RefusesEmptyField) {
  // Checks an empty numeric field is refused, naming the field and saying it is empty.
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,,12,2000\n", 3, "'Close'");
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,,12,2000\n", 3, "empty");
  expect_error(kHeader + kGoodRow + "2000-01-04,11,,10,12,12,2000\n", 3, "'High'");
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,12,12,\n", 3, "'Volume'");
}

TEST(CsvReader, RefusesHighBelowLow) {
  // Checks a bar whose high is under its low is refused, naming High and both values.
  expect_error(kHeader + kGoodRow + "2000-01-04,11,9.5,10,10,10,2000\n", 3, "'High'");
  expect_error(kHeader + kGoodRow + "2000-01-04,11,9.5,10,10,10,2000\n", 3, "9.5");
}

TEST(CsvReader, RefusesOpenOrCloseOutsideRange) {
  // Checks open and close must lie within [low, high], each violation naming its own field.
  expect_error(kHeader + kGoodRow + "2000-01-04,13.5,13,10,12,12,2000\n", 3, "'Open'");
  expect_error(kHeader + kGoodRow + "2000-01-04,9.5,13,10,12,12,2000\n", 3, "'Open'");
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,13.25,12,2000\n", 3, "'Close'");
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,9.75,12,2000\n", 3, "'Close'");
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,9.75,12,2000\n", 3, "9.75");
  // The bounds themselves are inside.
  auto r = read(kHeader + "2000-01-03,9,12,9,12,12,0\n");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->volume[0], 0.0);
}

TEST(CsvReader, RefusesNegativeVolume) {
  // Checks a negative volume is refused, naming Volume and the value.
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,12,12,-5\n", 3, "'Volume'");
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,12,12,-5\n", 3, "-5");
}

TEST(CsvReader, RefusesDuplicateDateNamingBothLines) {
  // Checks a repeated date is refused at the second row, and that the message cites the first.
  const std::string text = kHeader + kGoodRow + "2000-01-04,11,13,10,12,12,2000\n\n" +
                           "2000-01-04,11,13,10,12,12,2000\n";
  expect_error(text, 5, "'Date'");
  expect_error(text, 5, "line 3");
  expect_error(text, 5, "2000-01-04");
}

TEST(CsvReader, RefusesDecreasingDates) {
  // Checks rows going back in time are refused, naming the Date and the previous row's line.
  const std::string text =
      kHeader + "2000-01-04,11,13,10,12,12,2000\n" + "2000-01-03,10,12,9,11,11,1000\n";
  expect_error(text, 3, "'Date'");
  expect_error(text, 3, "line 2");
  // Intraday: a minute earlier on the same day counts too.
  expect_error(
      kHeader + "2020-04-17T13:31:00Z,10,12,9,11,11,1\n" + "2020-04-17T13:30:00Z,10,12,9,11,11,1\n",
      3, "'Date'");
}

TEST(CsvReader, RefusesUnknownHeaderColumn) {
  // Checks a header with a column we do not know is refused on line 1, quoting the column.
  expect_error("Date,Open,High,Low,Close,Adj Close,Volume,Dividends\n" + kGoodRow, 1,
               "'Dividends'");
  expect_error("Datum,Open,High,Low,Close,Volume\n", 1, "'Datum'");
}

TEST(CsvReader, RefusesHeaderMissingColumn) {
  // Checks each required column's absence is refused on line 1, naming the missing column.
  expect_error("Date,Open,High,Low,Close,Adj Close\n", 1, "'Volume'");
  expect_error("Date,Open,Low,Close,Adj Close,Volume\n", 1, "'High'");
  expect_error("Open,High,Low,Close,Adj Close,Volume\n", 1, "'Date'");
}

TEST(CsvReader, RefusesDuplicatedHeaderColumn) {
  // Checks a column given twice (even spelled differently) is refused, naming it.
  expect_error("Date,Open,High,Low,Close,Close,Volume\n", 1, "'Close'");
  expect_error("Date,Open,High,Low,Close,Adj Close,adjclose,Volume\n", 1, "'Adj Close'");
}

TEST(CsvReader, RefusesWrongFieldCount) {
  // Checks a row with too few or too many fields is refused, giving both counts.
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,12,2000\n", 3, "found 6");
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,12,12,2000,7\n", 3, "found 8");
  expect_error(kHeader + kGoodRow + "2000-01-04,11,13,10,12,12,2000,7\n", 3, "expected 7");
}

TEST(CsvReader, StopsAtFirstBadRow) {
  // Checks the error names the first bad row, not a later one.
  expect_error(
      kHeader + kGoodRow + "2000-01-04,x,13,10,12,12,2000\n" + "2000-01-05,11,13,10,12,12,-1\n", 3,
      "'Open'");
}

TEST(CsvReader, FileReaderNamesThePath) {
  // Checks reading from disk uses the path as the source, and a missing file is an error naming it.
  const std::string path = testing::TempDir() + "csv_reader_test_bad.csv";
  {
    std::ofstream out(path, std::ios::binary);
    out << kHeader << kGoodRow << "2000-01-04,11,13,10,12,12,-3\n";
  }
  auto bad = read_yahoo_csv_file(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message().rfind(path + ":3: ", 0), 0u) << bad.message();
  EXPECT_NE(bad.message().find("'Volume'"), std::string::npos) << bad.message();
  {
    std::ofstream out(path, std::ios::binary);
    out << kHeader << kGoodRow;
  }
  auto good = read_yahoo_csv_file(path);
  ASSERT_TRUE(good.ok()) << good.message();
  EXPECT_EQ(good->size(), 1u);
  std::remove(path.c_str());

  const std::string missing = testing::TempDir() + "csv_reader_test_no_such_file.csv";
  auto r = read_yahoo_csv_file(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), StatusCode::kNotFound);
  EXPECT_NE(r.message().find(missing), std::string::npos) << r.message();
}

TEST(CsvReaderSkip, SkipsEveryBadRowAndReportsEachWithItsLine) {
  // Checks --on-error skip: good rows are kept in order, every bad row is named with its line and
  // reason, and a header problem still fails the read.
  std::istringstream in(
      "Date,Open,High,Low,Close,Adj Close,Volume\n"
      "2020-01-02,10,11,9,10.5,10.5,100\n"
      "2020-01-03,10,abc,9,10.5,10.5,100\n"  // line 3: not a number
      "2020-01-06,10,11,9,10.5,10.5,100\n"
      "2020-01-06,10,11,9,10.5,10.5,100\n"  // line 5: duplicate of line 4
      "2020-01-07,10,8,9,10.5,10.5,100\n"   // line 6: high below low
      "2020-01-08,10,11,9,10.5,10.5,200\n");
  std::vector<std::string> skipped;
  auto r = read_yahoo_csv(in, "bars.csv", {.skip_bad_rows = true}, &skipped);
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(r->volume.back(), 200);
  ASSERT_EQ(skipped.size(), 3u);
  EXPECT_NE(skipped[0].find("bars.csv:3: field 'High': 'abc' is not a number"), std::string::npos)
      << skipped[0];
  EXPECT_NE(skipped[1].find("bars.csv:5: field 'Date'"), std::string::npos) << skipped[1];
  EXPECT_NE(skipped[1].find("line 4"), std::string::npos) << skipped[1];
  EXPECT_NE(skipped[2].find("bars.csv:6: field 'High'"), std::string::npos) << skipped[2];

  std::istringstream bad_header("Date,Open,High,Low,Close,Volume,Extra\n2020-01-02,1,1,1,1,1,1\n");
  EXPECT_FALSE(read_yahoo_csv(bad_header, "bars.csv", {.skip_bad_rows = true}, &skipped).ok());
}

}  // namespace
}  // namespace tickgraph::ingest
