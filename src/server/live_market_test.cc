// The live market against a real SQLite store: ingest checks and storage, bars formed and closed
// from ticks (expected OHLCV worked out by hand from the ticks), restart, and the streams: the
// snapshot, provisional and final updates, subscription errors, and the core promise that the
// values pushed live equal the pull executor run over the stored bars, bit for bit.
#include "server/live_market.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "core/metrics.h"
#include "graph/compiled_graph.h"
#include "graph/pull_executor.h"
#include "graph/spec.h"
#include "store/store.h"
#include "tickgraph/v1/service.pb.h"
#include "tickgraph/v1/stream.pb.h"

namespace tickgraph {
// Readable failure messages for bars.
static void PrintTo(const Candle& c, std::ostream* os) {
  *os << "{t=" << c.time << " o=" << c.open << " h=" << c.high << " l=" << c.low << " c=" << c.close
      << " v=" << c.volume << "}";
}
}  // namespace tickgraph

namespace tickgraph::server {
namespace {

constexpr Timestamp kT0 = Timestamp{1'699'920'000} * kSecond;  // a UTC midnight (a Tuesday)
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The time `ms` milliseconds into minute `minute` after kT0.
Timestamp at(int minute, int ms) { return kT0 + minute * kMinute + ms * kMillisecond; }
Timestamp minute_start(int minute) { return at(minute, 0); }

LiveOptions minute_bars() {
  LiveOptions o;
  o.intervals = {Interval::k1m};
  return o;
}

// The bar of `ticks` (in arrival order), stamped `time`, by the aggregation rules: open is the
// price of the earliest tick, close of the latest (ties: first arrival opens, last arrival closes).
Candle ohlcv(Timestamp time, const std::vector<Tick>& ticks) {
  Candle c{
      time, 0, -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
      0,    0};
  Timestamp first = std::numeric_limits<Timestamp>::max();
  Timestamp last = std::numeric_limits<Timestamp>::min();
  for (const Tick& t : ticks) {
    if (t.time < first) {
      first = t.time;
      c.open = t.price;
    }
    if (t.time >= last) {
      last = t.time;
      c.close = t.price;
    }
    c.high = std::max(c.high, t.price);
    c.low = std::min(c.low, t.price);
    c.volume += t.size;
  }
  return c;
}

std::vector<Candle> rows(const CandleSeries& s) {
  std::vector<Candle> out;
  for (std::size_t i = 0; i < s.size(); ++i) out.push_back(s.at(i));
  return out;
}

bool same_bits(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

double number(const google::protobuf::Value& v) {
  return v.kind_case() == google::protobuf::Value::kNumberValue ? v.number_value() : kNaN;
}

Candle candle_of(const v1::Candle& c) {
  return {c.time(), c.open(), c.high(), c.low(), c.close(), c.volume()};
}

// Everything queued on a client, parsed; the client must be open.
std::vector<v1::StreamMessage> drain(StreamClient& client) {
  const auto batch = client.take();
  EXPECT_FALSE(batch.closed.has_value()) << *batch.closed;
  std::vector<v1::StreamMessage> out;
  for (const auto& text : batch.messages) {
    v1::StreamMessage m;
    const auto status = google::protobuf::util::JsonStringToMessage(*text, &m);
    EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << *text;
    out.push_back(std::move(m));
  }
  return out;
}

std::map<std::string, double> values_of(const v1::Update& u) {
  std::map<std::string, double> out;
  for (const auto& [name, v] : u.values()) out[name] = number(v);
  return out;
}

class LiveMarketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (std::filesystem::temp_directory_path() / "tickgraph-live-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    auto opened = store::open_store("sqlite:" + dir_ + "/live.db");
    ASSERT_TRUE(opened.ok()) << opened.message();
    store_ = std::move(opened).value();
    aaa_ = add_asset("AAA");
    bbb_ = add_asset("BBB");
  }

  void TearDown() override {
    market_.reset();
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::int64_t add_asset(const std::string& symbol) {
    Asset a;
    a.symbol = symbol;
    a.name = symbol + " test asset";
    auto stored = store_->upsert_asset(a);
    EXPECT_TRUE(stored.ok()) << stored.message();
    return stored.ok() ? stored->id : 0;
  }

  void put_graph(const std::string& name, const std::string& yaml) {
    auto put = store_->put_graph(name, yaml);
    ASSERT_TRUE(put.ok()) << put.message();
  }

  // A fresh LiveMarket on the fixture's store (replacing the previous one: a restart).
  LiveMarket& start(LiveOptions options = minute_bars()) {
    market_.reset();
    market_ = std::make_unique<LiveMarket>(*store_, metrics_, std::move(options));
    return *market_;
  }

  IngestCounts ingest(const std::vector<TickInput>& ticks) {
    auto r = market_->ingest(ticks, "test");
    if (!r) {
      ADD_FAILURE() << "ingest refused: " << r.status().to_string();
      return {};
    }
    return *r;
  }

  std::vector<Candle> stored_bars(std::int64_t asset, Interval interval = Interval::k1m) {
    auto bars = store_->read_candles(asset, interval, {});
    EXPECT_TRUE(bars.ok()) << bars.message();
    return bars.ok() ? rows(*bars) : std::vector<Candle>{};
  }

  std::vector<store::StoredTick> stored_ticks(std::int64_t asset) {
    auto ticks = store_->read_ticks(asset, {});
    EXPECT_TRUE(ticks.ok()) << ticks.message();
    if (!ticks.ok()) return {};
    auto out = *ticks;
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return a.time != b.time ? a.time < b.time : a.seq < b.seq;
    });
    return out;
  }

  std::shared_ptr<StreamClient> subscribed(const SubscribeRequest& request) {
    auto client = market_->connect({});
    const Status error = market_->subscribe(client, request);
    EXPECT_TRUE(error.ok()) << error.to_string();
    return client;
  }

  std::string dir_;
  Metrics metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<LiveMarket> market_;
  std::int64_t aaa_ = 0;
  std::int64_t bbb_ = 0;
};

// --- ingest ---------------------------------------------------------------------------------

TEST_F(LiveMarketTest, BadTickRefusesTheWholeBatchNamingItsField) {
  // Checks that a batch with one bad tick (price not finite or <= 0, size not finite or < 0,
  // empty or unknown symbol, time not after the epoch or more than an hour ahead) is refused with a
  // 400 naming ticks[i].field, and that nothing of the batch is stored or applied, not even its
  // good ticks.
  LiveMarket& m = start(LiveOptions{});
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    TickInput bad;
    std::string field;
  };
  const std::vector<Case> cases = {
      {{"AAA", {at(0, 500), 0, 1}}, "ticks[1].price"},
      {{"AAA", {at(0, 500), -2.5, 1}}, "ticks[1].price"},
      {{"AAA", {at(0, 500), kNaN, 1}}, "ticks[1].price"},
      {{"AAA", {at(0, 500), inf, 1}}, "ticks[1].price"},
      {{"AAA", {at(0, 500), 100, -1}}, "ticks[1].size"},
      {{"AAA", {at(0, 500), 100, kNaN}}, "ticks[1].size"},
      {{"AAA", {at(0, 500), 100, inf}}, "ticks[1].size"},
      {{"", {at(0, 500), 100, 1}}, "ticks[1].symbol"},
      {{"ZZZ", {at(0, 500), 100, 1}}, "ticks[1].symbol"},
      {{"AAA", {0, 100, 1}}, "ticks[1].time"},
      {{"AAA", {std::numeric_limits<Timestamp>::min(), 100, 1}}, "ticks[1].time"},
      {{"AAA", {std::numeric_limits<Timestamp>::max(), 100, 1}}, "ticks[1].time"},
      // A day ahead of the wall clock: it would open bars the clock never closes.
      {{"AAA",
        {std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
                 .count() +
             kDay,
         100, 1}},
       "ticks[1].time"},
  };
  for (const Case& c : cases) {
    const std::vector<TickInput> batch = {
        {"AAA", {at(0, 100), 100, 1}}, c.bad, {"BBB", {at(0, 900), 50, 2}}};
    const auto r = m.ingest(batch, "test");
    ASSERT_FALSE(r.ok()) << c.field;
    const Status e = r.status();
    EXPECT_EQ(e.code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(e.detail("field"), c.field) << e.to_string();
    EXPECT_NE(e.message().find(c.field), std::string::npos) << "the message names the field";
  }
  EXPECT_TRUE(stored_ticks(aaa_).empty());
  EXPECT_TRUE(stored_ticks(bbb_).empty());
  EXPECT_FALSE(m.forming("AAA", Interval::k1m).has_value());
  EXPECT_FALSE(m.forming("BBB", Interval::k1m).has_value());

  // The error names the index of the bad tick, not the first tick of its asset.
  const std::vector<TickInput> later = {{"AAA", {at(0, 100), 100, 1}},
                                        {"BBB", {at(0, 200), 50, 1}},
                                        {"AAA", {at(0, 300), 100, 1}},
                                        {"BBB", {at(0, 400), 0, 1}}};
  const auto r = m.ingest(later, "test");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().detail("field"), "ticks[3].price");
}

TEST_F(LiveMarketTest, TicksAreStoredAndARetriedBatchIsNotAppliedTwice) {
  // Checks that accepted ticks are in the store (ticks with equal times kept apart), and that
  // sending the same batch again is reported unchanged and does not add to the bar's volume.
  LiveMarket& m = start();
  const std::vector<TickInput> batch = {{"AAA", {at(0, 1000), 100.5, 2}},
                                        {"BBB", {at(0, 2000), 50.25, 4}},
                                        {"AAA", {at(0, 1000), 100.75, 1}},
                                        {"AAA", {at(0, 5000), 100.125, 3}}};
  const IngestCounts first = ingest(batch);
  EXPECT_EQ(first.accepted, 4);
  EXPECT_EQ(first.late, 0);
  EXPECT_EQ(first.unchanged, 0);

  const auto ticks = stored_ticks(aaa_);
  ASSERT_EQ(ticks.size(), 3u);
  EXPECT_EQ(ticks[0].time, at(0, 1000));
  EXPECT_EQ(ticks[0].price, 100.5);
  EXPECT_EQ(ticks[0].size, 2);
  EXPECT_EQ(ticks[1].time, at(0, 1000));
  EXPECT_EQ(ticks[1].price, 100.75);
  EXPECT_EQ(ticks[1].size, 1);
  EXPECT_EQ(ticks[2].time, at(0, 5000));
  EXPECT_EQ(ticks[2].price, 100.125);
  ASSERT_EQ(stored_ticks(bbb_).size(), 1u);
  EXPECT_EQ(stored_ticks(bbb_)[0].price, 50.25);

  // open: first arrival at the earliest time; close: the latest time.
  const Candle expected{minute_start(0), 100.5, 100.75, 100.125, 100.125, 6};
  EXPECT_EQ(m.forming("AAA", Interval::k1m), expected);

  const IngestCounts retry = ingest(batch);
  EXPECT_EQ(retry.unchanged, 4);
  EXPECT_EQ(retry.accepted, 0);
  EXPECT_EQ(stored_ticks(aaa_).size(), 3u);
  EXPECT_EQ(m.forming("AAA", Interval::k1m), expected);
  EXPECT_EQ(m.forming("BBB", Interval::k1m),
            (Candle{minute_start(0), 50.25, 50.25, 50.25, 50.25, 4}));

  m.advance_clock(minute_start(1));
  EXPECT_EQ(stored_bars(aaa_), std::vector<Candle>{expected});
}

TEST_F(LiveMarketTest, TicksWithEqualTimesInSeparateBatchesAreAllStored) {
  // Checks that two different trades at the same time, sent in two batches, are both kept in the
  // store, as both were acknowledged and both count in the bar.
  LiveMarket& m = start();
  EXPECT_EQ(ingest({{"AAA", {at(0, 1000), 100, 1}}}).accepted, 1);
  EXPECT_EQ(ingest({{"AAA", {at(0, 1000), 101, 2}}}).accepted, 1);
  EXPECT_EQ(m.forming("AAA", Interval::k1m), (Candle{minute_start(0), 100, 101, 100, 101, 3}));
  const auto ticks = stored_ticks(aaa_);
  ASSERT_EQ(ticks.size(), 2u) << "an acknowledged tick was overwritten by a later batch";
  EXPECT_EQ(ticks[0].price + ticks[1].price, 201);
  EXPECT_EQ(ticks[0].size + ticks[1].size, 3);
}

// --- the feed path: stage() publishes at once, flush() stores -------------------------------

double ingested(Metrics& metrics, const std::string& source) {
  return metrics.counter("tickgraph_ingest_ticks_total", "", {{"source", source}}).value();
}

TEST_F(LiveMarketTest, StagedTicksArePublishedAtOnceAndStoredByTheFlush) {
  // Checks that a staged batch reaches a subscriber before anything is written, that the store
  // and the ingest counter get it only from flush(), and that the flush empties the queue.
  LiveMarket& m = start();
  auto client = subscribed({{"AAA"}, Interval::k1m, "", {}, 10});
  (void)drain(*client);  // the snapshot
  const std::vector<TickInput> batch = {{"AAA", {at(0, 1000), 100, 2}},
                                        {"AAA", {at(0, 2000), 101, 1}}};
  auto staged = m.stage(batch, "feed");
  ASSERT_TRUE(staged.ok()) << staged.status().to_string();
  EXPECT_EQ((*staged).accepted, 2);
  const auto updates = drain(*client);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(candle_of(updates[0].update().candle()),
            (Candle{minute_start(0), 100, 101, 100, 101, 3}));
  EXPECT_TRUE(stored_ticks(aaa_).empty()) << "written before the flush";
  EXPECT_EQ(ingested(metrics_, "feed"), 0) << "counted before it was stored";
  EXPECT_EQ(m.queued(), 1u);

  ASSERT_TRUE(m.flush().ok());
  EXPECT_EQ(stored_ticks(aaa_).size(), 2u);
  EXPECT_EQ(ingested(metrics_, "feed"), 2);
  EXPECT_EQ(m.queued(), 0u);
}

TEST_F(LiveMarketTest, WriteBehindStoresFeedsPostsAndClosedBarsTogether) {
  // With the write-behind thread: two feeds stage one asset each while ingest() (POST /v1/ticks)
  // writes a third's ticks and the clock runs, all at once from four threads; nothing calls
  // flush(). Every tick and every closed bar reaches the store within the write period (50 ms;
  // 5 s of margin for a loaded machine). The ThreadSanitizer run of these tests
  // (scripts/sanitize.sh) checks the locks of the four threads and the writer's.
  const std::int64_t ccc = add_asset("CCC");
  LiveOptions options = minute_bars();
  options.write_behind = true;
  LiveMarket& m = start(options);
  constexpr int kBatches = 40;
  std::vector<std::thread> threads;
  for (const std::string symbol : {"AAA", "BBB"}) {
    threads.emplace_back([&m, symbol] {
      for (int b = 0; b < kBatches; ++b) {
        const std::vector<TickInput> batch = {{symbol, {at(b, 1000), 100.0 + b, 1}},
                                              {symbol, {at(b, 2000), 101.0 + b, 1}}};
        auto staged = m.stage(batch, "feed");
        EXPECT_TRUE(staged.ok()) << staged.status().to_string();
      }
    });
  }
  threads.emplace_back([&m] {
    for (int b = 0; b < kBatches; ++b) {
      const std::vector<TickInput> batch = {{"CCC", {at(b, 3000), 102.0 + b, 1}}};
      auto posted = m.ingest(batch, "api");
      EXPECT_TRUE(posted.ok()) << posted.status().to_string();
    }
  });
  threads.emplace_back([&m] {  // closes nothing before the end: every bar ends after it
    for (int b = 0; b < kBatches; ++b) m.advance_clock(at(0, 500));
  });
  for (auto& t : threads) t.join();
  m.advance_clock(at(kBatches + 1, 0));  // closes every minute
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5) + options.write_period;
  while (m.queued() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(m.queued(), 0u) << "the write-behind thread did not write the queue";
  EXPECT_EQ(stored_ticks(aaa_).size(), 2u * kBatches);
  EXPECT_EQ(stored_ticks(bbb_).size(), 2u * kBatches);
  EXPECT_EQ(stored_ticks(ccc).size(), 1u * kBatches);
  for (const std::int64_t asset : {aaa_, bbb_, ccc}) {
    const auto bars = stored_bars(asset);
    ASSERT_EQ(bars.size(), static_cast<std::size_t>(kBatches)) << "asset " << asset;
    for (int b = 0; b < kBatches; ++b) {
      EXPECT_EQ(bars[static_cast<std::size_t>(b)].time, minute_start(b));
      EXPECT_EQ(bars[static_cast<std::size_t>(b)].volume, asset == ccc ? 1 : 2) << b;
    }
  }
}

TEST_F(LiveMarketTest, StagedRedeliveryChangesNothingAndEqualTimesStayApart) {
  // Checks the keys of staged ticks: a batch staged again before its flush (a source retrying
  // after a failed flush) is counted unchanged and not applied twice, and a different tick at an
  // equal time in a later batch is kept beside the first rather than replacing it.
  LiveMarket& m = start();
  const std::vector<TickInput> first = {{"AAA", {at(0, 1000), 100, 2}}};
  ASSERT_TRUE(m.stage(first, "feed").ok());
  auto again = m.stage(first, "feed");
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ((*again).unchanged, 1);
  EXPECT_EQ((*again).accepted, 0);
  const std::vector<TickInput> second = {{"AAA", {at(0, 1000), 99, 1}}};
  auto other = m.stage(second, "feed");
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  EXPECT_EQ((*other).accepted, 1);
  ASSERT_TRUE(m.flush().ok());
  const auto ticks = stored_ticks(aaa_);
  ASSERT_EQ(ticks.size(), 2u) << "a staged tick was overwritten or stored twice";
  EXPECT_EQ(ticks[0].price + ticks[1].price, 199);
  EXPECT_EQ(m.forming("AAA", Interval::k1m), (Candle{minute_start(0), 100, 100, 99, 99, 3}));
  EXPECT_EQ(ingested(metrics_, "feed"), 2);
}

TEST_F(LiveMarketTest, ASnapshotHoldsTheBarsStagedBeforeIt) {
  // Checks that a subscription made while a closed bar is staged but not flushed still gets that
  // bar in its snapshot (the snapshot is read from the store, which is written first).
  LiveMarket& m = start();
  const std::vector<TickInput> batch = {{"AAA", {at(0, 1000), 100, 1}},
                                        {"AAA", {at(1, 1000), 102, 1}}};
  ASSERT_TRUE(m.stage(batch, "feed").ok());
  ASSERT_EQ(m.queued(), 1u);
  auto client = subscribed({{"AAA"}, Interval::k1m, "", {}, 10});
  const auto messages = drain(*client);
  ASSERT_FALSE(messages.empty());
  const auto& snapshot = messages[0].snapshot();
  ASSERT_EQ(snapshot.candles_size(), 1);
  ASSERT_EQ(snapshot.candles(0).ts_size(), 1);
  EXPECT_EQ(snapshot.candles(0).ts(0), minute_start(0));
  EXPECT_EQ(snapshot.candles(0).close(0), 100);
  EXPECT_EQ(m.queued(), 0u);
}

TEST_F(LiveMarketTest, StagedValuesOfADeletedGraphDoNotHoldUpTheFlush) {
  // Checks that a standing graph's values staged before its graph was deleted are dropped by the
  // flush (the store refuses them) while the ticks and bars staged with them are written.
  put_graph("sma2", "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n");
  LiveOptions options = minute_bars();
  options.standing = {{"sma2", Interval::k1m}};
  LiveMarket& m = start(options);
  const std::vector<TickInput> batch = {{"AAA", {at(0, 1000), 100, 1}},
                                        {"AAA", {at(1, 1000), 101, 1}},
                                        {"AAA", {at(2, 1000), 102, 1}}};
  ASSERT_TRUE(m.stage(batch, "feed").ok());
  ASSERT_TRUE(store_->delete_graph("sma2").ok());
  ASSERT_TRUE(m.flush().ok());
  EXPECT_EQ(m.queued(), 0u) << "values of a deleted graph kept for ever";
  EXPECT_EQ(stored_ticks(aaa_).size(), 3u);
  EXPECT_EQ(stored_bars(aaa_).size(), 2u);
}

TEST_F(LiveMarketTest, FormingBarIsTheOhlcvOfItsTicks) {
  // Checks the forming bar at two intervals after ticks that arrive out of order inside the
  // minute, with two ticks sharing the latest time (the last to arrive closes).
  LiveOptions options;
  options.intervals = {Interval::k1m, Interval::k5m};
  LiveMarket& m = start(options);
  const IngestCounts counts = ingest({{"AAA", {at(2, 30000), 101, 1}},
                                      {"AAA", {at(2, 10000), 99, 2}},
                                      {"AAA", {at(2, 45500), 104, 3}}});
  EXPECT_EQ(counts.accepted, 3);
  EXPECT_EQ(ingest({{"AAA", {at(2, 20000), 98.5, 4}}, {"AAA", {at(2, 45500), 103, 5}}}).accepted,
            2);
  // open 99 (earliest, 2:10), high 104, low 98.5, close 103 (2:45.5, arrived last), volume 15.
  EXPECT_EQ(m.forming("AAA", Interval::k1m), (Candle{minute_start(2), 99, 104, 98.5, 103, 15}));
  EXPECT_EQ(m.forming("AAA", Interval::k5m), (Candle{kT0, 99, 104, 98.5, 103, 15}));
  EXPECT_FALSE(m.forming("AAA", Interval::k1h).has_value());  // not a live interval here
  EXPECT_FALSE(m.forming("BBB", Interval::k1m).has_value());
  EXPECT_TRUE(stored_bars(aaa_).empty());
}

TEST_F(LiveMarketTest, TickInALaterMinuteClosesAndStoresTheBar) {
  // Checks that the first tick of a later minute closes the forming bar and stores it with the
  // OHLCV of its ticks, and that a gap of quiet minutes stores no bars for them.
  LiveMarket& m = start();
  ingest({{"AAA", {at(0, 5000), 10, 1}}, {"AAA", {at(0, 15000), 12, 2}}});
  ingest({{"AAA", {at(0, 59999), 11, 3}}});
  EXPECT_TRUE(stored_bars(aaa_).empty());
  ingest({{"AAA", {at(1, 0), 13, 1}}});
  const Candle bar0{minute_start(0), 10, 12, 10, 11, 6};
  EXPECT_EQ(stored_bars(aaa_), std::vector<Candle>{bar0});
  EXPECT_EQ(m.forming("AAA", Interval::k1m), (Candle{minute_start(1), 13, 13, 13, 13, 1}));

  ingest({{"AAA", {at(1, 30000), 9, 4}}, {"AAA", {at(4, 1000), 14, 1}}});
  const Candle bar1{minute_start(1), 13, 13, 9, 9, 5};
  EXPECT_EQ(stored_bars(aaa_), (std::vector<Candle>{bar0, bar1}));
  EXPECT_EQ(m.forming("AAA", Interval::k1m), (Candle{minute_start(4), 14, 14, 14, 14, 1}));
  EXPECT_TRUE(stored_bars(bbb_).empty());
}

TEST_F(LiveMarketTest, AdvanceClockClosesBarsWhoseEndHasPassed) {
  // Checks that advance_clock closes and stores every forming bar whose end is <= now, not
  // before, and bumps the asset's generation.
  LiveMarket& m = start();
  ingest({{"AAA", {at(0, 1000), 20, 1}},
          {"BBB", {at(0, 2000), 30, 2}},
          {"AAA", {at(0, 3000), 21, 1}}});
  const std::uint64_t generation = m.generation("AAA");
  m.advance_clock(minute_start(1) - 1);
  EXPECT_TRUE(stored_bars(aaa_).empty());
  EXPECT_TRUE(m.forming("AAA", Interval::k1m).has_value());
  EXPECT_EQ(m.generation("AAA"), generation);

  m.advance_clock(minute_start(1));
  EXPECT_EQ(stored_bars(aaa_), (std::vector<Candle>{{minute_start(0), 20, 21, 20, 21, 2}}));
  EXPECT_EQ(stored_bars(bbb_), (std::vector<Candle>{{minute_start(0), 30, 30, 30, 30, 2}}));
  EXPECT_FALSE(m.forming("AAA", Interval::k1m).has_value());
  EXPECT_FALSE(m.forming("BBB", Interval::k1m).has_value());
  EXPECT_NE(m.generation("AAA"), generation);
}

TEST_F(LiveMarketTest, LateTickIsStoredCountedAndChangesNoBar) {
  // Checks that a tick for a minute whose bar has closed is stored and counted late, and leaves
  // the stored bar and the forming bar as they were (all intervals live).
  LiveMarket& m = start(LiveOptions{});
  ingest({{"AAA", {at(0, 10000), 100, 1}}});
  ingest({{"AAA", {at(1, 5000), 101, 2}}});
  const Candle bar0{minute_start(0), 100, 100, 100, 100, 1};
  ASSERT_EQ(stored_bars(aaa_), std::vector<Candle>{bar0});

  const IngestCounts counts = ingest({{"AAA", {at(0, 20000), 150, 7}}});
  EXPECT_EQ(counts.late, 1);
  EXPECT_EQ(counts.accepted, 0);
  EXPECT_EQ(stored_ticks(aaa_).size(), 3u);
  EXPECT_EQ(stored_bars(aaa_), std::vector<Candle>{bar0});
  EXPECT_EQ(m.forming("AAA", Interval::k1m), (Candle{minute_start(1), 101, 101, 101, 101, 2}));
}

TEST_F(LiveMarketTest, TickLateForOneIntervalKeepsTheOtherIntervalsSubscribersCurrent) {
  // Checks that a tick too late for its 1m bar but inside the forming 5m bar leaves a 5m
  // subscriber holding the forming bar the market holds: either the tick changes the 5m bar and
  // the subscriber is sent the new bar, or it changes nothing.
  LiveOptions options;
  options.intervals = {Interval::k1m, Interval::k5m};
  LiveMarket& m = start(options);
  auto client = subscribed({{"AAA"}, Interval::k5m, "", {}, 0});
  drain(*client);
  std::optional<Candle> held;
  auto follow = [&] {
    for (const auto& msg : drain(*client)) {
      if (msg.has_update() && !msg.update().final()) held = candle_of(msg.update().candle());
    }
  };
  ingest({{"AAA", {at(0, 10000), 100, 1}}});
  ingest({{"AAA", {at(1, 5000), 101, 2}}});
  follow();
  ASSERT_EQ(held, (Candle{kT0, 100, 101, 100, 101, 3}));
  ASSERT_EQ(held, m.forming("AAA", Interval::k5m));

  const IngestCounts counts = ingest({{"AAA", {at(0, 20000), 150, 7}}});
  EXPECT_EQ(counts.late + counts.accepted, 1);
  follow();
  EXPECT_EQ(held, m.forming("AAA", Interval::k5m))
      << "the 5m bar changed but its subscriber was not sent it";
}

TEST_F(LiveMarketTest, RestartKeepsAClosedStoredBarClosed) {
  // Checks that after a restart a tick in the minute of a bar the clock had already closed and
  // stored is late, as it would have been before the restart, and the stored bar is unchanged.
  start();
  ingest({{"AAA", {at(5, 1000), 100, 2}}, {"AAA", {at(5, 20000), 103, 1}}});
  ingest({{"AAA", {at(5, 30000), 99, 4}}});
  market_->advance_clock(minute_start(6));
  const std::vector<Candle> stored{{minute_start(5), 100, 103, 99, 99, 7}};
  ASSERT_EQ(stored_bars(aaa_), stored);

  start();  // restart on the same store
  const auto counts = ingest({{"AAA", {at(5, 50000), 101, 3}}});
  EXPECT_EQ(counts.accepted, 0);
  EXPECT_EQ(counts.late, 1);
  ingest({{"AAA", {at(6, 0), 102, 1}}});
  EXPECT_EQ(stored_bars(aaa_), stored);
}

TEST_F(LiveMarketTest, RestartRebuildsTheFormingBarsFromTheStoredTicks) {
  // Checks that the ticks of bars still forming when the process stopped are not lost: after a
  // restart the next tick continues the 1m bar (rebuilt from the stored ticks) and the 1h bar
  // (rebuilt from the stored 1m bars and the forming one).
  LiveOptions options;
  options.intervals = {Interval::k1m, Interval::k1h};
  start(options);
  ingest({{"AAA", {at(0, 1000), 100, 2}}, {"AAA", {at(0, 2000), 104, 1}}});
  ingest({{"AAA", {at(1, 1000), 101, 5}}});  // closes minute 0 (stored); minute 1 forming
  ingest({{"AAA", {at(1, 2000), 98, 1}}});
  ASSERT_EQ(stored_bars(aaa_), (std::vector<Candle>{{minute_start(0), 100, 104, 100, 104, 3}}));

  LiveMarket& m = start(options);  // restart: minute 1 and the hour are not stored as bars
  EXPECT_EQ(ingest({{"AAA", {at(1, 3000), 99, 2}}}).accepted, 1);
  EXPECT_EQ(m.forming("AAA", Interval::k1m), (Candle{minute_start(1), 101, 101, 98, 99, 8}));
  EXPECT_EQ(m.forming("AAA", Interval::k1h), (Candle{minute_start(0), 100, 104, 98, 99, 11}));
  ingest({{"AAA", {at(2, 0), 97, 1}}});
  EXPECT_EQ(stored_bars(aaa_), (std::vector<Candle>{{minute_start(0), 100, 104, 100, 104, 3},
                                                    {minute_start(1), 101, 101, 98, 99, 8}}));
}

TEST_F(LiveMarketTest, RestartDoesNotLetAnOlderTickReplaceAStoredBar) {
  // Checks that after a restart a tick for a minute older than the last stored bar (late before
  // the restart) does not open a new bar there that later replaces the stored one.
  start();
  ingest({{"AAA", {at(0, 1000), 100, 2}}, {"AAA", {at(0, 2000), 104, 1}}});
  ingest({{"AAA", {at(1, 1000), 101, 5}}});
  market_->advance_clock(minute_start(2));
  const Candle bar0{minute_start(0), 100, 104, 100, 104, 3};
  const Candle bar1{minute_start(1), 101, 101, 101, 101, 5};
  ASSERT_EQ(stored_bars(aaa_), (std::vector<Candle>{bar0, bar1}));

  start();  // restart on the same store
  ingest({{"AAA", {at(0, 40000), 90, 1}}});
  ingest({{"AAA", {at(3, 0), 105, 1}}});
  const auto bars = stored_bars(aaa_);
  ASSERT_GE(bars.size(), 2u);
  EXPECT_EQ(bars[0].time, bar0.time);
  // Whatever is done with the old tick, the stored bar keeps its open, high and volume.
  EXPECT_EQ(bars[0].open, bar0.open) << "stored bar replaced by a partial one";
  EXPECT_EQ(bars[0].high, bar0.high);
  EXPECT_GE(bars[0].volume, bar0.volume);
  EXPECT_EQ(bars[1], bar1);
}

// --- streams --------------------------------------------------------------------------------

TEST_F(LiveMarketTest, SnapshotHoldsTheLastStoredBarsAndTheFormingBar) {
  // Checks a candles-only snapshot: the last `history` stored bars in order, and the forming
  // bar; with history 0, the default (here more than there are bars: all of them).
  start();
  ingest({{"AAA", {at(0, 1000), 10, 1}}, {"AAA", {at(0, 2000), 11, 1}}});
  ingest({{"AAA", {at(1, 1000), 12, 2}}});
  ingest({{"AAA", {at(2, 1000), 13, 3}}, {"AAA", {at(2, 9000), 12.5, 1}}});
  ingest({{"AAA", {at(3, 1000), 14, 4}}});
  ingest({{"AAA", {at(4, 1000), 15, 5}}, {"AAA", {at(4, 2000), 14.5, 1}}});
  const std::vector<Candle> bars = {{minute_start(0), 10, 11, 10, 11, 2},
                                    {minute_start(1), 12, 12, 12, 12, 2},
                                    {minute_start(2), 13, 13, 12.5, 12.5, 4},
                                    {minute_start(3), 14, 14, 14, 14, 4}};
  const Candle forming{minute_start(4), 15, 15, 14.5, 14.5, 6};
  ASSERT_EQ(stored_bars(aaa_), bars);

  auto client = subscribed({{"AAA"}, Interval::k1m, "", {}, 2});
  auto messages = drain(*client);
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_TRUE(messages[0].has_snapshot());
  const v1::Snapshot& s = messages[0].snapshot();
  ASSERT_EQ(s.candles_size(), 1);
  const v1::CandleSeries& c = s.candles(0);
  EXPECT_EQ(c.symbol(), "AAA");
  EXPECT_EQ(c.interval(), v1::INTERVAL_1M);
  ASSERT_EQ(c.ts_size(), 2);
  for (int i = 0; i < 2; ++i) {
    const Candle& want = bars[2 + static_cast<std::size_t>(i)];
    EXPECT_EQ((Candle{c.ts(i), c.open(i), c.high(i), c.low(i), c.close(i), c.volume(i)}), want);
  }
  EXPECT_EQ(s.analytics_size(), 0);
  ASSERT_EQ(s.forming_size(), 1);
  EXPECT_EQ(s.forming(0).symbol(), "AAA");
  EXPECT_FALSE(s.forming(0).final());
  EXPECT_EQ(candle_of(s.forming(0).candle()), forming);

  auto all = subscribed({{"AAA", "BBB"}, Interval::k1m, "", {}, 0});
  messages = drain(*all);
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_EQ(messages[0].snapshot().candles_size(), 2);
  EXPECT_EQ(messages[0].snapshot().candles(0).ts_size(), 4);
  EXPECT_EQ(messages[0].snapshot().candles(1).symbol(), "BBB");
  EXPECT_EQ(messages[0].snapshot().candles(1).ts_size(), 0);
  EXPECT_EQ(messages[0].snapshot().forming_size(), 1);  // BBB has no forming bar
}

TEST_F(LiveMarketTest, TicksSendProvisionalUpdatesAndACloseSendsTheFinalOne) {
  // Checks, with a 2-bar SMA worked out by hand, that each tick sends a non-final update of the
  // forming candle with provisional values (as if the bar closed now), that a close sends the
  // final candle and values, and that another asset's ticks send this subscriber nothing.
  put_graph("sma2", "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n");
  start();
  auto client = subscribed({{"AAA"}, Interval::k1m, "sma2", {}, 10});
  auto messages = drain(*client);
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_EQ(messages[0].snapshot().analytics_size(), 1);
  EXPECT_EQ(messages[0].snapshot().analytics(0).ts_size(), 0);
  EXPECT_EQ(messages[0].snapshot().forming_size(), 0);

  struct Expected {
    Candle candle;
    bool final;
    double sma2;
  };
  auto check = [&](const std::vector<Expected>& want, const std::string& step) {
    const auto got = drain(*client);
    ASSERT_EQ(got.size(), want.size()) << step;
    for (std::size_t i = 0; i < want.size(); ++i) {
      ASSERT_TRUE(got[i].has_update()) << step;
      const v1::Update& u = got[i].update();
      EXPECT_EQ(u.symbol(), "AAA") << step;
      EXPECT_EQ(u.graph(), "sma2") << step;
      EXPECT_EQ(u.interval(), v1::INTERVAL_1M) << step;
      EXPECT_EQ(u.final(), want[i].final) << step << " #" << i;
      EXPECT_EQ(candle_of(u.candle()), want[i].candle) << step << " #" << i;
      const auto values = values_of(u);
      ASSERT_EQ(values.size(), 1u) << step;
      ASSERT_EQ(values.count("sma2"), 1u) << step;
      if (std::isnan(want[i].sma2)) {
        EXPECT_TRUE(std::isnan(values.at("sma2"))) << step << " #" << i;
      } else {
        EXPECT_EQ(values.at("sma2"), want[i].sma2) << step << " #" << i;
      }
    }
  };

  ingest({{"AAA", {at(0, 1000), 10, 1}}});
  check({{{minute_start(0), 10, 10, 10, 10, 1}, false, kNaN}}, "first tick");
  ingest({{"AAA", {at(0, 30000), 11, 2}}});
  check({{{minute_start(0), 10, 11, 10, 11, 3}, false, kNaN}}, "second tick");
  ingest({{"BBB", {at(0, 40000), 70, 2}}});
  check({}, "a tick of another asset");
  ingest({{"AAA", {at(1, 0), 12, 1}}});
  check({{{minute_start(0), 10, 11, 10, 11, 3}, true, kNaN},
         {{minute_start(1), 12, 12, 12, 12, 1}, false, (11 + 12) / 2.0}},
        "first close");
  ingest({{"AAA", {at(1, 5000), 14, 1}}});
  check({{{minute_start(1), 12, 14, 12, 14, 2}, false, (11 + 14) / 2.0}}, "tick after close");
  ingest({{"AAA", {at(2, 0), 20, 1}}});
  check({{{minute_start(1), 12, 14, 12, 14, 2}, true, (11 + 14) / 2.0},
         {{minute_start(2), 20, 20, 20, 20, 1}, false, (14 + 20) / 2.0}},
        "second close");
  market_->advance_clock(minute_start(3));
  check({{{minute_start(2), 20, 20, 20, 20, 1}, true, (14 + 20) / 2.0}}, "clock close");
}

TEST_F(LiveMarketTest, SnapshotFormingBarHasItsProvisionalValues) {
  // Checks that a subscriber joining while a bar forms gets, in the snapshot, the forming candle
  // with the provisional values the next forming update would carry (a 2-bar SMA by hand), only
  // for the outputs it chose.
  put_graph("two",
            "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n  ema3: {fn: ema, input: close, "
            "period: 3}\n");
  start();
  ingest({{"AAA", {at(0, 1000), 10, 1}}});
  ingest({{"AAA", {at(1, 1000), 13, 1}}});
  auto client = subscribed({{"AAA"}, Interval::k1m, "two", {"sma2"}, 10});
  auto messages = drain(*client);
  ASSERT_EQ(messages.size(), 1u);
  const v1::Snapshot& s = messages[0].snapshot();
  ASSERT_EQ(s.forming_size(), 1);
  EXPECT_EQ(candle_of(s.forming(0).candle()), (Candle{minute_start(1), 13, 13, 13, 13, 1}));
  EXPECT_EQ(s.forming(0).graph(), "two");
  const auto values = values_of(s.forming(0));
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values.at("sma2"), (10 + 13) / 2.0);
}

