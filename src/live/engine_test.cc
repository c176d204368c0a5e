// The live engine on its own, against a real SQLite file and with recording update sinks (no
// server): what reaches the stream and bus sinks and in which order, standing graphs' values in
// the store, follow's all-or-nothing commit, and feeds, requests, clients and the clock on
// several threads at once (run under ThreadSanitizer by scripts/sanitize.sh).
#include "live/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "store/observed_store_test_util.h"
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

  // An engine over `store` (default: the fixture's SQLite file).
  Engine& start(EngineOptions options, store::Store* store = nullptr) {
    options.intervals = {Interval::k1m};
    options.clock = &clock_;
    options.streams = &streams_;
    if (options.bus == nullptr) options.bus = &bus_;
    engine_ = std::make_unique<Engine>(store != nullptr ? *store : *store_, metrics_, generations_,
                                       std::move(options));
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

// Tells, from inside a store call, whether the calling thread holds the engine lock: a second
// thread asks the engine for a forming bar, which takes that lock. Held, the answer cannot come
// before the store call returns, so it is not there within the wait (1 s: free, the lock is taken
// in microseconds). Needs every store call on one thread (write-behind off).
class LockProbe {
 public:
  explicit LockProbe(Engine& engine) : engine_(engine) {}
  ~LockProbe() {
    for (auto& t : threads_) t.join();
  }
  LockProbe(const LockProbe&) = delete;
  LockProbe& operator=(const LockProbe&) = delete;

  void check(std::string_view call) {
    auto answered = std::make_shared<std::promise<void>>();
    std::future<void> answer = answered->get_future();
    threads_.emplace_back([this, answered] {
      (void)engine_.forming("AAA", Interval::k1m);
      answered->set_value();
    });
    ++calls_;
    if (answer.wait_for(std::chrono::seconds(1)) == std::future_status::timeout) {
      under_lock_.emplace_back(call);  // joined later: it gets the lock once this call returns
    }
  }
  int calls() const { return calls_; }
  const std::vector<std::string>& under_lock() const { return under_lock_; }

 private:
  Engine& engine_;
  std::vector<std::thread> threads_;
  int calls_ = 0;
  std::vector<std::string> under_lock_;
};

// Every store call of the engine on the way of an asset's first batch (its resume, a standing
// graph's warm-up and the values the store lacks), a redelivered batch, a request's ticks, a new
// graph topic and a candle topic followed, and the clock: none is made holding the engine lock.
TEST_F(EngineTest, NoStoreCallIsMadeUnderTheEngineLock) {
  ASSERT_TRUE(
      store_->put_graph("sma2", "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n").ok());
  // History from before this process: two closed bars and a tick of the bar that was forming.
  const std::vector<store::StoredTick> before{
      {at(0, 0), 0, 10, 1}, {at(1, 0), 0, 20, 1}, {at(2, 0), 0, 30, 1}};
  ASSERT_TRUE(store_->write_ticks(ids_[0], before).ok());
  ASSERT_TRUE(store_
                  ->write_candles(ids_[0], Interval::k1m,
                                  std::vector<Candle>{{at(0, 0), 10, 10, 10, 10, 1},
                                                      {at(1, 0), 20, 20, 20, 20, 1}})
                  .ok());
  store::ObservedStore observed(*store_);
  EngineOptions options;
  options.standing = {{"sma2", Interval::k1m}};
  Engine& engine = start(options, &observed);
  streams_.follow_only("nothing");
  LockProbe probe(engine);
  observed.set_hook([&](std::string_view call) { probe.check(call); });

  const std::vector<TickInput> first{{"AAA", {at(2, 30), 31, 1}}};  // resumes minute 2
  ASSERT_TRUE(engine.stage(first, "feed").ok());
  ASSERT_TRUE(engine.flush().ok());
  ASSERT_TRUE(engine.stage(first, "feed").ok());  // delivered again: the redelivery check
  ASSERT_TRUE(engine.flush().ok());
  const std::vector<TickInput> posted{{"AAA", {at(3, 0), 32, 1}}, {"BBB", {at(3, 0), 50, 1}}};
  ASSERT_TRUE(engine.ingest(posted, "api").ok());
  auto keep = [](std::span<const TopicSnapshot>) { return Status{}; };
  ASSERT_TRUE(engine.follow({{"CCC"}, Interval::k1m, "sma2", {}, 10}, keep).ok());
  ASSERT_TRUE(engine.follow({{"AAA"}, Interval::k1m, "", {}, 10}, keep).ok());
  clock_.set(at(4, 0));
  engine.advance_clock(at(4, 0));
  ASSERT_TRUE(engine.flush().ok());
  observed.set_hook(nullptr);

  EXPECT_GT(probe.calls(), 10);  // the probe did look
  EXPECT_TRUE(probe.under_lock().empty())
      << "store calls under the engine lock: " << ::testing::PrintToString(probe.under_lock());
  // And the work was done: the standing values of minutes 0..3 are stored, ticks stored once.
  auto graph = store_->get_graph("sma2", 0);
  ASSERT_TRUE(graph.ok() && graph->has_value());
  auto values = store_->read_analytics(ids_[0], (*graph)->graph_id, (*graph)->version, "sma2", {});
  ASSERT_TRUE(values.ok()) << values.message();
  EXPECT_EQ(values->values.size(), 4U);
  auto ticks = store_->read_ticks(ids_[0], {});
  ASSERT_TRUE(ticks.ok());
  EXPECT_EQ(ticks->size(), 5U);
}

// What the engine read of the store before its lock is not used when it stopped being current:
// a second delivery of the same ticks keyed meanwhile. The first delivery is paused right after
// its redelivery check's read, and the second one runs whole in that pause (on the same thread,
// from the store's hook), so the race happens every time. The tick new to both is stored once:
// the first delivery sees that its read is stale and reads again under the lock.
TEST_F(EngineTest, ARedeliveryCheckReadBeforeAnotherDeliveryIsReadAgain) {
  store::ObservedStore observed(*store_);
  Engine& engine = start({}, &observed);
  streams_.follow_only("nothing");
  const std::vector<TickInput> earlier{{"DDD", {at(0, 1), 100, 1}}, {"DDD", {at(0, 2), 101, 1}}};
  ASSERT_TRUE(engine.stage(earlier, "feed").ok());
  ASSERT_TRUE(engine.flush().ok());
  // Reaches back to the asset's last tick (a redelivery check reads the store), one tick new.
  const std::vector<TickInput> batch{{"DDD", {at(0, 2), 101, 1}}, {"DDD", {at(0, 3), 102, 1}}};
  bool raced = false;
  IngestCounts second;
  observed.set_hook([&](std::string_view call) {
    if (call != "read_ticks" || raced) return;
    raced = true;  // the first delivery's read is done: the second delivery comes now
    auto counts = engine.stage(batch, "feed");
    ASSERT_TRUE(counts.ok()) << counts.status().to_string();
    second = *counts;
    ASSERT_TRUE(engine.flush().ok());
  });
  auto first = engine.stage(batch, "feed");
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_TRUE(engine.flush().ok());
  observed.set_hook(nullptr);

  ASSERT_TRUE(raced);
  EXPECT_EQ(second.accepted, 1);
  EXPECT_EQ(second.unchanged, 1);
  EXPECT_EQ(first->accepted, 0);
  EXPECT_EQ(first->unchanged, 2);
  auto ticks = store_->read_ticks(ids_[3], {});
  ASSERT_TRUE(ticks.ok()) << ticks.message();
  EXPECT_EQ(ticks->size(), 3U);
  EXPECT_EQ(engine.forming("DDD", Interval::k1m)->volume, 3);  // each tick applied once
}

// A standing graph's warm-up read before its lock is not used once the graph changed meanwhile:
// the new version runs, and its values are stored under that version.
TEST_F(EngineTest, AStandingWarmUpReadBeforeAGraphChangeIsReadAgain) {
  ASSERT_TRUE(
      store_->put_graph("sma2", "nodes:\n  sma2: {fn: sma, input: close, period: 2}\n").ok());
  ASSERT_TRUE(store_
                  ->write_candles(ids_[1], Interval::k1m,
                                  std::vector<Candle>{{at(0, 0), 10, 10, 10, 10, 1},
                                                      {at(1, 0), 20, 20, 20, 20, 1}})
                  .ok());
  store::ObservedStore observed(*store_);
  EngineOptions options;
  options.standing = {{"sma2", Interval::k1m}};
  Engine& engine = start(options, &observed);
  streams_.follow_only("nothing");
  bool changed = false;
  observed.set_hook([&](std::string_view call) {
    if (call != "latest_candles" || changed) return;
    changed = true;  // the warm-up bars of version 1 are read: version 2 comes now
    ASSERT_TRUE(
        store_->put_graph("sma2", "nodes:\n  sma2: {fn: sma, input: close, period: 3}\n").ok());
    engine.graph_changed("sma2");
  });
  const std::vector<TickInput> tick{{"BBB", {at(2, 0), 30, 1}}};
  ASSERT_TRUE(engine.ingest(tick, "test").ok());
  observed.set_hook(nullptr);
  ASSERT_TRUE(changed);

  auto v2 = store_->get_graph("sma2", 2);
  ASSERT_TRUE(v2.ok() && v2->has_value());
  auto stored = store_->read_analytics(ids_[1], (*v2)->graph_id, 2, "sma2", {});
  ASSERT_TRUE(stored.ok()) << stored.message();
  ASSERT_EQ(stored->values.size(), 2U);  // the warm bars' values, of the 3-bar average
  EXPECT_TRUE(std::isnan(stored->values[1]));
  auto v1 = store_->read_analytics(ids_[1], (*v2)->graph_id, 1, "sma2", {});
  ASSERT_TRUE(v1.ok()) << v1.message();
  EXPECT_TRUE(v1->values.empty());
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
