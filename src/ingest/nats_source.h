// Ingests ticks from a NATS JetStream stream through a durable pull consumer, into a TickSink
// (tick_source.h), at least once.
//
// Stream and consumer. open() connects (NatsBus), creates the stream when it does not exist
// (file storage, `replicas` copies, the given subjects; an existing stream is used as it is), and
// creates the durable pull consumer when it does not exist (explicit acks, deliver all,
// ack_wait_ms, unlimited deliveries). Several sources with the same durable share its messages
// (scale-out); a new source with the same durable continues after the last acknowledged message.
//
// The loop (run). Fetch up to `batch` messages, waiting at most max_wait_ms. Each message is
// judged in order by the feed policy (feed_policy.h: undecodable, bad_values, unknown_symbol;
// while the sink cannot tell a symbol, because its store does not answer, it is asked again with
// the policy's backoff, the batch kept in progress). A poison message's original payload goes to
// `dead_letter_subject` with the policy's headers (tickgraph-reason, -reason-class, -source
// "nats", -topic the subject it was published to, -partition the stream, -offset its sequence in
// the stream) and, once the server has it (flush), it is acknowledged and counted. The good ticks
// of the batch go to TickSink::apply in order, and are acknowledged only when it returns OK. When
// it fails, nothing more is fetched (memory stays bounded by one batch): the same ticks are
// applied again with the policy's backoff (100 ms doubling to 5 s), meanwhile telling the server
// they are in progress so that it does not hand them to another source. The store's error is
// logged once per streak of failures.
//
// Failures of NATS itself (a server restarting, a cluster electing a new leader, a fetch timing
// out while reconnecting) are waited out and retried, forever: run returns only when `stop` is
// set. A batch still unapplied then is handed back to the server (nak) for the next source. When
// fetches bring nothing for idle_close_ms, run calls TickSink::idle(now) (and again every
// idle_close_ms while nothing comes), so the sink can close bars that are over.
//
// Threads: run() runs on the caller's thread (one run at a time per source) and calls the sink
// there; stats() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "ingest/feed_policy.h"
#include "ingest/nats_bus.h"
#include "ingest/tick_source.h"

namespace tickgraph::ingest {

struct NatsSourceOptions {
  std::vector<std::string> servers;  // nats://host:port (see parse_nats_servers)
  std::string stream = "TICKS";
  // The stream's subjects when open() creates it.
  std::vector<std::string> subjects = {"tickgraph.v1.ticks.>"};
  int replicas = 1;  // copies of the stream when open() creates it (3 in a 3-node cluster)
  std::string durable = "tickgraph-ingest";  // the consumer's name (no '.', ' ', '*', '>')
  TickFormat format = TickFormat::kProtobuf;
  std::string dead_letter_subject = "tickgraph.v1.deadletter.ticks";
  int batch = 1000;          // messages per fetch, and at most so many ticks per apply()
  int max_wait_ms = 200;     // how long a fetch waits for the first message
  int idle_close_ms = 2000;  // nothing fetched for this long: TickSink::idle
  // How long the server waits for the ack of a delivered message before delivering it again,
  // set when the consumer is created. Messages a crashed source held, and those in flight through
  // a cluster node that died, come back after this; an apply() taking longer than this makes the
  // server deliver its ticks again (harmless: writes are idempotent).
  int ack_wait_ms = 10000;
  // Bounds tick times (at most an hour ahead) and measures quiet time for idle_close_ms.
  const Clock* clock = &system_clock();
};

// The counters every source has (FeedStats: `received` counts a message delivered again each
// time, `redelivered` those the server had delivered before), and JetStream's own.
struct NatsSourceStats : FeedStats {
  // The consumer's num_pending (messages in the stream not yet delivered to it) from the
  // server's consumer info, refreshed at most once a second while running: the ingest lag. -1
  // until known.
  std::int64_t pending = -1;
  std::int64_t reconnects = 0;  // times the connection to NATS was re-established (failovers)
  std::string stream;
};

class NatsTickSource {
 public:
  // Connects and makes sure the stream and the consumer exist. Fails, naming the servers, the
  // stream or the consumer, on invalid options, when no server answers, when JetStream is not
  // enabled, or when the server refuses the stream or consumer (e.g. replicas > 1 on a single
  // server, or a stream whose subjects overlap another's).
  static Result<std::unique_ptr<NatsTickSource>> open(const NatsSourceOptions& options);

  ~NatsTickSource();
  NatsTickSource(const NatsTickSource&) = delete;
  NatsTickSource& operator=(const NatsTickSource&) = delete;

  // Feeds `sink` until `stop` is set (see the top of this file), then returns OK. Errors of NATS
  // and of the sink are retried, not returned.
  Status run(TickSink& sink, const std::atomic<bool>& stop);

  NatsSourceStats stats() const;

 private:
  struct Batch;

  explicit NatsTickSource(NatsSourceOptions options) : options_(std::move(options)) {}

  enum class FetchOutcome { kMessages, kNothing, kUnavailable };
  // Fetches once into `list`. kNothing: the consumer has caught up. kUnavailable: NATS failed
  // (logged once per streak); returns after a pause that grows with the streak.
  FetchOutcome fetch(natsMsgList& list, const std::atomic<bool>& stop);
  // Sorts a fetched batch into good ticks and poison. False when stopped while waiting for the
  // sink (the whole batch is then handed back).
  bool sort_batch(const natsMsgList& list, TickSink& sink, Batch& batch,
                  const std::atomic<bool>& stop);
  // Calls `attempt` until it returns OK, with the policy's backoff (StoreRetry), telling the
  // server meanwhile that the `held` messages are in progress (so that it does not hand them to
  // another source). False when stopped first: the held messages are then handed back (nak) at
  // once rather than after ack_wait.
  bool retry_holding(std::span<natsMsg* const> held, const std::atomic<bool>& stop,
                     const std::function<Status()>& attempt);
  // Sends the poison messages of `batch` to the dead-letter subject, then acknowledges them.
  void dead_letter(Batch& batch);
  // Applies the good ticks until it works or `stop` is set; acknowledges them when it worked.
  void apply_batch(Batch& batch, TickSink& sink, const std::atomic<bool>& stop);
  // Updates stats_.pending from the server, at most once a second.
  void refresh_pending();

  NatsSourceOptions options_;
  std::unique_ptr<NatsBus> bus_;
  jsCtx* js_ = nullptr;
  natsSubscription* subscription_ = nullptr;
  std::int64_t last_pending_refresh_ms_ = 0;
  int fetch_failures_ = 0;  // consecutive failed fetches, for the pause and the log

  mutable std::mutex stats_mutex_;
  NatsSourceStats stats_;
  StoreRetry retry_{"nats stream '" + options_.stream + "'",
                    [this](const std::function<void(FeedStats&)>& f) {
                      const std::lock_guard lock(stats_mutex_);
                      f(stats_);
                    }};
};

}  // namespace tickgraph::ingest