// One asset's ticks of one minute, in arrival order.
struct MinuteTicks {
  std::string symbol;
  int minute = 0;
  std::vector<Tick> ticks;
};

TEST_F(LiveMarketTest, PushedValuesEqualPullOverTheStoredBars) {
  // Checks the core promise on the live path: many random ticks of two assets (with quiet
  // minutes and out-of-order ticks) go through ingest in random batches while clients follow a
  // graph with a cross-asset join; the bars stored equal the OHLCV of the ticks, and the values
  // the clients hold (snapshot, then final updates) equal run_pull over the stored bars, bit for
  // bit, for a client that subscribed early and one that joined mid-stream.
  const std::string spec = R"(nodes:
  ret:   {fn: pct_change, input: close}
  sma3:  {fn: sma, input: close, period: 3}
  ema5:  {fn: ema, input: close, period: 5}
  rsi3:  {fn: rsi, input: close, period: 3}
  beta:  {fn: beta, inputs: [ret, "BBB:ret"], period: 4}
  corr:  {fn: correlation, inputs: [close, "BBB:close"], period: 5}
  sbeta: {fn: ema, input: beta, period: 3}
)";
  put_graph("pp", spec);
  LiveMarket& m = start();

  // The ticks: per asset and minute, 1-6 ticks at distinct times, sometimes shuffled; about one
  // minute in seven quiet per asset. Minutes are sent in order, the two assets interleaved.
  constexpr int kMinutes = 90;
  std::mt19937_64 rng(20240611);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::map<std::string, double> price = {{"AAA", 100.0}, {"BBB", 40.0}};
  std::map<std::string, std::vector<Candle>> expected_bars;
  std::vector<TickInput> arrivals;
  std::size_t subscribe_first = 0;   // arrival index of the first tick of minute 20
  std::size_t subscribe_second = 0;  // a few ticks into minute 55
  for (int minute = 0; minute < kMinutes; ++minute) {
    if (minute == 20) subscribe_first = arrivals.size();
    if (minute == 55) subscribe_second = arrivals.size() + 3;
    std::vector<MinuteTicks> both;
    for (const std::string symbol : {"AAA", "BBB"}) {
      if (u(rng) < 0.15) continue;
      MinuteTicks mt{symbol, minute, {}};
      std::set<int> offsets;
      const int n = 1 + static_cast<int>(u(rng) * 6);
      while (static_cast<int>(offsets.size()) < n) offsets.insert(static_cast<int>(u(rng) * 60000));
      for (const int ms : offsets) {
        price[symbol] *= std::exp(0.004 * (u(rng) - 0.5));
        mt.ticks.push_back({at(minute, ms), price[symbol], std::floor(1 + 9 * u(rng))});
      }
      if (u(rng) < 0.3) std::shuffle(mt.ticks.begin(), mt.ticks.end(), rng);
      expected_bars[symbol].push_back(ohlcv(minute_start(minute), mt.ticks));
      both.push_back(std::move(mt));
    }
    // Interleave the assets' ticks at random, each keeping its own arrival order.
    std::vector<std::size_t> next(both.size(), 0);
    for (;;) {
      std::vector<std::size_t> open;
      for (std::size_t k = 0; k < both.size(); ++k) {
        if (next[k] < both[k].ticks.size()) open.push_back(k);
      }
      if (open.empty()) break;
      const std::size_t k =
          open[static_cast<std::size_t>(u(rng) * static_cast<double>(open.size()))];
      arrivals.push_back({both[k].symbol, both[k].ticks[next[k]++]});
    }
  }

  // What each client holds: values and candles by bar time, later messages overriding earlier.
  struct Held {
    std::map<Timestamp, std::map<std::string, double>> values;
    std::map<Timestamp, Candle> candles;
    std::size_t finals = 0;
    Timestamp first_snapshot_time = 0;
  };
  auto absorb = [](StreamClient& client, Held& held) {
    for (const v1::StreamMessage& msg : drain(client)) {
      if (msg.has_snapshot()) {
        const v1::Snapshot& s = msg.snapshot();
        ASSERT_EQ(s.analytics_size(), 1);
        ASSERT_EQ(s.candles_size(), 1);
        const v1::AnalyticsResult& a = s.analytics(0);
        EXPECT_EQ(a.graph(), "pp");
        for (const v1::Series& series : a.series()) {
          ASSERT_EQ(series.values().values_size(), a.ts_size()) << series.name();
          for (int r = 0; r < a.ts_size(); ++r) {
            held.values[a.ts(r)][series.name()] = number(series.values().values(r));
          }
        }
        const v1::CandleSeries& c = s.candles(0);
        ASSERT_EQ(c.ts_size(), a.ts_size());
        for (int r = 0; r < c.ts_size(); ++r) {
          held.candles[c.ts(r)] = {c.ts(r),  c.open(r),  c.high(r),
                                   c.low(r), c.close(r), c.volume(r)};
        }
        if (a.ts_size() > 0) held.first_snapshot_time = a.ts(0);
      } else if (msg.has_update()) {
        const v1::Update& up = msg.update();
        EXPECT_EQ(up.symbol(), "AAA");
        if (!up.final()) continue;
        ++held.finals;
        held.candles[up.candle().time()] = candle_of(up.candle());
        for (const auto& [name, value] : values_of(up)) {
          held.values[up.candle().time()][name] = value;
        }
      } else {
        ADD_FAILURE() << "unexpected message: " << msg.DebugString();
      }
    }
  };

  Held early;
  Held late;
  std::shared_ptr<StreamClient> first;
  std::shared_ptr<StreamClient> second;
  std::size_t sent = 0;
  while (sent < arrivals.size()) {
    if (!first && sent >= subscribe_first) {
      first = subscribed({{"AAA"}, Interval::k1m, "pp", {}, 1000});
      absorb(*first, early);
      ASSERT_GT(early.values.size(), 10u) << "the early client's snapshot should hold history";
    }
    if (!second && sent >= subscribe_second) {
      second = subscribed({{"AAA"}, Interval::k1m, "pp", {}, 5});
      absorb(*second, late);
      ASSERT_EQ(late.values.size(), 5u);
    }
    const std::size_t n =
        std::min(arrivals.size() - sent, 1 + static_cast<std::size_t>(u(rng) * 6));
    const std::vector<TickInput> batch(arrivals.begin() + static_cast<std::ptrdiff_t>(sent),
                                       arrivals.begin() + static_cast<std::ptrdiff_t>(sent + n));
    const IngestCounts counts = ingest(batch);
    ASSERT_EQ(counts.accepted, static_cast<std::int64_t>(n)) << "at arrival " << sent;
    sent += n;
    if (first) absorb(*first, early);
    if (second) absorb(*second, late);
  }
  m.advance_clock(minute_start(kMinutes + 1));
  absorb(*first, early);
  absorb(*second, late);

  // The oracle: bars from the store, which must be the ticks' OHLCV, and run_pull over them.
  const auto stored_a = store_->read_candles(aaa_, Interval::k1m, {});
  const auto stored_b = store_->read_candles(bbb_, Interval::k1m, {});
  ASSERT_TRUE(stored_a.ok() && stored_b.ok());
  ASSERT_EQ(rows(*stored_a), expected_bars["AAA"]);
  ASSERT_EQ(rows(*stored_b), expected_bars["BBB"]);
  auto parsed = graph::parse_spec(spec, "test spec");
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  auto compiled = graph::compile(*parsed);
  ASSERT_TRUE(compiled.ok()) << compiled.message();
  const graph::MarketData data = {{"AAA", *stored_a}, {"BBB", *stored_b}};
  auto pulled = graph::run_pull(*compiled, "AAA", data);
  ASSERT_TRUE(pulled.ok()) << pulled.message();
  const graph::Table& pull = *pulled;
  ASSERT_EQ(pull.time, stored_a->time);

  // The join must have produced values, or the comparison would prove little.
  const int beta = pull.column("beta");
  ASSERT_GE(beta, 0);
  const auto finite_beta = std::count_if(pull.values[static_cast<std::size_t>(beta)].begin(),
                                         pull.values[static_cast<std::size_t>(beta)].end(),
                                         [](double v) { return std::isfinite(v); });
  EXPECT_GT(finite_beta, 30);

  auto compare = [&](const Held& held, std::size_t first_row, const std::string& who) {
    ASSERT_LT(first_row, pull.rows()) << who;
    std::vector<Timestamp> want(pull.time.begin() + static_cast<std::ptrdiff_t>(first_row),
                                pull.time.end());
    // Finals for bars older than a late client's snapshot (a join completed late) are ignored.
    std::vector<Timestamp> got;
    for (const auto& [t, v] : held.values) {
      if (t >= want.front()) got.push_back(t);
    }
    ASSERT_EQ(got, want) << who << ": bar times held differ from the stored bars";
    for (std::size_t r = first_row; r < pull.rows(); ++r) {
      const Timestamp t = pull.time[r];
      EXPECT_EQ(held.candles.at(t), stored_a->at(r)) << who << " row " << r;
      const auto& values = held.values.at(t);
      ASSERT_EQ(values.size(), pull.columns.size()) << who << " row " << r;
      for (std::size_t c = 0; c < pull.columns.size(); ++c) {
        const double expected = pull.values[c][r];
        const auto it = values.find(pull.columns[c]);
        ASSERT_NE(it, values.end()) << who << ": no " << pull.columns[c];
        if (std::isfinite(expected)) {
          EXPECT_TRUE(same_bits(it->second, expected))
              << who << " row " << r << " " << pull.columns[c] << ": pushed " << it->second
              << ", pulled " << expected;
        } else {
          EXPECT_TRUE(std::isnan(it->second))
              << who << " row " << r << " " << pull.columns[c] << ": pushed " << it->second
              << ", pulled " << expected;
        }
      }
    }
  };
  compare(early, 0, "early client");
  const auto late_first = static_cast<std::size_t>(
      std::lower_bound(pull.time.begin(), pull.time.end(), late.first_snapshot_time) -
      pull.time.begin());
  EXPECT_GT(late_first, 30u);  // it did join mid-stream
  compare(late, late_first, "late client");
  EXPECT_GT(early.finals, 60u);
  EXPECT_GT(late.finals, 20u);
}

