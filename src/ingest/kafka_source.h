// Ticks from a Kafka topic (librdkafka), in a consumer group, into a TickSink.
//
// Several workers with the same group split the topic's partitions; producers key each tick by
// its symbol, so one symbol stays in one partition and so with one worker at a time. When a
// partition is revoked (a rebalance), the ticks already read from it are applied and committed
// first, then the sink releases its symbols; the worker that receives the partition resumes them
// from the store (see TickSink and LiveMarket).
//
// The loop: read up to `batch` messages (what is there, or the first to arrive within
// `batch_wait_ms`); judge each (feed_policy.h: undecodable, wrong_key, bad_values,
// unknown_symbol); stage the good ones in the sink (applied to the live state and published at
// once, while the batches before are still being stored); then, on a second thread, send poison
// messages to the dead-letter topic with the headers of feed_policy.h, flush the sink, and once
// it says the ticks are stored and the dead-letter producer has them, commit the offsets. Batches
// staged while a flush runs wait and go together with the next one. Nothing is committed before it
// is stored: a crash or a SIGKILL redelivers from the last commit, and the sink's idempotent writes
// make the redelivery change nothing.
//
// Backpressure: when the sink fails (the store is down or locked), the batch is retried with the
// policy's backoff (feed_policy.h: 100 ms doubling to 5 s) and nothing more is read meanwhile; so
// is a message whose symbol the sink cannot judge yet (check_symbol: the store does not answer).
// librdkafka prefetches at most `max_buffer_messages` messages and `max_buffer_kbytes` of payload
// per consumer, so memory stays flat however far the feed runs ahead. (librdkafka 2.0 looks at a
// full prefetch queue again only about once a second, so the bound must hold more than a second of
// ticks, or catching up on a backlog stalls at the bound's size per second: 100,000, its default,
// held ingest to about 250,000 ticks/s; see bench/ingest_bench.cc.)
//
// Thread-safety: run() on one thread; stats() from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "ingest/feed_policy.h"
#include "ingest/tick_source.h"

namespace tickgraph::ingest {

struct KafkaSourceOptions {
  std::string brokers;  // host:port[,host:port…]
  std::string topic;
  std::string group = "tickgraph-ingest";
  TickFormat format = TickFormat::kProtobuf;
  std::string dead_letter_topic;  // "" = `<topic>.deadletter`
  std::size_t batch = 5000;       // messages per sink call at most
  int batch_wait_ms = 20;    // how long an empty batch waits for a first message (then it takes
                             // what is already there and goes)
  int idle_close_ms = 2000;  // caught up and quiet this long: sink.idle()
  int max_buffer_messages = 250000;  // prefetch bound in messages (queued.min.messages)
  int max_buffer_kbytes = 16384;     // and in payload (queued.max.messages.kbytes)
  // More librdkafka properties ("session.timeout.ms" …), applied last.
  std::map<std::string, std::string> config;
  // Bounds tick times (at most an hour ahead) and measures quiet time for idle_close_ms.
  const Clock* clock = &system_clock();
};

struct PartitionLag {
  int partition = 0;
  std::int64_t position = -1;        // next offset to read; -1 before the first read
  std::int64_t high_watermark = -1;  // the partition's end, as last seen
  std::int64_t lag = -1;             // high_watermark - position; -1 while the end is unknown
};

// The counters every source has (FeedStats), and Kafka's own.
struct KafkaSourceStats : FeedStats {
  std::int64_t commits = 0;
  std::int64_t rebalances = 0;
  std::vector<PartitionLag> partitions;  // the assigned ones
};

class KafkaTickSource {
 public:
  // Checks the options and creates the consumer and the dead-letter producer; connects lazily.
  static Result<std::unique_ptr<KafkaTickSource>> open(const KafkaSourceOptions& options);
  ~KafkaTickSource();
  KafkaTickSource(const KafkaTickSource&) = delete;
  KafkaTickSource& operator=(const KafkaTickSource&) = delete;

  // Consumes until `stop` is set, then applies and commits what it read, leaves the group (the
  // partitions move at once) and returns. An error only for what cannot go on (the topic does
  // not exist, a fatal client error); the sink's failures are retried, not returned.
  Status run(TickSink& sink, const std::atomic<bool>& stop);

  KafkaSourceStats stats() const;

 private:
  struct Impl;
  explicit KafkaTickSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickgraph::ingest
