// NatsBus and NatsTickSource against real nats-server processes (testing/nats_server.h).
#include <gtest/gtest.h>
#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ingest/nats_bus.h"
#include "ingest/nats_source.h"
#include "ingest/testing/nats_server.h"
#include "ingest/tick_source.h"

namespace tickgraph::ingest {
namespace {

using std::chrono::milliseconds;
using testing::NatsCluster;
using testing::NatsServer;

const std::vector<std::string> kSymbols = {"SPX", "NDX", "AAPL", "MSFT"};

Timestamp wall_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Tick i of a run: a day ago plus i ms, so check_tick_values accepts it.
TickRecord make_tick(Timestamp base, int i, const std::string& symbol) {
  return {symbol, {base + i * kMillisecond, 100.0 + (i % 100) * 0.25, 1.0 + i % 7}};
}

std::string key_of(const TickRecord& tick) {
  return tick.symbol + "@" + std::to_string(tick.tick.time);
}

// The keys of ticks 0..n-1 of make_tick over kSymbols in turn (as the tests publish them).
std::set<std::string> published_keys(Timestamp base, int n) {
  std::set<std::string> keys;
  for (int i = 0; i < n; ++i) {
    keys.insert(
        key_of(make_tick(base, i, kSymbols[static_cast<std::size_t>(i) % kSymbols.size()])));
  }
  return keys;
}

std::set<std::string> keys_of(const std::map<std::string, int>& applications) {
  std::set<std::string> keys;
  for (const auto& [key, count] : applications) keys.insert(key);
  return keys;
}

bool wait_until(const std::function<bool()>& done, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

// Records what it is given, counting every application of a tick so that at-least-once can be
// checked; can be told to fail its next N applies, and knows a set of symbols.
class RecordingSink : public TickSink {
 public:
  explicit RecordingSink(std::set<std::string> symbols = {kSymbols.begin(), kSymbols.end()})
      : symbols_(std::move(symbols)) {}

  Status check_symbol(std::string_view symbol) override {
    if (unanswered_ > 0) {
      --unanswered_;
      ++unanswered_calls_;
      return Status::unavailable("store unavailable (test)");
    }
    if (symbols_.contains(std::string(symbol))) return {};
    return Status::not_found("unknown asset '" + std::string(symbol) + "'");
  }
  // The next n check_symbol() calls cannot tell (as while the store does not answer).
  void unanswered(int n) { unanswered_ = n; }
  int unanswered_calls() const { return unanswered_calls_.load(); }

  Status apply(std::span<const TickRecord> ticks) override {
    const std::lock_guard lock(mutex_);
    if (fail_next_ > 0) {
      --fail_next_;
      ++failures_;
      return Status::unavailable("store unavailable (test)");
    }
    for (const auto& tick : ticks) {
      ++applications_[key_of(tick)];
      order_.push_back(tick);
    }
    return {};
  }

  void idle(Timestamp /*now*/) override { ++idle_calls_; }

  void fail_next(int n) {
    const std::lock_guard lock(mutex_);
    fail_next_ = n;
  }
  std::size_t distinct() const {
    const std::lock_guard lock(mutex_);
    return applications_.size();
  }
  int failures() const {
    const std::lock_guard lock(mutex_);
    return failures_;
  }
  std::map<std::string, int> applications() const {
    const std::lock_guard lock(mutex_);
    return applications_;
  }
  std::vector<TickRecord> order() const {
    const std::lock_guard lock(mutex_);
    return order_;
  }
  int idle_calls() const { return idle_calls_.load(); }

 private:
  std::set<std::string> symbols_;
  mutable std::mutex mutex_;
  int fail_next_ = 0;
  int failures_ = 0;
  std::map<std::string, int> applications_;
  std::vector<TickRecord> order_;
  std::atomic<int> idle_calls_{0};
  std::atomic<int> unanswered_{0};
  std::atomic<int> unanswered_calls_{0};
};

// Publishes into JetStream with libnats directly, as a producer would.
class JetStreamPublisher {
 public:
  explicit JetStreamPublisher(const std::vector<std::string>& urls) {
    std::vector<const char*> servers;
    for (const auto& url : urls) servers.push_back(url.c_str());
    natsOptions* options = nullptr;
    natsStatus s = natsOptions_Create(&options);
    if (s == NATS_OK)
      s = natsOptions_SetServers(options, servers.data(), static_cast<int>(servers.size()));
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(options, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(options, 100);
    if (s == NATS_OK) s = natsConnection_Connect(&connection_, options);
    natsOptions_Destroy(options);
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.PublishAsync.MaxPending = 4000;
    js_options.PublishAsync.StallWait = 5000;
    if (s == NATS_OK) s = natsConnection_JetStream(&js_, connection_, &js_options);
    EXPECT_EQ(s, NATS_OK) << nats_error_text(s);
  }
  ~JetStreamPublisher() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (connection_ != nullptr) natsConnection_Destroy(connection_);
  }
  JetStreamPublisher(const JetStreamPublisher&) = delete;
  JetStreamPublisher& operator=(const JetStreamPublisher&) = delete;

  // Publishes without waiting for the ack (see complete()).
  void publish_async(const std::string& subject, const std::string& payload) {
    const natsStatus s = js_PublishAsync(js_, subject.c_str(), payload.data(),
                                         static_cast<int>(payload.size()), nullptr);
    ASSERT_EQ(s, NATS_OK) << nats_error_text(s);
  }
  // Waits until every asynchronous publish is acknowledged.
  void complete() {
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MaxWait = 20000;
    const natsStatus s = js_PublishAsyncComplete(js_, &options);
    ASSERT_EQ(s, NATS_OK) << nats_error_text(s);
  }
  // Publishes and waits for the stream's ack, retrying (with the same message id, so the
  // stream keeps one copy) while the cluster fails over; false after `timeout`.
  bool publish_until_stored(const std::string& subject, const std::string& payload,
                            const std::string& message_id, milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MsgId = message_id.c_str();
    options.MaxWait = 1000;
    while (std::chrono::steady_clock::now() < deadline) {
      jsPubAck* ack = nullptr;
      if (js_Publish(&ack, js_, subject.c_str(), payload.data(), static_cast<int>(payload.size()),
                     &options, nullptr) == NATS_OK) {
        jsPubAck_Destroy(ack);
        return true;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }

 private:
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
};

// Runs a source on a thread of its own until destroyed.
class SourceRunner {
 public:
  SourceRunner(NatsTickSource& source, TickSink& sink)
      : thread_([this, &source, &sink] { result_ = source.run(sink, stop_); }) {}
  ~SourceRunner() { stop(); }
  SourceRunner(const SourceRunner&) = delete;
  SourceRunner& operator=(const SourceRunner&) = delete;
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    EXPECT_TRUE(result_.ok()) << result_.message();
  }

 private:
  std::atomic<bool> stop_{false};
  Status result_;
  std::thread thread_;
};

std::unique_ptr<NatsServer> start_server() {
  auto server = NatsServer::start();
  EXPECT_TRUE(server.ok()) << server.message();
  if (!server.ok()) return nullptr;
  const Status ready = testing::wait_for_jetstream({(*server)->url()}, 10000);
  EXPECT_TRUE(ready.ok()) << ready.message();
  return std::move(server).value();
}

std::unique_ptr<NatsTickSource> open_source(const NatsSourceOptions& options) {
  auto source = NatsTickSource::open(options);
  EXPECT_TRUE(source.ok()) << source.message();
  return source.ok() ? std::move(source).value() : nullptr;
}

std::unique_ptr<NatsBus> connect_bus(const std::vector<std::string>& servers) {
  auto bus = NatsBus::connect({servers, "nats_test", 100});
  EXPECT_TRUE(bus.ok()) << bus.message();
  return bus.ok() ? std::move(bus).value() : nullptr;
}

std::string subject_of(const std::string& symbol) { return "tickgraph.v1.ticks." + symbol; }

// ---------------------------------------------------------------------------------------------

TEST(ParseNatsServers, SplitsTrimsAndNamesTheBadEntry) {
  // A comma-separated server list becomes URLs; a non-NATS or empty entry is named.
  auto servers = parse_nats_servers("nats://a:4222, nats://b:4223");
  ASSERT_TRUE(servers.ok()) << servers.message();
  EXPECT_EQ(*servers, (std::vector<std::string>{"nats://a:4222", "nats://b:4223"}));
  auto bad = parse_nats_servers("nats://a:4222,http://b:80");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("'http://b:80'"), std::string::npos) << bad.message();
  EXPECT_FALSE(parse_nats_servers("nats://a:4222,").ok());
  EXPECT_FALSE(parse_nats_servers("").ok());
}

TEST(NatsBus, ConnectFailureNamesTheServers) {
  // With no server listening, connect fails with a message naming the URL and libnats' reason.
  auto bus = NatsBus::connect({{"nats://127.0.0.1:1"}});
  ASSERT_FALSE(bus.ok());
  EXPECT_NE(bus.message().find("nats://127.0.0.1:1"), std::string::npos) << bus.message();
  EXPECT_NE(bus.message().find("No server available"), std::string::npos) << bus.message();
}

TEST(NatsBus, PublishSubscribeRoundTripWithWildcardsAndHeaders) {
  // Messages reach exact, * and > subscriptions with their subject, payload and headers.
  auto server = start_server();
  ASSERT_TRUE(server);
  auto bus = connect_bus({server->url()});
  ASSERT_TRUE(bus);
  std::mutex mutex;
  std::vector<std::string> exact, star, tail;
  std::vector<NatsHeaders> headers;
  const auto recorder = [&mutex](std::vector<std::string>& into) {
    return [&mutex, &into](std::string_view subject, std::string_view data) {
      const std::lock_guard lock(mutex);
      into.push_back(std::string(subject) + "=" + std::string(data));
    };
  };
  ASSERT_TRUE(bus->subscribe("bars.SPX.1m", recorder(exact)).ok());
  ASSERT_TRUE(bus->subscribe("bars.*.1m", recorder(star)).ok());
  ASSERT_TRUE(bus->subscribe("bars.>", recorder(tail)).ok());
  ASSERT_TRUE(bus->subscribe_with_headers("control.x",
                                          [&](const NatsMessage& message) {
                                            const std::lock_guard lock(mutex);
                                            headers.push_back(message.headers);
                                            EXPECT_EQ(message.header("A"), "1");
                                            EXPECT_EQ(message.data, "payload");
                                          })
                  .ok());

  ASSERT_TRUE(bus->publish("bars.SPX.1m", "a").ok());
  ASSERT_TRUE(bus->publish("bars.NDX.1m", "b").ok());
  ASSERT_TRUE(bus->publish("bars.NDX.5m.extra", std::string("c\0d", 3)).ok());
  ASSERT_TRUE(bus->publish("control.x", "payload", {{"A", "1"}, {"B", "two words"}}).ok());
  ASSERT_TRUE(bus->flush(2000).ok());

  ASSERT_TRUE(wait_until([&] { return bus->stats().received == 7; }, milliseconds(5000)));
  const std::lock_guard lock(mutex);
  EXPECT_EQ(exact, (std::vector<std::string>{"bars.SPX.1m=a"}));
  EXPECT_EQ(star, (std::vector<std::string>{"bars.SPX.1m=a", "bars.NDX.1m=b"}));
  EXPECT_EQ(tail, (std::vector<std::string>{"bars.SPX.1m=a", "bars.NDX.1m=b",
                                            "bars.NDX.5m.extra=" + std::string("c\0d", 3)}));
  ASSERT_EQ(headers.size(), 1U);
  EXPECT_EQ(headers[0], (NatsHeaders{{"A", "1"}, {"B", "two words"}}));
  const auto stats = bus->stats();
  EXPECT_EQ(stats.published, 4);
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(bus->connected_url(), server->url());
}

TEST(NatsBus, KeepsWorkingAcrossAServerRestart) {
  // A bus reconnects after its server restarts, re-subscribes, and delivers what was published
  // while the server was down (the reconnect buffer) and after.
  auto server = start_server();
  ASSERT_TRUE(server);
  auto bus = connect_bus({server->url()});
  ASSERT_TRUE(bus);
  std::mutex mutex;
  std::vector<std::string> got;
  ASSERT_TRUE(bus->subscribe("live.>",
                             [&](std::string_view, std::string_view data) {
                               const std::lock_guard lock(mutex);
                               got.emplace_back(data);
                             })
                  .ok());
  ASSERT_TRUE(bus->publish("live.a", "before").ok());
  ASSERT_TRUE(wait_until([&] { return bus->stats().received == 1; }, milliseconds(5000)));

  ASSERT_TRUE(server->kill().ok());
  ASSERT_TRUE(wait_until([&] { return !bus->stats().connected; }, milliseconds(5000)));
  ASSERT_TRUE(bus->publish("live.a", "while down").ok()) << "kept in the reconnect buffer";
  EXPECT_FALSE(bus->flush(100).ok());

  ASSERT_TRUE(server->restart().ok()) << server->log_tail();
  ASSERT_TRUE(wait_until([&] { return bus->stats().reconnects >= 1; }, milliseconds(10000)));
  ASSERT_TRUE(bus->publish("live.b", "after").ok());
  ASSERT_TRUE(bus->flush(2000).ok());
  ASSERT_TRUE(wait_until([&] { return bus->stats().received == 3; }, milliseconds(5000)));
  const std::lock_guard lock(mutex);
  EXPECT_EQ(got, (std::vector<std::string>{"before", "while down", "after"}));
  const auto stats = bus->stats();
  EXPECT_GE(stats.disconnects, 1);
  EXPECT_TRUE(stats.connected);
}

TEST(NatsBus, ClosesPromptlyWhileItsServerIsDown) {
  // Destroying a bus that is trying to reconnect does not wait for the drain timeout.
  auto server = start_server();
  ASSERT_TRUE(server);
  auto bus = connect_bus({server->url()});
  ASSERT_TRUE(bus);
  ASSERT_TRUE(bus->subscribe("x", [](std::string_view, std::string_view) {}).ok());
  ASSERT_TRUE(server->kill().ok());
  ASSERT_TRUE(wait_until([&] { return !bus->stats().connected; }, milliseconds(5000)));
  const auto started = std::chrono::steady_clock::now();
  bus.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(1000));
}

TEST(NatsTickSource, OpenFailsWithReasons) {
  // Bad options and a stream the server cannot create fail open with a message naming them.
  auto server = start_server();
  ASSERT_TRUE(server);
  NatsSourceOptions options;
  options.servers = {server->url()};
  options.durable = "bad.name";
  auto source = NatsTickSource::open(options);
  ASSERT_FALSE(source.ok());
  EXPECT_NE(source.message().find("durable"), std::string::npos) << source.message();

  options.durable = "ingest";
  options.replicas = 3;  // a single server cannot hold 3 replicas
  source = NatsTickSource::open(options);
  ASSERT_FALSE(source.ok());
  EXPECT_NE(source.message().find("stream 'TICKS'"), std::string::npos) << source.message();
  EXPECT_NE(source.message().find(server->url()), std::string::npos) << source.message();

  options.replicas = 1;
  options.dead_letter_subject = "tickgraph.v1.ticks.dead";  // inside the stream's subjects
  source = NatsTickSource::open(options);
  ASSERT_FALSE(source.ok());
  EXPECT_NE(source.message().find("'tickgraph.v1.ticks.>'"), std::string::npos) << source.message();
}

TEST(NatsTickSource, IngestsTwentyThousandProtobufTicksInOrder) {
  // 20,000 ticks published to JetStream are all applied, per symbol in publish order, and the
  // consumer's pending count drops to 0; idle() is called once the stream is drained.
  auto server = start_server();
  ASSERT_TRUE(server);
  NatsSourceOptions options;
  options.servers = {server->url()};
  options.idle_close_ms = 300;
  auto source = open_source(options);
  ASSERT_TRUE(source);
  RecordingSink sink;
  SourceRunner runner(*source, sink);

  constexpr int kTicks = 20000;
  const Timestamp base = wall_now() - kDay;
  {
    JetStreamPublisher publisher({server->url()});
    for (int i = 0; i < kTicks; ++i) {
      const auto tick = make_tick(base, i, kSymbols[static_cast<std::size_t>(i) % kSymbols.size()]);
      publisher.publish_async(subject_of(tick.symbol), encode_tick(tick, TickFormat::kProtobuf));
    }
    publisher.complete();
  }
  // The source's count, taken once apply() returned: after it, the sink has every tick.
  ASSERT_TRUE(wait_until([&] { return source->stats().applied == kTicks; }, milliseconds(30000)))
      << sink.distinct();
  EXPECT_EQ(sink.distinct(), kTicks);
  ASSERT_TRUE(wait_until([&] { return source->stats().pending == 0; }, milliseconds(5000)))
      << source->stats().pending;
  ASSERT_TRUE(wait_until([&] { return sink.idle_calls() >= 1; }, milliseconds(5000)));

  EXPECT_EQ(keys_of(sink.applications()), published_keys(base, kTicks));
  std::map<std::string, Timestamp> last;
  for (const auto& tick : sink.order()) {
    EXPECT_GT(tick.tick.time, last[tick.symbol]) << tick.symbol;
    last[tick.symbol] = tick.tick.time;
  }
  const auto stats = source->stats();
  EXPECT_EQ(stats.applied, kTicks);
  EXPECT_EQ(stats.received, kTicks);
  EXPECT_EQ(stats.dead_lettered, 0);
  EXPECT_EQ(stats.redelivered, 0);
  EXPECT_EQ(stats.stream, "TICKS");
}

TEST(NatsTickSource, IngestsJsonTicks) {
  // With format json, ticks in the protobuf JSON mapping are decoded and applied exactly.
  auto server = start_server();
  ASSERT_TRUE(server);
  NatsSourceOptions options;
  options.servers = {server->url()};
  options.format = TickFormat::kJson;
  auto source = open_source(options);
  ASSERT_TRUE(source);
  RecordingSink sink;
  SourceRunner runner(*source, sink);

  const Timestamp base = wall_now() - kDay;
  std::vector<TickRecord> sent;
  {
    JetStreamPublisher publisher({server->url()});
    for (int i = 0; i < 500; ++i) {
      sent.push_back(make_tick(base, i, "SPX"));
      publisher.publish_async(subject_of("SPX"), encode_tick(sent.back(), TickFormat::kJson));
    }
    publisher.complete();
  }
  ASSERT_TRUE(wait_until([&] { return sink.distinct() == sent.size(); }, milliseconds(10000)));
  const auto order = sink.order();
  ASSERT_EQ(order.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(order[i].tick.time, sent[i].tick.time);
    EXPECT_EQ(order[i].tick.price, sent[i].tick.price);
    EXPECT_EQ(order[i].tick.size, sent[i].tick.size);
  }
}

TEST(NatsTickSource, PoisonGoesToTheDeadLetterSubjectWithItsReason) {
  // Undecodable bytes, an unknown symbol, a negative size and a NaN price each go to the
  // dead-letter subject with their reason, subject and stream sequence in headers, are counted
  // by class, and the good ticks around them are applied in order.
  auto server = start_server();
  ASSERT_TRUE(server);
  NatsSourceOptions options;
  options.servers = {server->url()};
  auto source = open_source(options);
  ASSERT_TRUE(source);

  auto watcher = connect_bus({server->url()});
  ASSERT_TRUE(watcher);
  std::mutex mutex;
  std::vector<NatsHeaders> dead_headers;
  std::vector<std::string> dead_payloads;
  ASSERT_TRUE(watcher
                  ->subscribe_with_headers(options.dead_letter_subject,
                                           [&](const NatsMessage& message) {
                                             const std::lock_guard lock(mutex);
                                             dead_headers.push_back(message.headers);
                                             dead_payloads.emplace_back(message.data);
                                           })
                  .ok());
  ASSERT_TRUE(watcher->flush(2000).ok());

  const Timestamp base = wall_now() - kDay;
  const std::string garbage = "not a tick";
  ASSERT_FALSE(decode_tick(garbage, TickFormat::kProtobuf).ok());
  TickRecord unknown = make_tick(base, 100, "XYZ");
  TickRecord negative_size = make_tick(base, 101, "SPX");
  negative_size.tick.size = -1;
  TickRecord nan_price = make_tick(base, 102, "NDX");
  nan_price.tick.price = std::numeric_limits<double>::quiet_NaN();
  struct Message {
    std::string subject, payload;
  };
  const auto good = [&](int i) {
    const auto tick = make_tick(base, i, "SPX");
    return Message{subject_of("SPX"), encode_tick(tick, TickFormat::kProtobuf)};
  };
  const std::vector<Message> messages = {
      good(0), {subject_of("SPX"), garbage},
      good(1), {subject_of("XYZ"), encode_tick(unknown, TickFormat::kProtobuf)},
      good(2), {subject_of("SPX"), encode_tick(negative_size, TickFormat::kProtobuf)},
      good(3), {subject_of("NDX"), encode_tick(nan_price, TickFormat::kProtobuf)},
      good(4),
  };
  {
    JetStreamPublisher publisher({server->url()});
    for (const auto& message : messages) publisher.publish_async(message.subject, message.payload);
    publisher.complete();
  }
  RecordingSink sink;
  SourceRunner runner(*source, sink);
  ASSERT_TRUE(wait_until([&] { return sink.distinct() == 5 && source->stats().dead_lettered == 4; },
                         milliseconds(10000)));
  ASSERT_TRUE(wait_until(
      [&] {
        const std::lock_guard lock(mutex);
        return dead_headers.size() == 4;
      },
      milliseconds(5000)));

  const auto order = sink.order();
  ASSERT_EQ(order.size(), 5U);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(order[static_cast<std::size_t>(i)].tick.time, base + i * kMillisecond);

  const auto header = [](const NatsHeaders& headers, std::string_view key) {
    return std::string(NatsMessage{{}, {}, headers}.header(key));
  };
  struct Expected {
    std::string reason_class, reason_part, subject, sequence;
  };
  const std::vector<Expected> expected = {
      {"undecodable", "not a protobuf tickgraph.v1.Tick", subject_of("SPX"), "2"},
      {"unknown_symbol", "unknown asset 'XYZ'", subject_of("XYZ"), "4"},
      {"bad_values", "size: must be a finite number >= 0", subject_of("SPX"), "6"},
      {"bad_values", "price: must be a finite number > 0", subject_of("NDX"), "8"},
  };
  const std::lock_guard lock(mutex);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(expected[i].reason_class + " " + expected[i].sequence);
    EXPECT_NE(header(dead_headers[i], "tickgraph-reason").find(expected[i].reason_part),
              std::string::npos)
        << header(dead_headers[i], "tickgraph-reason");
    EXPECT_EQ(header(dead_headers[i], "tickgraph-reason-class"), expected[i].reason_class);
    EXPECT_EQ(header(dead_headers[i], "tickgraph-source"), "nats");
    EXPECT_EQ(header(dead_headers[i], "tickgraph-topic"), expected[i].subject);
    EXPECT_EQ(header(dead_headers[i], "tickgraph-partition"), "TICKS");
    EXPECT_EQ(header(dead_headers[i], "tickgraph-offset"), expected[i].sequence);
    EXPECT_EQ(dead_payloads[i], messages[std::stoul(expected[i].sequence) - 1].payload);
  }
  const auto stats = source->stats();
  EXPECT_EQ(stats.dead_lettered, 4);
  EXPECT_EQ(stats.applied, 5);
  EXPECT_EQ(stats.poison, (std::map<std::string, std::int64_t>{
                              {"undecodable", 1}, {"unknown_symbol", 1}, {"bad_values", 2}}));
}

TEST(NatsTickSource, ASymbolTheSinkCannotJudgeYetIsAskedAgainNeitherPassedNorLost) {
  // While the sink cannot tell whether it takes a symbol (its store does not answer), the source
  // waits and asks again. A source stopped meanwhile hands the batch back unacknowledged; the
  // next one dead-letters the unknown symbol's tick (not dropped) and applies the others in order.
  auto server = start_server();
  ASSERT_TRUE(server);
  NatsSourceOptions options;
  options.servers = {server->url()};
  const Timestamp base = wall_now() - kDay;
  {
    auto source = open_source(options);  // creates the stream
    ASSERT_TRUE(source);
    {
      JetStreamPublisher publisher({server->url()});
      publisher.publish_async(subject_of("SPX"),
                              encode_tick(make_tick(base, 0, "SPX"), TickFormat::kProtobuf));
      publisher.publish_async(subject_of("XYZ"),
                              encode_tick(make_tick(base, 1, "XYZ"), TickFormat::kProtobuf));
      publisher.publish_async(subject_of("SPX"),
                              encode_tick(make_tick(base, 2, "SPX"), TickFormat::kProtobuf));
      publisher.complete();
    }
    RecordingSink never;
    never.unanswered(1'000'000);
    SourceRunner runner(*source, never);
    ASSERT_TRUE(wait_until([&] { return never.unanswered_calls() >= 2; }, milliseconds(10000)));
    runner.stop();
    EXPECT_EQ(never.distinct(), 0U);
    EXPECT_EQ(source->stats().dead_lettered, 0);
    EXPECT_EQ(source->stats().applied, 0);
  }
  auto source = open_source(options);
  ASSERT_TRUE(source);
  RecordingSink sink;
  sink.unanswered(3);
  SourceRunner runner(*source, sink);
  // Well within the 10 s ack wait: the stopped source handed its batch back.
  ASSERT_TRUE(wait_until([&] { return sink.distinct() == 2 && source->stats().dead_lettered == 1; },
                         milliseconds(10000)));
  const auto order = sink.order();
  ASSERT_EQ(order.size(), 2U);
  EXPECT_EQ(order[0].tick.time, base);
  EXPECT_EQ(order[1].tick.time, base + 2 * kMillisecond);
  EXPECT_EQ(sink.unanswered_calls(), 3);
  const auto stats = source->stats();
  EXPECT_EQ(stats.poison, (std::map<std::string, std::int64_t>{{"unknown_symbol", 1}}));
  EXPECT_EQ(stats.redelivered, 3);
}

TEST(NatsTickSource, RetriesAFailingApplyWithoutLosingOrAckingEarly) {
  // An apply failing 3 times is retried with backoff until it works, and nothing is lost. Then,
  // with the store down for good, a stopped source has acknowledged nothing: a new source with
  // the same durable gets those messages again at once.
  auto server = start_server();
  ASSERT_TRUE(server);
  NatsSourceOptions options;
  options.servers = {server->url()};
  JetStreamPublisher publisher({server->url()});
  const Timestamp base = wall_now() - kDay;
  {
    auto source = open_source(options);
    ASSERT_TRUE(source);
    RecordingSink sink;
    sink.fail_next(3);
    for (int i = 0; i < 100; ++i) {
      publisher.publish_async(subject_of("SPX"),
                              encode_tick(make_tick(base, i, "SPX"), TickFormat::kProtobuf));
    }
    publisher.complete();
    const auto started = std::chrono::steady_clock::now();
    SourceRunner runner(*source, sink);
    // The source counts ticks applied once the sink's apply() returned OK for them, so waiting
    // for its count (not for the sink to have seen them) makes the two agree.
    ASSERT_TRUE(wait_until([&] { return source->stats().applied == 100; }, milliseconds(10000)));
    EXPECT_EQ(sink.distinct(), 100);
    // 100 + 200 + 400 ms of backoff.
    EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(700));
    EXPECT_EQ(sink.failures(), 3);
    for (const auto& [key, count] : sink.applications()) EXPECT_EQ(count, 1) << key;
    const auto stats = source->stats();
    EXPECT_EQ(stats.applied, 100);
    EXPECT_EQ(stats.received, 100) << "nothing fetched while the apply failed";
  }
  {
    auto source = open_source(options);
    ASSERT_TRUE(source);
    RecordingSink broken;
    broken.fail_next(1'000'000);
    for (int i = 100; i < 150; ++i) {
      publisher.publish_async(subject_of("SPX"),
                              encode_tick(make_tick(base, i, "SPX"), TickFormat::kProtobuf));
    }
    publisher.complete();
    SourceRunner runner(*source, broken);
    ASSERT_TRUE(wait_until([&] { return broken.failures() >= 2; }, milliseconds(10000)));
    runner.stop();
    EXPECT_EQ(source->stats().applied, 0);
    EXPECT_EQ(broken.distinct(), 0U);
  }
  auto source = open_source(options);
  ASSERT_TRUE(source);
  RecordingSink sink;
  SourceRunner runner(*source, sink);
  // Well within the 10 s ack wait: the stopped source handed its batch back.
  ASSERT_TRUE(wait_until([&] { return sink.distinct() == 50; }, milliseconds(10000)));
  const auto order = sink.order();
  EXPECT_EQ(order.front().tick.time, base + 100 * kMillisecond);
  EXPECT_EQ(order.back().tick.time, base + 149 * kMillisecond);
  EXPECT_EQ(source->stats().redelivered, 50);
}