TEST_F(LiveMarketTest, OutputsChooseTheValuesSent) {
  // Checks that a subscription naming outputs gets only those in its snapshot and updates,
  // while another client on the same graph gets every output.
  put_graph("two",
            "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n"
            "  mom1: {fn: mom, input: close, period: 1}\n");
  start();
  ingest({{"AAA", {at(0, 1000), 10, 1}}});
  ingest({{"AAA", {at(1, 1000), 13, 1}}});
  ingest({{"AAA", {at(2, 1000), 17, 1}}});
  auto chosen = subscribed({{"AAA"}, Interval::k1m, "two", {"mom1"}, 10});
  auto every = subscribed({{"AAA"}, Interval::k1m, "two", {}, 10});

  auto snapshot = drain(*chosen);
  ASSERT_EQ(snapshot.size(), 1u);
  const v1::AnalyticsResult& a = snapshot[0].snapshot().analytics(0);
  ASSERT_EQ(a.series_size(), 1);
  EXPECT_EQ(a.series(0).name(), "mom1");
  ASSERT_EQ(a.ts_size(), 2);  // bars of minutes 0 and 1 are closed
  EXPECT_TRUE(std::isnan(number(a.series(0).values().values(0))));
  EXPECT_EQ(number(a.series(0).values().values(1)), 13 - 10);
  const auto all = drain(*every);
  ASSERT_EQ(all.size(), 1u);
  ASSERT_EQ(all[0].snapshot().analytics(0).series_size(), 2);

  ingest({{"AAA", {at(3, 1000), 18, 1}}});
  const auto updates = drain(*chosen);
  ASSERT_EQ(updates.size(), 2u);  // the final bar of minute 2, the forming bar of minute 3
  EXPECT_EQ(values_of(updates[0].update()), (std::map<std::string, double>{{"mom1", 17 - 13}}));
  EXPECT_EQ(values_of(updates[1].update()), (std::map<std::string, double>{{"mom1", 18 - 17}}));
  const auto full = drain(*every);
  ASSERT_EQ(full.size(), 2u);
  EXPECT_EQ(values_of(full[0].update()),
            (std::map<std::string, double>{{"mom1", 17 - 13}, {"sma2", (13 + 17) / 2.0}}));
}

