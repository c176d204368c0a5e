// KafkaTickSource against librdkafka's mock cluster: three real Kafka brokers on 127.0.0.1 in
// this process, spoken to over the Kafka protocol by the source's own consumer and producer.
// The sink records what it is given, can fail on demand (a store that is down) and knows a set
// of symbols (auto-create off).
#include "ingest/kafka_source.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace tickgraph::ingest {
namespace {

using namespace std::chrono_literals;

Timestamp day_ago() {
  const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return (now - kDay) / kMinute * kMinute;
}

// The cluster and a producer for the test's messages.
class MockKafka {
 public:
  explicit MockKafka(int partitions) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cluster_ = rd_kafka_mock_cluster_new(host_, 3);
    bootstrap_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    rd_kafka_mock_topic_create(cluster_, "ticks", partitions, 3);
    rd_kafka_mock_topic_create(cluster_, "ticks.deadletter", 1, 3);
    rd_kafka_conf_t* pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
    rd_kafka_conf_set(pconf, "linger.ms", "5", err, sizeof err);
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err);
    topic_ = rd_kafka_topic_new(producer_, "ticks", nullptr);
  }
  ~MockKafka() {
    rd_kafka_flush(producer_, 5000);
    rd_kafka_topic_destroy(topic_);
    rd_kafka_destroy(producer_);
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(host_);
  }
  MockKafka(const MockKafka&) = delete;
  MockKafka& operator=(const MockKafka&) = delete;

  const std::string& bootstrap() const { return bootstrap_; }
  rd_kafka_mock_cluster_t* cluster() { return cluster_; }

  void produce(std::string_view key, std::string_view value) {
    for (;;) {
      if (rd_kafka_produce(topic_, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                           const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
                           nullptr) == 0) {
        return;
      }
      const rd_kafka_resp_err_t err = rd_kafka_last_error();
      ASSERT_EQ(err, RD_KAFKA_RESP_ERR__QUEUE_FULL) << rd_kafka_err2str(err);
      rd_kafka_poll(producer_, 10);
    }
  }
  void produce_tick(const TickRecord& t, TickFormat format = TickFormat::kProtobuf) {
    produce(t.symbol, encode_tick(t, format));
  }
  void flush() { ASSERT_EQ(rd_kafka_flush(producer_, 10000), RD_KAFKA_RESP_ERR_NO_ERROR); }

  // Every message of the dead-letter topic: (key, value, headers).
  struct Letter {
    std::string key, value;
    std::map<std::string, std::string> headers;
  };
  std::vector<Letter> dead_letters(std::size_t expected) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "dead-letter-reader", err, sizeof err);
    rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, "ticks.deadletter", 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, list);
    rd_kafka_topic_partition_list_destroy(list);
    std::vector<Letter> out;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 100);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Letter l;
        l.key.assign(static_cast<const char*>(m->key), m->key_len);
        l.value.assign(static_cast<const char*>(m->payload), m->len);
        rd_kafka_headers_t* headers = nullptr;
        if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* name = nullptr;
          const void* value = nullptr;
          std::size_t size = 0;
          for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                                  RD_KAFKA_RESP_ERR_NO_ERROR;
               ++i) {
            l.headers[name] = std::string(static_cast<const char*>(value), size);
          }
        }
        out.push_back(std::move(l));
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return out;
  }

  // The group's committed offsets, per partition (-1001 = none).
  std::map<int, std::int64_t> committed(const std::string& group, int partitions) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap_.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err);
    rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, "ticks", p);
    std::map<int, std::int64_t> out;
    if (rd_kafka_committed(c, list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(c);
    return out;
  }

 private:
  rd_kafka_t* host_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_topic_t* topic_ = nullptr;
};

class RecordingSink : public TickSink {
 public:
  std::set<std::string> known;  // empty: every symbol
  // The next this many check_symbol() calls cannot tell (as while the store does not answer).
  std::atomic<int> unanswered{0};
  std::atomic<int> fail_next{0};
  std::atomic<bool> failing{false};
  // Refuses batches once it holds this many ticks (a worker stopped part way, however fast it
  // reads).
  std::atomic<std::size_t> cap{std::numeric_limits<std::size_t>::max()};

