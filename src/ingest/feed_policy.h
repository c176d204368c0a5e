// What every streaming tick source (kafka_source.h, nats_source.h) does the same way, written
// once: how a message is judged, what a poison message's dead letter carries, how a failing store
// is waited out, and what is counted.
//
// Judging a message, in this order (the first failing check decides):
//   1. undecodable     the payload is not a tickgraph.v1.Tick in the source's format
//   2. wrong_key       the message's key is not the tick's symbol (sources with keys: Kafka,
//                      where the key decides the partition, so a wrongly keyed tick could be
//                      applied out of order with its own symbol's ticks)
//   3. bad_values      check_tick_values: price finite and > 0, size finite and >= 0, time after
//                      1970 and at most an hour ahead of the clock
//   4. unknown_symbol  the sink says it will never take the symbol (TickSink::check_symbol:
//                      not_found or invalid_argument). When the sink cannot tell yet (any other
//                      code: its store does not answer), the source asks again with the backoff
//                      below and decides nothing meanwhile: a good tick is never dead-lettered,
//                      nor a poison message let through.
// A poison message goes to the source's dead-letter destination, unchanged, with the headers
// below, and is acknowledged only once the destination has it. It never stops the feed.
//
// A sink call that fails is one of two things (sink_failure):
//   - the store failing (any code but invalid_argument and not_found; normally unavailable):
//     retried with the backoff below, never dead-lettered;
//   - the sink refusing the batch (invalid_argument, or not_found for an unknown asset; e.g. a
//     tick that passed the checks above against an earlier clock): never retried as it is. The tick
//     the error names (its "index" detail) is dead-lettered with the class "refused" and the rest
//     is tried again at once; an error naming no tick refuses every tick of the call.
//
// Dead-letter headers (one set for every source):
//   tickgraph-reason        why, for people ("price: must be a finite number > 0, got nan")
//   tickgraph-reason-class  the class above ("bad_values")
//   tickgraph-source        "kafka" or "nats"
//   tickgraph-topic         the Kafka topic, or the NATS subject it was published to
//   tickgraph-partition     the Kafka partition, or the JetStream stream
//   tickgraph-offset        the Kafka offset, or the sequence number in the JetStream stream
//
// A failing store (a sink call returning an error, or a symbol it cannot judge) is retried after
// 100 ms, doubling up to 5 s between tries; nothing more is read meanwhile and nothing is
// acknowledged, so memory stays bounded and nothing is lost. The first failure of a streak and
// the recovery are logged; every failed try is counted (FeedStats::store_retries).
//
// Thread-safety: the functions are pure; a StoreRetry is used by one thread at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "ingest/tick_source.h"

namespace tickgraph::ingest {

enum class PoisonReason { kUndecodable, kWrongKey, kBadValues, kUnknownSymbol, kRefused };

// "undecodable", "wrong_key", "bad_values", "unknown_symbol", "refused": the metric label and
// header value.
std::string_view poison_reason_name(PoisonReason reason);

struct Poison {
  PoisonReason reason;
  std::string why;
};

// Checks 1 to 3 above. `key` is the message's key, when the source has keys (a key that is
// absent or empty is not checked).
std::variant<TickRecord, Poison> judge_message(std::string_view payload,
                                               std::optional<std::string_view> key,
                                               TickFormat format, Timestamp now);

// Check 4: what the sink's answer means for the message.
enum class SymbolVerdict { kTake, kPoison, kAskAgain };
SymbolVerdict symbol_verdict(const Status& check_symbol_result);

// What a failed sink call (stage, apply, flush) means: retry it, or dead-letter what it refused.
enum class SinkFailure { kRetry, kRefused };
SinkFailure sink_failure(const Status& failed);
// The index of the tick a refusal names (its "index" detail), when it names one within `size`.
std::optional<std::size_t> refused_index(const Status& refused, std::size_t size);

// Where a dead letter came from, for its headers.
struct DeadLetterOrigin {
  std::string_view source;     // "kafka" or "nats"
  std::string_view topic;      // Kafka topic, or NATS subject
  std::string_view partition;  // Kafka partition, or JetStream stream
  std::int64_t offset = 0;     // Kafka offset, or stream sequence
};

inline constexpr std::string_view kHeaderReason = "tickgraph-reason";
inline constexpr std::string_view kHeaderReasonClass = "tickgraph-reason-class";
inline constexpr std::string_view kHeaderSource = "tickgraph-source";
inline constexpr std::string_view kHeaderTopic = "tickgraph-topic";
inline constexpr std::string_view kHeaderPartition = "tickgraph-partition";
inline constexpr std::string_view kHeaderOffset = "tickgraph-offset";

// The headers of a dead letter, in the order above. Values are one line (a reason may quote any
// input; line breaks become spaces).
std::vector<std::pair<std::string, std::string>> dead_letter_headers(
    const Poison& poison, const DeadLetterOrigin& origin);

// The counters of a source, under the same names for every source (cli/feed.cc exports them as
// the tickgraph_ingest_* metrics).
struct FeedStats {
  std::int64_t received = 0;       // messages read (poison and redeliveries included)
  std::int64_t applied = 0;        // ticks the sink stored (counted once its call returned OK)
  std::int64_t dead_lettered = 0;  // poison messages the dead-letter destination has
  std::map<std::string, std::int64_t> poison;  // dead letters by reason (poison_reason_name)
  std::int64_t store_retries = 0;              // failed sink calls, each retried
  std::int64_t redelivered = 0;  // messages the feed had delivered before (NATS tells; Kafka: 0)
  bool paused = false;           // backing off a failing store: nothing is read meanwhile
};

// The wait between tries of a failing store: 100 ms doubling up to 5 s.
class Backoff {
 public:
  static constexpr Duration kFirst = 100 * kMillisecond;
  static constexpr Duration kMax = 5 * kSecond;
  // The wait before the next try: kFirst, then twice the previous, at most kMax.
  Duration next();
  void reset() { next_ = kFirst; }

 private:
  Duration next_ = kFirst;
};

// Sleeps `d` in short steps; false when `stop` was set first.
bool sleep_unless_stopped(Duration d, const std::atomic<bool>& stop);

// Retries a store call until it works (see the top of this file). `what` names the source in the
// log ("kafka topic 'ticks'"); `update` applies a change to the source's FeedStats under its own
// lock.
class StoreRetry {
 public:
  using UpdateStats = std::function<void(const std::function<void(FeedStats&)>&)>;
  StoreRetry(std::string what, UpdateStats update)
      : what_(std::move(what)), update_(std::move(update)) {}

  // `first` is the first try's outcome. While it failed: counts it, calls `before_pause` (Kafka
  // refreshes its lag, which grows meanwhile; NATS tells the server the held messages are in
  // progress, so that it does not hand them to another source), pauses (Backoff) and tries
  // `attempt` again. True once a try worked; false when `stop` was set first.
  bool until_ok(Status first, const std::function<Status()>& attempt, const std::atomic<bool>& stop,
                const std::function<void()>& before_pause = {});

 private:
  std::string what_;
  UpdateStats update_;
};

}  // namespace tickgraph::ingest