TEST_F(LiveMarketTest, ResubscribingWithOtherOutputsSendsTheOutputsOfTheNewSnapshot) {
  // Checks that a client subscribing again to the same asset and graph with other outputs gets,
  // in its updates, the outputs its new snapshot announced.
  put_graph("two",
            "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n"
            "  mom1: {fn: mom, input: close, period: 1}\n");
  start();
  ingest({{"AAA", {at(0, 1000), 10, 1}}});
  ingest({{"AAA", {at(1, 1000), 13, 1}}});
  auto client = subscribed({{"AAA"}, Interval::k1m, "two", {"sma2"}, 10});
  drain(*client);
  ASSERT_TRUE(market_->subscribe(client, {{"AAA"}, Interval::k1m, "two", {"mom1"}, 10}).ok());
  const auto snapshot = drain(*client);
  ASSERT_EQ(snapshot.size(), 1u);
  ASSERT_EQ(snapshot[0].snapshot().analytics(0).series_size(), 1);
  EXPECT_EQ(snapshot[0].snapshot().analytics(0).series(0).name(), "mom1");

  ingest({{"AAA", {at(1, 2000), 12, 1}}});
  const auto updates = drain(*client);
  ASSERT_EQ(updates.size(), 1u);
  EXPECT_EQ(values_of(updates[0].update()), (std::map<std::string, double>{{"mom1", 12 - 10}}));
}

