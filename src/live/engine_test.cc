// The live engine on its own, against a real SQLite file and with recording update sinks (no
// server): what reaches the stream and bus sinks and in which order, standing graphs' values in
// the store, follow's all-or-nothing commit, and feeds, requests, clients and the clock on
// several threads at once (run under ThreadSanitizer by scripts/sanitize.sh).
#include "live/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "store/store.h"

namespace tickgraph::live {
namespace {

constexpr Timestamp kT0 = Timestamp{1'699'920'000} * kSecond;  // fixed: not from the wall clock

Timestamp at(int minute, int second) { return kT0 + minute * kMinute + second * kSecond; }

// What a sink was given, copied (an Update is valid only during the call).
struct Seen {
  std::string key;
  Candle bar;
  bool final = false;
  std::vector<double> values;
};

class RecordingSink : public UpdateSink {
 public:
  void publish(const Update& update) override {
    std::lock_guard lock(mutex_);
    if (!follows_all_ && update.topic.key != followed_) return;  // as a stream hub filters
    seen_.push_back(
        {update.topic.key, update.bar, update.final, {update.values.begin(), update.values.end()}});
  }
  bool follows(const std::string& key) override {
    std::lock_guard lock(mutex_);
    return follows_all_ || key == followed_;
  }
  void follow_only(std::string key) {
    std::lock_guard lock(mutex_);
    follows_all_ = false;
    followed_ = std::move(key);
  }
  std::vector<Seen> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  mutable std::mutex mutex_;
  bool follows_all_ = true;
  std::string followed_;
  std::vector<Seen> seen_;
};

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = (std::filesystem::temp_directory_path() / "tickgraph-engine-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    auto opened = store::open_store("sqlite:" + dir_ + "/engine.db");
    ASSERT_TRUE(opened.ok()) << opened.message();
    store_ = std::move(opened).value();
    for (const char* symbol : {"AAA", "BBB", "CCC", "DDD"}) {
      Asset a;
      a.symbol = symbol;
      auto stored = store_->upsert_asset(a);
      ASSERT_TRUE(stored.ok()) << stored.message();
      ids_.push_back(stored->id);
    }
  }
  void TearDown() override {
    engine_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  Engine& start(EngineOptions options) {
    options.intervals = {Interval::k1m};
    options.clock = &clock_;
    options.streams = &streams_;
    if (options.bus == nullptr) options.bus = &bus_;
    engine_ = std::make_unique<Engine>(*store_, metrics_, generations_, std::move(options));
    return *engine_;
  }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::vector<std::int64_t> ids_;
  ManualClock clock_{at(0, 0)};
  Metrics metrics_;
  Generations generations_;
  RecordingSink streams_;
  RecordingSink bus_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, ClosedAndFormingBarsReachTheSinksInTheOrderTheyHappen) {
  Engine& engine = start({});
  streams_.follow_only("AAA|1m|");
  ASSERT_TRUE(engine
                  .follow({{"AAA"}, Interval::k1m, "", {}, 10},
                          [](std::span<const TopicSnapshot>) { return Status{}; })
                  .ok());
  const std::vector<TickInput> first{{"AAA", {at(0, 1), 100, 1}}, {"AAA", {at(0, 2), 102, 1}}};
  ASSERT_TRUE(engine.ingest(first, "test").ok());
  const std::vector<TickInput> second{{"AAA", {at(1, 0), 101, 2}}};
  auto counts = engine.ingest(second, "test");
  ASSERT_TRUE(counts.ok()) << counts.status().to_string();
  EXPECT_EQ(counts->accepted, 1);

  const Candle bar0{at(0, 0), 100, 102, 100, 102, 2};
  const Candle bar1{at(1, 0), 101, 101, 101, 101, 2};
  for (const auto* sink : {&streams_, &bus_}) {
    const auto seen = sink->seen();
    ASSERT_EQ(seen.size(), 3U);  // one forming update per batch, the closed bar before the next
    EXPECT_FALSE(seen[0].final);
    EXPECT_EQ(seen[0].bar, bar0);
    EXPECT_TRUE(seen[1].final);
    EXPECT_EQ(seen[1].bar, bar0);
    EXPECT_FALSE(seen[2].final);
    EXPECT_EQ(seen[2].bar, bar1);
  }
  // Without write-behind, ingest() returns with the closed bar stored, and its generation moved.
  auto stored = store_->read_candles(ids_[0], Interval::k1m, {});
  ASSERT_TRUE(stored.ok()) << stored.message();
  ASSERT_EQ(stored->size(), 1U);
  EXPECT_EQ(stored->at(0), bar0);
  EXPECT_EQ(generations_.of("AAA"), 1U);
  EXPECT_EQ(engine.forming("AAA", Interval::k1m), bar1);
}

TEST_F(EngineTest, StandingGraphsGiveTheBusTheirValuesAndTheStoreTheirFinalOnes) {
  ASSERT_TRUE(
      store_->put_graph("sma2", "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n").ok());
  EngineOptions options;
  options.standing = {{"sma2", Interval::k1m}};
  Engine& engine = start(options);
  streams_.follow_only("nothing");  // no client: the topic runs standing
  const double closes[] = {10, 20, 40, 80};
  for (int m = 0; m < 4; ++m) {
    const std::vector<TickInput> tick{{"BBB", {at(m, 0), closes[m], 1}}};
    ASSERT_TRUE(engine.ingest(tick, "test").ok());
  }
  clock_.set(at(4, 0));
  engine.advance_clock(at(4, 0));  // closes minute 3

  std::vector<double> final_values;
  for (const Seen& s : bus_.seen()) {
    if (s.key == "BBB|1m|sma2" && s.final) final_values.push_back(s.values.at(0));
  }
  ASSERT_EQ(final_values.size(), 4U);
  EXPECT_TRUE(std::isnan(final_values[0]));
  EXPECT_EQ(final_values[1], 15);
  EXPECT_EQ(final_values[2], 30);
  EXPECT_EQ(final_values[3], 60);

  auto graph = store_->get_graph("sma2", 0);
  ASSERT_TRUE(graph.ok() && graph->has_value());
  auto stored = store_->read_analytics(ids_[1], (*graph)->graph_id, (*graph)->version, "sma2", {});
  ASSERT_TRUE(stored.ok()) << stored.message();
  ASSERT_EQ(stored->values.size(), 4U);
  EXPECT_EQ(stored->values[3], 60);
  EXPECT_TRUE(streams_.seen().empty());
}

TEST_F(EngineTest, FollowCommitsTheSnapshotsOrNothing) {
  ASSERT_TRUE(
      store_->put_graph("sma2", "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n").ok());
  Engine& engine = start({});
  streams_.follow_only("nothing");
  const std::vector<TickInput> ticks{{"AAA", {at(0, 1), 100, 1}}, {"AAA", {at(1, 1), 110, 1}}};
  ASSERT_TRUE(engine.ingest(ticks, "test").ok());
  int commits = 0;
  auto commit = [&](std::span<const TopicSnapshot>) {
    ++commits;
    return Status{};
  };

  Status unknown = engine.follow({{"AAA", "ZZZ"}, Interval::k1m, "", {}, 10}, commit);
  EXPECT_EQ(unknown.code(), StatusCode::kNotFound) << unknown.to_string();
  EXPECT_EQ(unknown.detail("asset"), "ZZZ");
  Status output = engine.follow({{"AAA"}, Interval::k1m, "sma2", {"nope"}, 10}, commit);
  EXPECT_EQ(output.code(), StatusCode::kInvalidArgument) << output.to_string();
  EXPECT_EQ(output.detail("parameter"), "outputs");
  Status refused = engine.follow(
      {{"AAA"}, Interval::k1m, "sma2", {}, 10},
      [](std::span<const TopicSnapshot>) { return Status::resource_exhausted("no room"); });
  EXPECT_EQ(refused.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(commits, 0);
  EXPECT_EQ(engine.topic_count(), 0U);  // nothing half-followed is left behind

  std::vector<TopicSnapshot> got;
  Status ok = engine.follow({{"AAA"}, Interval::k1m, "sma2", {}, 10},
                            [&](std::span<const TopicSnapshot> snapshots) {
                              for (const auto& s : snapshots) got.push_back(s);
                              return Status{};
                            });
  ASSERT_TRUE(ok.ok()) << ok.to_string();
  ASSERT_EQ(got.size(), 1U);
  EXPECT_EQ(got[0].topic->key, "AAA|1m|sma2");
  ASSERT_EQ(got[0].bars.size(), 1U);  // minute 0, closed by the tick of minute 1
  EXPECT_EQ(got[0].bars.close[0], 100);
  ASSERT_TRUE(got[0].forming.has_value());
  EXPECT_EQ(got[0].forming->close, 110);
  EXPECT_EQ(got[0].forming_values.at(0), 105);  // provisional: (100 + 110) / 2
  // A topic stays while the sink follows it, and goes once it does not.
  streams_.follow_only("AAA|1m|sma2");
  engine.unfollowed();
  EXPECT_EQ(engine.topic_count(), 1U);
  streams_.follow_only("nothing");
  engine.unfollowed();
  EXPECT_EQ(engine.topic_count(), 0U);
}

// Feeds (one delivered twice at once), requests, a client following and leaving, and the clock,
// at once: every tick is stored once, and ThreadSanitizer (scripts/sanitize.sh) sees the engine's
// locks taken in one order.
TEST_F(EngineTest, FeedsRequestsClientsAndTheClockOnSeveralThreadsLoseNothing) {
  EngineOptions options;
  options.writes.write_behind = true;
  options.writes.write_period = std::chrono::milliseconds(5);
  Engine& engine = start(options);
  streams_.follow_only("nothing");  // the client's topics are dropped as it leaves
  constexpr int kBatches = 60;
  auto feed = [&](const std::string& symbol, bool staged) {
    for (int b = 0; b < kBatches; ++b) {
      std::vector<TickInput> batch;
      for (int k = 0; k < 5; ++k) {
        batch.push_back({symbol, {at(b / 10, (b % 10) * 5 + k), 100.0 + b + k, 1}});
      }
      for (;;) {  // a full queue refuses a batch: the feed tries again, as a source does
        auto r = staged ? engine.stage(batch, "feed") : engine.ingest(batch, "api");
        if (r.ok()) break;
        ASSERT_EQ(r.code(), StatusCode::kUnavailable) << r.status().to_string();
        std::this_thread::yield();
      }
    }
  };
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  threads.emplace_back(feed, "AAA", true);
  threads.emplace_back(feed, "BBB", true);
  threads.emplace_back(feed, "CCC", false);
  // The same batches twice at once (a redelivery racing the first delivery): stored once.
  threads.emplace_back(feed, "DDD", true);
  threads.emplace_back(feed, "DDD", true);
  std::thread client([&] {
    while (!done) {
      (void)engine.follow({{"AAA", "BBB"}, Interval::k1m, "", {}, 5},
                          [](std::span<const TopicSnapshot>) { return Status{}; });
      engine.unfollowed();
    }
  });
  std::thread clock([&] {
    while (!done) {
      engine.advance_clock(at(0, 0));
      (void)engine.forming("AAA", Interval::k1m);
    }
  });
  for (auto& t : threads) t.join();
  done = true;
  client.join();
  clock.join();
  ASSERT_TRUE(engine.flush().ok());
  for (std::size_t a = 0; a < 4; ++a) {
    auto ticks = store_->read_ticks(ids_[a], {});
    ASSERT_TRUE(ticks.ok()) << ticks.message();
    EXPECT_EQ(ticks->size(), static_cast<std::size_t>(kBatches * 5)) << "asset " << a;
    auto bars = store_->read_candles(ids_[a], Interval::k1m, {});
    ASSERT_TRUE(bars.ok());
    EXPECT_EQ(bars->size(), static_cast<std::size_t>(kBatches / 10 - 1));  // the last one forms
  }
}

}  // namespace
}  // namespace tickgraph::live