  Status check_symbol(std::string_view symbol) override {
    if (unanswered > 0) {
      --unanswered;
      return Status::unavailable("store: database is locked");
    }
    if (known.empty() || known.contains(std::string(symbol))) return {};
    return Status::not_found("unknown asset '" + std::string(symbol) + "'");
  }
  Status apply(std::span<const TickRecord> ticks) override {
    if (failing) return Status::unavailable("store: database is locked");
    if (fail_next > 0) {
      --fail_next;
      return Status::unavailable("store: database is locked");
    }
    std::lock_guard lock(mu_);
    if (applied_.size() >= cap) return Status::unavailable("store: full (the test's cap)");
    applied_.insert(applied_.end(), ticks.begin(), ticks.end());
    ++calls_;
    return {};
  }
  void release(std::span<const std::string> symbols) override {
    std::lock_guard lock(mu_);
    released_.insert(released_.end(), symbols.begin(), symbols.end());
  }
  void idle(Timestamp) override { ++idles_; }

  std::vector<TickRecord> applied() const {
    std::lock_guard lock(mu_);
    return applied_;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return applied_.size();
  }
  std::vector<std::string> released() const {
    std::lock_guard lock(mu_);
    return released_;
  }
  int idles() const { return idles_; }

 private:
  mutable std::mutex mu_;
  std::vector<TickRecord> applied_;
  std::vector<std::string> released_;
  int calls_ = 0;
  std::atomic<int> idles_{0};
};

// A source running on its own thread until stopped.
class Running {
 public:
  Running(const KafkaSourceOptions& options, TickSink& sink) {
    auto source = KafkaTickSource::open(options);
    EXPECT_TRUE(source.ok()) << source.message();
    source_ = std::move(*source);
    thread_ = std::thread([this, &sink] { result_ = source_->run(sink, stop_); });
  }
  ~Running() { (void)stop(); }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
  Status stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  KafkaSourceStats stats() const { return source_->stats(); }

 private:
  std::unique_ptr<KafkaTickSource> source_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  Status result_;
};

bool wait_for(const std::function<bool()>& done, std::chrono::seconds limit = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

KafkaSourceOptions options_for(const MockKafka& kafka, std::string group) {
  KafkaSourceOptions o;
  o.brokers = kafka.bootstrap();
  o.topic = "ticks";
  o.group = std::move(group);
  o.batch = 500;
  o.idle_close_ms = 300;
  o.config = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}, {"log_level", "3"}};
  return o;
}

// n ticks over `symbols` symbols, interleaved, times increasing by 1 ms.
std::vector<TickRecord> make_ticks(int n, int symbols, Timestamp start) {
  std::vector<TickRecord> out;
  for (int i = 0; i < n; ++i) {
    const int s = i % symbols;
    out.push_back({"S" + std::to_string(s),
                   {start + static_cast<Timestamp>(i) * kMillisecond, 100.0 + s + (i % 97) * 0.01,
                    static_cast<double>(1 + i % 5)}});
  }
  return out;
}

// Per symbol, the ticks in the order they were applied.
std::map<std::string, std::vector<Timestamp>> by_symbol(const std::vector<TickRecord>& ticks) {
  std::map<std::string, std::vector<Timestamp>> out;
  for (const auto& t : ticks) out[t.symbol].push_back(t.tick.time);
  return out;
}

TEST(KafkaTickSource, RefusesBadOptions) {
  KafkaSourceOptions o;
  EXPECT_EQ(KafkaTickSource::open(o).message(), "brokers: required (host:port[,host:port…])");
  o.brokers = "127.0.0.1:1";
  EXPECT_EQ(KafkaTickSource::open(o).message(), "topic: required");
  o.topic = "t";
  o.dead_letter_topic = "t";
  EXPECT_EQ(KafkaTickSource::open(o).message(), "dead-letter topic: must differ from the topic");
  o.dead_letter_topic.clear();
  o.config = {{"no.such.property", "1"}};
  EXPECT_NE(KafkaTickSource::open(o).message().find("no.such.property"), std::string::npos);
}

TEST(KafkaTickSource, ConsumesEveryTickInOrderPerSymbolAndCommitsAfterStoring) {
  MockKafka kafka(4);
  const auto ticks = make_ticks(20000, 10, day_ago());
  for (const auto& t : ticks) kafka.produce_tick(t);
  kafka.flush();
  RecordingSink sink;
  Running run(options_for(kafka, "g1"), sink);
  ASSERT_TRUE(wait_for([&] { return sink.count() >= ticks.size(); })) << sink.count();
  ASSERT_TRUE(wait_for([&] {
    std::int64_t sum = 0;
    for (const auto& [p, o] : kafka.committed("g1", 4)) sum += std::max<std::int64_t>(o, 0);
    return sum == static_cast<std::int64_t>(ticks.size());
  }));
  // Caught up and quiet: the sink is told, so bars may close by the clock.
  EXPECT_TRUE(wait_for([&] { return sink.idles() > 0; }, 10s));
  ASSERT_TRUE(run.stop().ok());
  EXPECT_EQ(by_symbol(sink.applied()), by_symbol(ticks));  // all, once, in order per symbol
  const auto stats = run.stats();
  EXPECT_EQ(stats.received, 20000);
  EXPECT_EQ(stats.applied, 20000);
  for (const auto& p : stats.partitions) EXPECT_EQ(p.lag, 0) << "partition " << p.partition;
}