TEST_F(LiveMarketTest, ClientMessagesSubscribeOrAreAnsweredWithAnError) {
  // Checks the WebSocket path: a Subscribe message as JSON queues the snapshot and starts
  // updates; malformed JSON, a message with neither subscribe nor unsubscribe, a missing
  // interval or a negative history are answered with an Error naming what was wrong.
  LiveMarket& m = start();
  auto client = m.connect({});
  m.on_message(client, R"({"subscribe": {"assets": ["AAA"], "interval": "INTERVAL_1M"}})");
  auto messages = drain(*client);
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_TRUE(messages[0].has_snapshot());
  EXPECT_EQ(messages[0].snapshot().candles(0).symbol(), "AAA");
  ingest({{"AAA", {at(0, 1000), 10, 1}}});
  messages = drain(*client);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].update().symbol(), "AAA");

  struct Case {
    std::string text;
    std::string detail;  // the value of the one detail the error carries
  };
  const std::vector<Case> cases = {
      {"{not json", "ClientMessage"},
      {"{}", "ClientMessage"},
      {R"({"subscribe": {"assets": ["AAA"]}})", "subscribe.interval"},
      {R"({"subscribe": {"assets": ["AAA"], "interval": "INTERVAL_1M", "history": -1}})",
       "subscribe.history"},
  };
  for (const Case& c : cases) {
    m.on_message(client, c.text);
    messages = drain(*client);
    ASSERT_EQ(messages.size(), 1u) << c.text;
    ASSERT_TRUE(messages[0].has_error()) << c.text;
    EXPECT_EQ(messages[0].error().code(), "invalid_argument") << c.text;
    ASSERT_EQ(messages[0].error().details_size(), 1) << c.text;
    EXPECT_EQ(messages[0].error().details().begin()->second, c.detail) << c.text;
  }

  m.on_message(client, R"({"unsubscribe": {}})");
  ingest({{"AAA", {at(0, 2000), 11, 1}}});
  EXPECT_TRUE(drain(*client).empty());
}