TEST(NatsTickSource, ANewSourceResumesWhereTheAcksLeftOff) {
  // A source stopped mid-run and a new one with the same durable together apply every tick,
  // and the new one does not start over.
  auto server = start_server();
  ASSERT_TRUE(server);
  NatsSourceOptions options;
  options.servers = {server->url()};
  options.batch = 100;
  constexpr int kTicks = 10000;
  const Timestamp base = wall_now() - kDay;
  RecordingSink sink;
  std::int64_t first_applied = 0;
  {
    auto source = open_source(options);
    ASSERT_TRUE(source);
    {
      JetStreamPublisher publisher({server->url()});
      for (int i = 0; i < kTicks; ++i) {
        const auto tick =
            make_tick(base, i, kSymbols[static_cast<std::size_t>(i) % kSymbols.size()]);
        publisher.publish_async(subject_of(tick.symbol), encode_tick(tick, TickFormat::kProtobuf));
      }
      publisher.complete();
    }
    SourceRunner runner(*source, sink);
    ASSERT_TRUE(wait_until([&] { return sink.distinct() >= 3000; }, milliseconds(20000)));
    runner.stop();
    first_applied = source->stats().applied;
    ASSERT_LT(first_applied, kTicks) << "stopped too late to test anything";
  }
  auto source = open_source(options);
  ASSERT_TRUE(source);
  SourceRunner runner(*source, sink);
  ASSERT_TRUE(wait_until([&] { return sink.distinct() == kTicks; }, milliseconds(20000)))
      << sink.distinct();
  ASSERT_TRUE(wait_until([&] { return source->stats().pending == 0; }, milliseconds(5000)));
  EXPECT_EQ(keys_of(sink.applications()), published_keys(base, kTicks));
  const auto stats = source->stats();
  EXPECT_EQ(stats.received, kTicks - first_applied);
  EXPECT_EQ(stats.redelivered, 0);
}