TEST(KafkaTickSource, ReadsTheJsonMapping) {
  MockKafka kafka(2);
  const auto ticks = make_ticks(1000, 3, day_ago());
  for (const auto& t : ticks) kafka.produce_tick(t, TickFormat::kJson);
  kafka.flush();
  RecordingSink sink;
  auto o = options_for(kafka, "gjson");
  o.format = TickFormat::kJson;
  Running run(o, sink);
  ASSERT_TRUE(wait_for([&] { return sink.count() >= ticks.size(); }));
  EXPECT_TRUE(run.stop().ok());
  EXPECT_EQ(by_symbol(sink.applied()), by_symbol(ticks));
  EXPECT_EQ(sink.applied().front().tick.price, ticks.front().tick.price);
}

TEST(KafkaTickSource, PoisonGoesToTheDeadLetterTopicWithItsReason) {
  MockKafka kafka(1);  // one partition: the good ticks' order around the poison is checked
  const Timestamp t0 = day_ago();
  kafka.produce_tick({"GOOD", {t0, 10, 1}});
  kafka.produce("GOOD", "\xff\xff\xff not protobuf");
  kafka.produce_tick({"GOOD", {t0 + 1, 11, 1}});
  kafka.produce_tick({"NOPE", {t0 + 2, 10, 1}});  // unknown asset, auto-create off
  kafka.produce_tick({"GOOD", {t0 + 3, 10, -5}});
  kafka.produce_tick({"GOOD", {t0 + 4, std::nan(""), 1}});
  kafka.produce_tick({"OTHER", {t0 + 5, 10, 1}});  // keyed OTHER below
  kafka.produce_tick({"GOOD", {t0 + 6, 12, 1}});
  kafka.flush();
  // A tick whose key is not its symbol would break the one-symbol-one-partition rule.
  kafka.produce("GOOD", encode_tick({"OTHER", {t0 + 7, 10, 1}}, TickFormat::kProtobuf));
  kafka.produce_tick({"GOOD", {t0 + 8, 13, 1}});
  kafka.flush();
  RecordingSink sink;
  sink.known = {"GOOD", "OTHER"};
  Running run(options_for(kafka, "gpoison"), sink);
  ASSERT_TRUE(wait_for([&] { return sink.count() >= 5; }));
  const auto letters = kafka.dead_letters(5);
  ASSERT_TRUE(wait_for([&] { return run.stats().dead_lettered == 5; }));
  EXPECT_TRUE(run.stop().ok());
  std::vector<Timestamp> good;
  for (const auto& t : sink.applied()) good.push_back(t.tick.time);
  EXPECT_EQ(good, (std::vector<Timestamp>{t0, t0 + 1, t0 + 5, t0 + 6, t0 + 8}));
  ASSERT_EQ(letters.size(), 5u);
  EXPECT_EQ(letters[0].value, "\xff\xff\xff not protobuf");
  EXPECT_EQ(letters[0].key, "GOOD");
  EXPECT_NE(letters[0].headers.at("tickgraph-reason").find("not a protobuf tickgraph.v1.Tick"),
            std::string::npos);
  EXPECT_EQ(letters[0].headers.at("tickgraph-source"), "kafka");
  EXPECT_EQ(letters[0].headers.at("tickgraph-topic"), "ticks");
  EXPECT_EQ(letters[0].headers.at("tickgraph-partition"), "0");
  EXPECT_EQ(letters[0].headers.at("tickgraph-offset"), "1");
  EXPECT_EQ(letters[1].headers.at("tickgraph-reason"), "unknown asset 'NOPE'");
  EXPECT_EQ(letters[2].headers.at("tickgraph-reason"),
            "size: must be a finite number >= 0, got -5");
  EXPECT_EQ(letters[3].headers.at("tickgraph-reason"),
            "price: must be a finite number > 0, got nan");
  EXPECT_EQ(letters[4].headers.at("tickgraph-reason"),
            "key 'GOOD' is not the tick's symbol 'OTHER'");
  const std::vector<std::string> classes = {"undecodable", "unknown_symbol", "bad_values",
                                            "bad_values", "wrong_key"};
  for (std::size_t i = 0; i < classes.size(); ++i) {
    EXPECT_EQ(letters[i].headers.at("tickgraph-reason-class"), classes[i]) << i;
  }
  const auto stats = run.stats();
  EXPECT_EQ(stats.poison.at("undecodable"), 1);
  EXPECT_EQ(stats.poison.at("unknown_symbol"), 1);
  EXPECT_EQ(stats.poison.at("bad_values"), 2);
  EXPECT_EQ(stats.poison.at("wrong_key"), 1);
  EXPECT_EQ(kafka.committed("gpoison", 1).at(0), 10);  // past the poison too
}

