#include "ingest/feed_policy.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>

namespace tickgraph::ingest {
namespace {

constexpr Timestamp kNow = 1'700'000'000 * kSecond;

std::string payload(const std::string& symbol, Timestamp time, double price, double size) {
  return encode_tick({symbol, {time, price, size}}, TickFormat::kProtobuf);
}

std::string reason_of(const std::variant<TickRecord, Poison>& judged) {
  const auto* poison = std::get_if<Poison>(&judged);
  return poison ? std::string(poison_reason_name(poison->reason)) : "tick";
}

TEST(FeedPolicy, JudgesAMessageInTheDocumentedOrder) {
  // undecodable before wrong_key before bad_values; a good message is its tick.
  const std::string good = payload("SPX", kNow - kSecond, 100, 1);
  auto tick = judge_message(good, std::string_view("SPX"), TickFormat::kProtobuf, kNow);
  ASSERT_EQ(reason_of(tick), "tick");
  EXPECT_EQ(std::get<TickRecord>(tick).symbol, "SPX");
  EXPECT_EQ(std::get<TickRecord>(tick).tick.price, 100);

  EXPECT_EQ(reason_of(judge_message("\xff\xff", std::nullopt, TickFormat::kProtobuf, kNow)),
            "undecodable");
  EXPECT_EQ(reason_of(judge_message(good, std::string_view("AAPL"), TickFormat::kProtobuf, kNow)),
            "wrong_key");
  // A wrong key is found before bad values: the key decides the partition.
  const std::string bad_price = payload("SPX", kNow - kSecond, -1, 1);
  EXPECT_EQ(
      reason_of(judge_message(bad_price, std::string_view("AAPL"), TickFormat::kProtobuf, kNow)),
      "wrong_key");
  EXPECT_EQ(reason_of(judge_message(bad_price, std::nullopt, TickFormat::kProtobuf, kNow)),
            "bad_values");
  // No key (NATS) or an empty one is not checked.
  EXPECT_EQ(reason_of(judge_message(good, std::string_view(""), TickFormat::kProtobuf, kNow)),
            "tick");
  // More than an hour ahead of the clock is a bad value.
  const std::string future = payload("SPX", kNow + 2 * kHour, 100, 1);
  const auto judged = judge_message(future, std::nullopt, TickFormat::kProtobuf, kNow);
  ASSERT_EQ(reason_of(judged), "bad_values");
  EXPECT_NE(std::get<Poison>(judged).why.find("time"), std::string::npos)
      << "the reason names the field";
}

TEST(FeedPolicy, TheSinksAnswerIsTakenByItsCode) {
  // OK takes the tick, not_found and invalid_argument make it poison, anything else asks again.
  EXPECT_EQ(symbol_verdict(Status()), SymbolVerdict::kTake);
  EXPECT_EQ(symbol_verdict(Status::not_found("unknown asset 'X'")), SymbolVerdict::kPoison);
  EXPECT_EQ(symbol_verdict(Status::invalid_argument("bad symbol")), SymbolVerdict::kPoison);
  EXPECT_EQ(symbol_verdict(Status::unavailable("database is locked")), SymbolVerdict::kAskAgain);
  EXPECT_EQ(symbol_verdict(Status::internal("bug")), SymbolVerdict::kAskAgain);
}

TEST(FeedPolicy, ARefusedBatchIsNeverRetriedAStoreFailureAlways) {
  // invalid_argument and not_found refuse (dead-lettered), other codes are retried; a refusal
  // names its tick by the "index" detail when it is within the call.
  EXPECT_EQ(sink_failure(Status::unavailable("locked")), SinkFailure::kRetry);
  EXPECT_EQ(sink_failure(Status::data_loss("corrupt")), SinkFailure::kRetry);
  EXPECT_EQ(sink_failure(Status::invalid_argument("ticks[2].price")), SinkFailure::kRefused);
  EXPECT_EQ(sink_failure(Status::not_found("unknown asset")), SinkFailure::kRefused);
  const Status named = Status::invalid_argument("x").with_detail("index", "2");
  EXPECT_EQ(refused_index(named, 5), std::optional<std::size_t>(2));
  EXPECT_EQ(refused_index(named, 2), std::nullopt) << "out of the call: the whole call";
  EXPECT_EQ(refused_index(Status::invalid_argument("x"), 5), std::nullopt);
  EXPECT_EQ(refused_index(Status::invalid_argument("x").with_detail("index", "2a"), 5),
            std::nullopt);
}

TEST(FeedPolicy, DeadLettersCarryOneSetOfHeaders) {
  // The documented names, in order, for either source; a reason on several lines becomes one.
  const auto headers = dead_letter_headers({PoisonReason::kBadValues, "price: bad\r\nreally"},
                                           {"nats", "tickgraph.v1.ticks.SPX", "TICKS", 42});
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"tickgraph-reason", "price: bad  really"},
      {"tickgraph-reason-class", "bad_values"},
      {"tickgraph-source", "nats"},
      {"tickgraph-topic", "tickgraph.v1.ticks.SPX"},
      {"tickgraph-partition", "TICKS"},
      {"tickgraph-offset", "42"},
  };
  EXPECT_EQ(headers, expected);
}

TEST(FeedPolicy, BackoffDoublesFrom100MsTo5s) {
  // 100, 200, 400 … ms, capped at 5 s, and back to 100 ms after reset.
  Backoff b;
  std::vector<Duration> waits;
  for (int i = 0; i < 8; ++i) waits.push_back(b.next());
  const std::vector<Duration> expected = {
      100 * kMillisecond,  200 * kMillisecond,  400 * kMillisecond, 800 * kMillisecond,
      1600 * kMillisecond, 3200 * kMillisecond, 5 * kSecond,        5 * kSecond};
  EXPECT_EQ(waits, expected);
  b.reset();
  EXPECT_EQ(b.next(), 100 * kMillisecond);
}

TEST(FeedPolicy, StoreRetryCountsEachFailedTryAndPausesMeanwhile) {
  // Two failures then success: two retries counted, paused while failing and not after, the
  // hook called before each pause; a stop during the pause gives up at once.
  FeedStats stats;
  bool paused_seen = false;
  StoreRetry retry("test feed", [&](const std::function<void(FeedStats&)>& f) {
    f(stats);
    paused_seen = paused_seen || stats.paused;
  });
  std::atomic<bool> stop{false};
  int attempts = 0;
  int hooks = 0;
  const bool ok = retry.until_ok(
      Status::unavailable("locked"),
      [&] { return ++attempts < 2 ? Status::unavailable("locked") : Status(); }, stop,
      [&] { ++hooks; });
  EXPECT_TRUE(ok);
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(hooks, 2);
  EXPECT_EQ(stats.store_retries, 2);
  EXPECT_TRUE(paused_seen);
  EXPECT_FALSE(stats.paused);

  stop = true;
  EXPECT_FALSE(retry.until_ok(
      Status::unavailable("locked"), [] { return Status(); }, stop));
  EXPECT_TRUE(retry.until_ok(
      Status(), [] { return Status::internal("not called"); }, stop))
      << "an OK first try needs no retry, stopped or not";
}

}  // namespace
}  // namespace tickgraph::ingest