TEST(NatsTickSourceCluster, SurvivesTheLossOfANodeWithThreeReplicas) {
  // In a 3-node cluster with a 3-replica stream, ingestion continues while one node (the first,
  // the one both clients connect to) is killed mid-run, and every published tick arrives.
  auto cluster = NatsCluster::start(3);
  ASSERT_TRUE(cluster.ok()) << cluster.message();
  const auto urls = (*cluster)->urls();
  NatsSourceOptions options;
  options.servers = urls;
  options.replicas = 3;
  options.batch = 200;
  // Messages in flight through the killed node are lost on the way and come back after this.
  options.ack_wait_ms = 2000;
  Result<std::unique_ptr<NatsTickSource>> opened = Status::unavailable("not tried");
  // The meta leader may still be learning about its peers.
  ASSERT_TRUE(wait_until(
      [&] {
        opened = NatsTickSource::open(options);
        return opened.ok();
      },
      milliseconds(20000)))
      << opened.message();
  auto& source = *opened;
  RecordingSink sink;
  SourceRunner runner(*source, sink);

  constexpr int kTicks = 3000;
  const Timestamp base = wall_now() - kDay;
  std::atomic<int> published{0};
  std::atomic<bool> publish_failed{false};
  std::thread producer([&] {
    JetStreamPublisher publisher(urls);
    for (int i = 0; i < kTicks; ++i) {
      const auto tick = make_tick(base, i, kSymbols[static_cast<std::size_t>(i) % kSymbols.size()]);
      if (!publisher.publish_until_stored(subject_of(tick.symbol),
                                          encode_tick(tick, TickFormat::kProtobuf),
                                          "tick-" + std::to_string(i), milliseconds(20000))) {
        publish_failed = true;
        return;
      }
      published = i + 1;
      if (i % 10 == 0) std::this_thread::sleep_for(milliseconds(5));
    }
  });
  ASSERT_TRUE(wait_until([&] { return sink.distinct() >= 500; }, milliseconds(20000)));
  ASSERT_TRUE((*cluster)->kill(0).ok());
  const std::size_t at_kill = sink.distinct();
  producer.join();
  ASSERT_FALSE(publish_failed.load()) << "published " << published.load();
  ASSERT_TRUE(wait_until([&] { return sink.distinct() == kTicks; }, milliseconds(30000)))
      << sink.distinct() << " of " << kTicks << " (" << at_kill << " at the kill)";
  EXPECT_EQ(keys_of(sink.applications()), published_keys(base, kTicks));
  EXPECT_LT(at_kill, static_cast<std::size_t>(kTicks)) << "the kill came after the end";
  EXPECT_GE(source->stats().reconnects, 1) << "the source was not on the killed node";
}

}  // namespace
}  // namespace tickgraph::ingest