TEST(KafkaTickSource, ASymbolTheSinkCannotJudgeYetIsAskedAgainNeitherPassedNorLost) {
  // While the sink cannot tell whether it takes a symbol (its store does not answer), reading
  // waits and asks again: the unknown symbol's tick is then dead-lettered, not dropped, and the
  // ticks around it applied in order. A worker stopped while waiting commits nothing past it.
  MockKafka kafka(1);
  const Timestamp t0 = day_ago();
  kafka.produce_tick({"GOOD", {t0, 10, 1}});
  kafka.produce_tick({"NOPE", {t0 + 1, 10, 1}});  // unknown asset, auto-create off
  kafka.produce_tick({"GOOD", {t0 + 2, 11, 1}});
  kafka.flush();
  {
    RecordingSink never;
    never.unanswered = std::numeric_limits<int>::max();
    Running run(options_for(kafka, "gask"), never);
    ASSERT_TRUE(wait_for([&] { return run.stats().store_retries >= 2; }));
    EXPECT_TRUE(run.stats().paused);
    EXPECT_TRUE(run.stop().ok());
    EXPECT_EQ(never.count(), 0u);
    EXPECT_EQ(run.stats().dead_lettered, 0);
  }
  EXPECT_LT(kafka.committed("gask", 1).at(0), 0);  // nothing committed
  RecordingSink sink;
  sink.known = {"GOOD"};
  sink.unanswered = 3;
  Running run(options_for(kafka, "gask"), sink);
  const auto letters = kafka.dead_letters(1);
  ASSERT_TRUE(wait_for([&] { return sink.count() >= 2 && run.stats().dead_lettered == 1; }));
  EXPECT_TRUE(run.stop().ok());
  std::vector<Timestamp> good;
  for (const auto& t : sink.applied()) good.push_back(t.tick.time);
  EXPECT_EQ(good, (std::vector<Timestamp>{t0, t0 + 2}));
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].headers.at("tickgraph-reason"), "unknown asset 'NOPE'");
  EXPECT_EQ(letters[0].headers.at("tickgraph-offset"), "1");
  EXPECT_EQ(sink.unanswered, 0);
  const auto stats = run.stats();
  EXPECT_EQ(stats.store_retries, 3);
  EXPECT_EQ(stats.poison.at("unknown_symbol"), 1);
  EXPECT_FALSE(stats.paused);
  EXPECT_EQ(kafka.committed("gask", 1).at(0), 3);
}

TEST(KafkaTickSource, FailingSinkIsRetriedAndNothingIsCommittedBeforeItStores) {
  MockKafka kafka(2);
  const auto ticks = make_ticks(2000, 4, day_ago());
  for (const auto& t : ticks) kafka.produce_tick(t);
  kafka.flush();
  RecordingSink sink;
  sink.failing = true;
  Running run(options_for(kafka, "gfail"), sink);
  ASSERT_TRUE(wait_for([&] { return run.stats().store_retries >= 3; }));
  const auto stats = run.stats();
  EXPECT_TRUE(stats.paused);
  // Reading is paused: no more than the failing batch and the next one were read.
  EXPECT_LE(stats.received, 2 * 500);
  for (const auto& [p, o] : kafka.committed("gfail", 2)) EXPECT_LT(o, 0) << "partition " << p;
  sink.failing = false;
  ASSERT_TRUE(wait_for([&] { return sink.count() >= ticks.size(); }));
  EXPECT_TRUE(run.stop().ok());
  EXPECT_EQ(by_symbol(sink.applied()), by_symbol(ticks));
  EXPECT_FALSE(run.stats().paused);
}