TEST_F(LiveMarketTest, BadSubscriptionsAreRefusedAndSubscribeNothing) {
  // Checks the errors of subscribe: an unknown output (400 naming outputs), an unknown graph
  // (404), an unknown asset (404), too much history or no asset (400); and that the refused
  // client is sent nothing afterwards.
  put_graph("g", "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n");
  LiveMarket& m = start();
  auto client = m.connect({});

  Status e = m.subscribe(client, {{"AAA"}, Interval::k1m, "g", {"sma2", "nope"}, 0});
  EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.detail("parameter"), "outputs");
  EXPECT_NE(e.message().find("nope"), std::string::npos) << "names the output: " << e.message();

  e = m.subscribe(client, {{"AAA"}, Interval::k1m, "", {"sma2"}, 0});  // no graph, no outputs
  EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.detail("parameter"), "outputs");

  e = m.subscribe(client, {{"AAA"}, Interval::k1m, "missing", {}, 0});
  EXPECT_EQ(e.code(), StatusCode::kNotFound);
  EXPECT_EQ(e.detail("graph"), "missing");

  e = m.subscribe(client, {{"AAA", "ZZZ"}, Interval::k1m, "", {}, 0});
  EXPECT_EQ(e.code(), StatusCode::kNotFound);
  EXPECT_EQ(e.detail("asset"), "ZZZ");

  e = m.subscribe(client, {{"AAA"}, Interval::k1m, "", {}, 5001});
  EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.detail("parameter"), "history");

  e = m.subscribe(client, {{}, Interval::k1m, "", {}, 0});
  EXPECT_EQ(e.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.detail("parameter"), "assets");

  ingest({{"AAA", {at(0, 1000), 10, 1}}});
  ingest({{"AAA", {at(1, 1000), 11, 1}}});
  EXPECT_TRUE(drain(*client).empty());
}

