// The fast JSON writers against protobuf itself: what candles_json / analytics_json print must
// parse, with protobuf's own JSON parser, into exactly the message that to_proto builds.
#include "server/convert.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace tickgraph::server {
namespace {

CandleSeries random_series(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> price(0.0001, 1e6);
  CandleSeries s;
  Timestamp t = -5 * kDay;  // negative times too
  for (std::size_t i = 0; i < n; ++i) {
    t += kDay;
    const double a = price(rng);
    const double b = price(rng);
    s.push_back({t, a, std::max(a, b) * 1.5, std::min(a, b) / 3, b, std::floor(price(rng) * 1e4)});
  }
  return s;
}

template <class Message>
Message parse(const std::string& json) {
  Message m;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(status.ok()) << status.message() << "\n" << json.substr(0, 400);
  return m;
}

TEST(ConvertTest, CandlesJsonParsesToTheSameMessageAsToProto) {
  for (const std::size_t n : {0u, 1u, 7u, 1000u}) {
    const CandleSeries s = random_series(n, n + 1);
    v1::CandleSeries expected;
    to_proto("BRK.B", Interval::k1d, s, expected);
    const auto got = parse<v1::CandleSeries>(candles_json("BRK.B", Interval::k1d, s));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(expected, got)) << n;
    // And protobuf's own printing parses back to the same message (the writer and the mapping
    // agree on names and types).
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        expected, parse<v1::CandleSeries>(to_json(expected))));
  }
}

TEST(ConvertTest, UpdateJsonParsesToTheSameMessageAsProtobufBuilds) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> price(0.0001, 1e6);
  const double nan = std::nan("");
  const double inf = std::numeric_limits<double>::infinity();
  for (int i = 0; i < 200; ++i) {
    const Candle bar{(i - 100) * kMinute + i,
                     price(rng),
                     price(rng),
                     price(rng),
                     price(rng),
                     i % 3 == 0 ? 0.0 : std::floor(price(rng))};
    const bool final = i % 2 == 0;
    const std::string graph = i % 4 == 0 ? "" : "de\"mo\\";
    std::vector<std::string> names = {"bb.upper", "rsi", "with \"quote\"\n"};
    std::vector<double> numbers = {price(rng), i % 5 == 0 ? nan : -price(rng),
                                   i % 7 == 0 ? inf : 0.1 + 0.2};
    std::vector<NamedValue> values;
    if (!graph.empty()) {
      for (std::size_t c = 0; c < names.size(); ++c) values.push_back({names[c], numbers[c]});
    }
    const Timestamp server_time = 1'700'000'000'000'000'000 + i;
    v1::StreamMessage expected;
    v1::Update& u = *expected.mutable_update();
    u.set_symbol("BRK.B");
    u.set_interval(to_proto(Interval::k1s));
    to_proto(bar, *u.mutable_candle());
    u.set_final(final);
    u.set_graph(graph);
    u.set_server_time(server_time);
    for (const NamedValue& v : values) {
      google::protobuf::Value value;
      if (std::isfinite(v.value)) {
        value.set_number_value(v.value);
      } else {
        value.set_null_value(google::protobuf::NULL_VALUE);
      }
      (*u.mutable_values())[std::string(v.name)] = value;
    }
    const std::string json =
        update_json("BRK.B", Interval::k1s, bar, final, graph, values, server_time);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(expected,
                                                                   parse<v1::StreamMessage>(json)))
        << json;
  }
  // Every field is printed, defaults included, as to_json() prints them.
  const std::string quiet =
      update_json("SPX", Interval::k1m, Candle{0, 1, 1, 1, 1, 0}, false, "", {}, 0);
  for (const char* field : {"\"final\":false", "\"graph\":\"\"", "\"values\":{}", "\"volume\":0",
                            "\"time\":\"0\"", "\"serverTime\":\"0\""}) {
    EXPECT_NE(quiet.find(field), std::string::npos) << field << " in " << quiet;
  }
}