TEST(KafkaTickSource, ARestartedWorkerGoesOnFromTheLastCommit) {
  MockKafka kafka(3);
  const auto ticks = make_ticks(30000, 6, day_ago());
  for (const auto& t : ticks) kafka.produce_tick(t);
  kafka.flush();
  RecordingSink first;
  first.cap = 1000;  // the worker stages ahead of its commits: stop it part way
  {
    auto o = options_for(kafka, "grestart");
    o.batch = 100;
    Running run(o, first);
    ASSERT_TRUE(wait_for([&] { return first.count() >= 1000; }));
    EXPECT_TRUE(run.stop().ok());
  }
  ASSERT_LT(first.count(), ticks.size());
  RecordingSink second;
  Running run(options_for(kafka, "grestart"), second);
  ASSERT_TRUE(wait_for([&] {
    return first.count() + second.count() >= ticks.size() &&
           by_symbol(second.applied()).size() == 6;
  }));
  EXPECT_TRUE(run.stop().ok());
  // The second picks up exactly after the first's commits: together, every tick once.
  auto all = first.applied();
  const auto more = second.applied();
  all.insert(all.end(), more.begin(), more.end());
  EXPECT_EQ(by_symbol(all), by_symbol(ticks));
}

TEST(KafkaTickSource, TwoWorkersInOneGroupSplitTheSymbols) {
  MockKafka kafka(4);
  const auto ticks = make_ticks(40000, 12, day_ago());
  for (std::size_t i = 0; i < ticks.size() / 2; ++i) kafka.produce_tick(ticks[i]);
  kafka.flush();
  RecordingSink a;
  RecordingSink b;
  auto o = options_for(kafka, "gsplit");
  o.batch = 200;
  Running run_a(o, a);
  ASSERT_TRUE(wait_for([&] { return a.count() > 0; }));
  Running run_b(o, b);  // joins: a rebalance gives it some partitions
  ASSERT_TRUE(wait_for([&] { return run_b.stats().partitions.size() > 0; }, 60s));
  for (std::size_t i = ticks.size() / 2; i < ticks.size(); ++i) kafka.produce_tick(ticks[i]);
  kafka.flush();
  ASSERT_TRUE(wait_for(
      [&] {
        std::set<std::pair<std::string, Timestamp>> seen;
        for (const auto& t : a.applied()) seen.insert({t.symbol, t.tick.time});
        for (const auto& t : b.applied()) seen.insert({t.symbol, t.tick.time});
        return seen.size() == ticks.size();
      },
      60s));
  EXPECT_TRUE(run_a.stop().ok());
  EXPECT_TRUE(run_b.stop().ok());
  EXPECT_GE(run_a.stats().rebalances, 2);
  EXPECT_GT(b.count(), 0u);
  EXPECT_FALSE(a.released().empty());  // a gave symbols away and forgot them
  // Each worker saw each of its symbols' ticks in order, apart from redeliveries: a commit the
  // coordinator refuses during a rebalance ("rebalance in progress") leaves messages to be
  // delivered again, which is what at-least-once allows and the store's idempotent writes absorb.
  for (const auto* sink : {&a, &b}) {
    for (const auto& [symbol, times] : by_symbol(sink->applied())) {
      std::set<Timestamp> seen;
      std::vector<Timestamp> first_seen;
      for (const Timestamp t : times) {
        if (seen.insert(t).second) first_seen.push_back(t);
      }
      EXPECT_TRUE(std::is_sorted(first_seen.begin(), first_seen.end())) << symbol;
    }
  }
}

TEST(KafkaTickSource, SurvivesABrokerGoingDownAndUp) {
  MockKafka kafka(2);
  const auto ticks = make_ticks(8000, 4, day_ago());
  for (std::size_t i = 0; i < 2000; ++i) kafka.produce_tick(ticks[i]);
  kafka.flush();
  RecordingSink sink;
  Running run(options_for(kafka, "gdown"), sink);
  ASSERT_TRUE(wait_for([&] { return sink.count() >= 2000; }));
  // Down goes every partition's leader in turn (the mock's leaders are brokers 1 to 3).
  for (int broker = 1; broker <= 3; ++broker) {
    ASSERT_EQ(rd_kafka_mock_broker_set_down(kafka.cluster(), broker), RD_KAFKA_RESP_ERR_NO_ERROR);
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(rd_kafka_mock_broker_set_up(kafka.cluster(), broker), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  for (std::size_t i = 2000; i < ticks.size(); ++i) kafka.produce_tick(ticks[i]);
  kafka.flush();
  ASSERT_TRUE(wait_for([&] { return sink.count() >= ticks.size(); }, 60s)) << sink.count();
  EXPECT_TRUE(run.stop().ok());
  std::set<std::pair<std::string, Timestamp>> seen;
  for (const auto& t : sink.applied()) seen.insert({t.symbol, t.tick.time});
  EXPECT_EQ(seen.size(), ticks.size());
}

}  // namespace
}  // namespace tickgraph::ingest