TEST_F(LiveMarketTest, GraphChangedEndsItsSubscriptionsWithAnError) {
  // Checks that graph_changed sends subscribers of that graph an Error "graph_changed" naming it,
  // and stops their updates, while other subscriptions go on.
  put_graph("g", "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n");
  put_graph("h", "nodes:\n  sma3: {fn: sma, input: close, period: 3}\n");
  start();
  auto on_g = subscribed({{"AAA"}, Interval::k1m, "g", {}, 0});
  auto on_h = subscribed({{"AAA"}, Interval::k1m, "h", {}, 0});
  auto candles = subscribed({{"AAA"}, Interval::k1m, "", {}, 0});
  drain(*on_g);
  drain(*on_h);
  drain(*candles);

  market_->graph_changed("g");
  const auto messages = drain(*on_g);
  ASSERT_EQ(messages.size(), 1u);
  ASSERT_TRUE(messages[0].has_error());
  EXPECT_EQ(messages[0].error().code(), "graph_changed");
  EXPECT_NE(messages[0].error().message().find("'g'"), std::string::npos);
  EXPECT_TRUE(drain(*on_h).empty());
  EXPECT_TRUE(drain(*candles).empty());

  ingest({{"AAA", {at(0, 1000), 10, 1}}});
  EXPECT_TRUE(drain(*on_g).empty());
  EXPECT_EQ(drain(*on_h).size(), 1u);
  EXPECT_EQ(drain(*candles).size(), 1u);

  // Subscribing again works and follows the graph as stored now.
  put_graph("g", "nodes:\n  sma1: {fn: sma, input: close, period: 1}\n");
  market_->graph_changed("g");
  ASSERT_TRUE(market_->subscribe(on_g, {{"AAA"}, Interval::k1m, "g", {}, 0}).ok());
  drain(*on_g);
  ingest({{"AAA", {at(0, 2000), 11, 1}}});
  const auto again = drain(*on_g);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(values_of(again[0].update()), (std::map<std::string, double>{{"sma1", 11}}));
}