TEST(ConvertTest, AnalyticsJsonWritesNullForNaNAndInfinity) {
  const std::vector<Timestamp> ts = {1, 2, 3, 4};
  const std::vector<double> a = {std::nan(""), 0.1 + 0.2, -1e-300, 1e300};
  const std::vector<double> b = {std::numeric_limits<double>::infinity(), 2, 3, 4};
  const std::vector<NamedColumn> columns = {{"bb.upper", a}, {"rsi", b}};
  const std::string json = analytics_json("SPX", Interval::k1m, "de\"mo", 3, ts, columns);
  const auto got = parse<v1::AnalyticsResult>(json);
  v1::AnalyticsResult expected;
  expected.set_symbol("SPX");
  expected.set_interval(v1::INTERVAL_1M);
  expected.set_graph("de\"mo");
  expected.set_version(3);
  expected.mutable_ts()->Add(ts.begin(), ts.end());
  to_proto("bb.upper", a, *expected.add_series());
  to_proto("rsi", b, *expected.add_series());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(expected, got)) << json;
  EXPECT_EQ(got.series(0).values().values(0).kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(got.series(1).values().values(0).kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(got.series(0).values().values(1).number_value(), 0.1 + 0.2);  // round trip exact
}

TEST(ConvertTest, GraphSpecRoundTripsThroughTheContract) {
  v1::GraphSpec in;
  in.set_name("g");
  auto* node = in.add_nodes();
  node->set_id("sma20");
  node->set_fn("sma");
  node->add_inputs("close");
  (*node->mutable_params())["period"].set_number_value(20);
  (*node->mutable_params())["window"].set_string_value("5m");
  auto spec = from_proto(in, "body");
  ASSERT_TRUE(spec.ok()) << spec.message();
  ASSERT_EQ(spec->nodes.size(), 1u);
  ASSERT_EQ(spec->nodes[0].params.size(), 2u);
  EXPECT_EQ(spec->nodes[0].params[0].name, "period");  // name order
  EXPECT_EQ(spec->nodes[0].params[0].text, "20");
  EXPECT_EQ(spec->nodes[0].params[1].text, "5m");
  v1::GraphSpec back;
  to_proto(*spec, back);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(in, back));

  (*node->mutable_params())["period"].set_bool_value(true);
  auto bad = from_proto(in, "body");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("nodes[0] ('sma20'): parameter 'period'"), std::string::npos)
      << bad.message();
}

TEST(ConvertTest, FromJsonNamesTheMessageAndTheProblem) {
  v1::TickBatch batch;
  const Status s = from_json(R"({"ticks": [{"price": "abc"}]})", batch, "request body");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("request body is not a valid tickgraph.v1.TickBatch"),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(
      from_json(R"({"ticks": [{"symbol": "A", "time": "5", "price": 1}]})", batch, "b").ok());
  EXPECT_EQ(batch.ticks(0).time(), 5);
}

TEST(ConvertTest, IntervalsMapBothWays) {
  for (const Interval i : kAllIntervals) {
    auto back = from_proto(to_proto(i), "interval");
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, i);
  }
  EXPECT_FALSE(from_proto(v1::INTERVAL_UNSPECIFIED, "interval").ok());
}

TEST(ConvertTest, FunctionsGiveEachOutputItsUnit) {
  // Checks /v1/functions' message for registry functions: one FunctionOutput per output, named
  // as in `outputs` (empty for a single output), with the input followed or the range, and the
  // optional fields absent from the JSON where they do not apply.
  auto function = [](const char* name) {
    v1::Function f;
    const analytics::FunctionSpec* spec = analytics::registry().find(name);
    EXPECT_NE(spec, nullptr) << name;
    if (spec) to_proto(*spec, f);
    return f;
  };
  const v1::Function macd = function("macd");
  ASSERT_EQ(macd.output_units_size(), 3);
  EXPECT_EQ(macd.output_units(2).name(), "hist");
  EXPECT_EQ(macd.output_units(2).unit(), v1::UNIT_SAME_UNITS_AS_INPUT);
  EXPECT_TRUE(macd.output_units(2).has_input());
  EXPECT_EQ(macd.output_units(2).input(), 0);
  EXPECT_FALSE(macd.output_units(2).has_min());

  const v1::Function vwap = function("vwap");
  ASSERT_EQ(vwap.output_units_size(), 1);
  EXPECT_EQ(vwap.output_units(0).name(), "");
  EXPECT_EQ(vwap.output_units(0).unit(), v1::UNIT_SAME_AS_INPUT);
  EXPECT_EQ(vwap.inputs(vwap.output_units(0).input()), "close");

  const v1::Function willr = function("willr");
  ASSERT_EQ(willr.output_units_size(), 1);
  EXPECT_EQ(willr.output_units(0).unit(), v1::UNIT_BOUNDED);
  EXPECT_FALSE(willr.output_units(0).has_input());
  EXPECT_EQ(willr.output_units(0).min(), -100);
  EXPECT_EQ(willr.output_units(0).max(), 0);
  EXPECT_NE(to_json(willr).find(
                R"("outputUnits":[{"name":"","unit":"UNIT_BOUNDED","min":-100,"max":0}])"),
            std::string::npos)
      << to_json(willr);

  const v1::Function zscore = function("zscore");
  EXPECT_NE(to_json(zscore).find(R"("outputUnits":[{"name":"","unit":"UNIT_UNBOUNDED"}])"),
            std::string::npos)
      << to_json(zscore);

  for (const analytics::FunctionSpec& spec : analytics::registry().all()) {
    v1::Function f;
    to_proto(spec, f);
    ASSERT_EQ(static_cast<std::size_t>(f.output_units_size()), spec.output_count()) << spec.name;
    for (const v1::FunctionOutput& o : f.output_units()) {
      EXPECT_NE(o.unit(), v1::UNIT_UNSPECIFIED) << spec.name;
    }
  }
}

}  // namespace
}  // namespace tickgraph::server