TEST_F(LiveMarketTest, UnsubscribeStopsUpdatesOfTheNamedAssets) {
  // Checks that unsubscribing from one asset stops its updates and keeps the others, and that
  // an empty list unsubscribes from everything.
  start();
  auto client = subscribed({{"AAA", "BBB"}, Interval::k1m, "", {}, 0});
  drain(*client);
  market_->unsubscribe(client, {"AAA"});
  ingest({{"AAA", {at(0, 1000), 10, 1}}, {"BBB", {at(0, 1000), 20, 1}}});
  auto messages = drain(*client);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].update().symbol(), "BBB");

  market_->unsubscribe(client, {});
  ingest({{"AAA", {at(0, 2000), 11, 1}}, {"BBB", {at(0, 2000), 21, 1}}});
  ingest({{"AAA", {at(1, 2000), 11, 1}}, {"BBB", {at(1, 2000), 21, 1}}});
  EXPECT_TRUE(drain(*client).empty());
  EXPECT_FALSE(client->closed());
}

TEST_F(LiveMarketTest, DisconnectRemovesTheClient) {
  // Checks that connect adds a client, disconnect removes it and closes it, and that it gets
  // nothing afterwards.
  LiveMarket& m = start();
  EXPECT_EQ(m.client_count(), 0u);
  auto a = subscribed({{"AAA"}, Interval::k1m, "", {}, 0});
  auto b = m.connect({});
  EXPECT_EQ(m.client_count(), 2u);
  m.disconnect(a);
  EXPECT_EQ(m.client_count(), 1u);
  EXPECT_TRUE(a->closed());
  ingest({{"AAA", {at(0, 1000), 10, 1}}});
  const auto batch = a->take();
  EXPECT_TRUE(batch.messages.empty());
  EXPECT_TRUE(batch.closed.has_value());
  m.disconnect(b);
  EXPECT_EQ(m.client_count(), 0u);
}

TEST_F(LiveMarketTest, SlowClientGetsTheLatestFormingUpdateAndALagNotice) {
  // Checks that forming updates a client has not taken are replaced by the latest one, and that
  // the client is told how many were replaced.
  start();
  auto client = subscribed({{"AAA"}, Interval::k1m, "", {}, 0});
  ingest({{"AAA", {at(0, 1000), 10, 1}}});
  ingest({{"AAA", {at(0, 2000), 12, 1}}});
  ingest({{"AAA", {at(0, 3000), 11, 1}}});
  const auto messages = drain(*client);
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_TRUE(messages[0].has_snapshot());
  ASSERT_TRUE(messages[1].has_update());
  EXPECT_EQ(candle_of(messages[1].update().candle()), (Candle{minute_start(0), 10, 12, 10, 11, 3}));
  ASSERT_TRUE(messages[2].has_lag());
  EXPECT_EQ(messages[2].lag().coalesced(), 2);
}

TEST_F(LiveMarketTest, OpenSseRefusesBadParametersNamingThem) {
  // Checks that open_sse answers 400 with a JSON Error naming the parameter when assets or
  // interval are missing or bad, outputs come without a graph, history is not a whole number or
  // too large, or an output is unknown; 404 for an unknown asset or graph; and that no client
  // is left behind.
  put_graph("g", "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n");
  LiveMarket& m = start();
  struct Case {
    std::string query;
    int status;
    std::string parameter;  // 400 only
  };
  const std::vector<Case> cases = {
      {"", 400, "assets"},
      {"?interval=1m", 400, "assets"},
      {"?assets=&interval=1m", 400, "assets"},
      {"?assets=,,&interval=1m", 400, "assets"},
      {"?assets=AAA", 400, "interval"},
      {"?assets=AAA&interval=7m", 400, "interval"},
      {"?assets=AAA&interval=1m&outputs=sma2", 400, "outputs"},
      {"?assets=AAA&interval=1m&history=abc", 400, "history"},
      {"?assets=AAA&interval=1m&history=-1", 400, "history"},
      {"?assets=AAA&interval=1m&history=10x", 400, "history"},
      {"?assets=AAA&interval=1m&history=6000", 400, "history"},
      {"?assets=AAA&interval=1m&graph=g&outputs=nope", 400, "outputs"},
      {"?assets=ZZZ&interval=1m", 404, ""},
      {"?assets=AAA&interval=1m&graph=missing", 404, ""},
  };
  for (const Case& c : cases) {
    const auto target = parse_target("/v1/stream/sse" + c.query);
    ASSERT_TRUE(target.has_value()) << c.query;
    HttpRequest request;
    request.method = "GET";
    request.target = "/v1/stream/sse" + c.query;
    request.path = target->path;
    request.query = target->query;
    auto result = m.open_sse(request, {});
    const auto* response = std::get_if<HttpResponse>(&result);
    ASSERT_NE(response, nullptr) << c.query << ": a client was opened";
    EXPECT_EQ(response->status, c.status) << c.query;
    v1::Error error;
    const auto parsed = google::protobuf::util::JsonStringToMessage(response->body, &error);
    ASSERT_TRUE(parsed.ok()) << c.query << ": " << response->body;
    if (c.status == 400) {
      EXPECT_EQ(error.code(), "invalid_argument") << c.query;
      EXPECT_EQ(error.details().count("parameter"), 1u) << c.query << ": " << response->body;
      if (error.details().count("parameter") == 1) {
        EXPECT_EQ(error.details().at("parameter"), c.parameter) << c.query;
      }
      EXPECT_NE(error.message().find(c.parameter), std::string::npos) << response->body;
    } else {
      EXPECT_EQ(error.code(), "not_found") << c.query;
    }
    EXPECT_EQ(m.client_count(), 0u) << c.query;
  }
}

TEST_F(LiveMarketTest, OpenSseGivesASubscribedClientWithItsSnapshot) {
  // Checks that a good SSE request returns a client whose queue already holds the snapshot of
  // the assets asked for, and which then gets updates.
  LiveMarket& m = start();
  ingest({{"AAA", {at(0, 1000), 10, 1}}, {"BBB", {at(0, 1000), 20, 1}}});
  ingest({{"AAA", {at(1, 1000), 11, 1}}});
  const std::string query = "/v1/stream/sse?assets=AAA,BBB&interval=1m&history=5";
  const auto target = parse_target(query);
  ASSERT_TRUE(target.has_value());
  HttpRequest request;
  request.method = "GET";
  request.target = query;
  request.path = target->path;
  request.query = target->query;
  int wakes = 0;
  auto result = m.open_sse(request, [&] { ++wakes; });
  ASSERT_TRUE(std::holds_alternative<std::shared_ptr<StreamClient>>(result));
  auto client = std::get<std::shared_ptr<StreamClient>>(result);
  EXPECT_EQ(m.client_count(), 1u);
  EXPECT_EQ(wakes, 1);
  auto messages = drain(*client);
  ASSERT_EQ(messages.size(), 1u);
  const v1::Snapshot& s = messages[0].snapshot();
  ASSERT_EQ(s.candles_size(), 2);
  EXPECT_EQ(s.candles(0).symbol(), "AAA");
  ASSERT_EQ(s.candles(0).ts_size(), 1);
  EXPECT_EQ(s.candles(0).close(0), 10);
  EXPECT_EQ(s.candles(1).symbol(), "BBB");
  EXPECT_EQ(s.candles(1).ts_size(), 0);
  EXPECT_EQ(s.forming_size(), 2);

  ingest({{"BBB", {at(1, 5000), 21, 2}}});
  messages = drain(*client);
  ASSERT_EQ(messages.size(), 2u);  // BBB's minute-0 bar closed, and its new forming bar
  EXPECT_TRUE(messages[0].update().final());
  EXPECT_EQ(candle_of(messages[0].update().candle()), (Candle{minute_start(0), 20, 20, 20, 20, 1}));
  EXPECT_FALSE(messages[1].update().final());
  m.disconnect(client);
  EXPECT_EQ(m.client_count(), 0u);
}

}  // namespace
}  // namespace tickgraph::server
