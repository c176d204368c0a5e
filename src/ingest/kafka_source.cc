#include "ingest/kafka_source.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "core/clock.h"
#include "core/log.h"
#include "ingest/feed_policy.h"

namespace tickgraph::ingest {

namespace {

// Whole milliseconds from `now` to `deadline` (monotonic ns), at least 0.
int ms_until(Duration deadline, Duration now) {
  return static_cast<int>(std::max<Duration>(0, (deadline - now) / kMillisecond));
}

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

Status set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    return Status::invalid_argument("kafka: " + key + "=" + value + ": " + err);
  }
  return {};
}

// A poison message waiting for the dead-letter producer.
struct DeadLetter {
  std::string key;
  std::string value;
  Poison poison;
  int partition = 0;
  std::int64_t offset = 0;
};

}  // namespace

struct KafkaTickSource::Impl {
  explicit Impl(const KafkaSourceOptions& o) : options(o) {
    if (options.dead_letter_topic.empty())
      options.dead_letter_topic = options.topic + ".deadletter";
  }

  KafkaSourceOptions options;
  const Clock& clock() const { return *options.clock; }
  rd_kafka_t* consumer = nullptr;
  rd_kafka_t* producer = nullptr;     // dead letters
  rd_kafka_queue_t* queue = nullptr;  // the consumer's queue (messages and group events)
  std::vector<rd_kafka_message_t*> polled;
  std::atomic<std::int64_t> delivery_failures{0};
  std::string last_delivery_error;  // written by the producer's callback thread under stats_mutex

  TickSink* sink = nullptr;  // during run()

  // A batch: good ticks, poison messages, and per partition the next offset to commit once both
  // are safe.
  struct Batch {
    std::vector<TickRecord> ticks;
    // Where each tick came from, parallel to ticks: (partition, offset), for a refused tick's
    // dead letter.
    std::vector<std::pair<int, std::int64_t>> origins;
    bool staged = false;  // the ticks went to sink->stage()
    std::vector<DeadLetter> dead_letters;
    std::map<int, std::int64_t> next_offsets;
    std::size_t size() const { return ticks.size() + dead_letters.size(); }
    bool empty() const { return size() == 0 && next_offsets.empty(); }
    void clear() {
      ticks.clear();
      origins.clear();
      staged = false;
      dead_letters.clear();
      next_offsets.clear();
    }
    // Takes `later` in (both staged, or both not).
    void append(Batch&& later) {
      ticks.insert(ticks.end(), std::make_move_iterator(later.ticks.begin()),
                   std::make_move_iterator(later.ticks.end()));
      origins.insert(origins.end(), later.origins.begin(), later.origins.end());
      staged = staged || later.staged;
      dead_letters.insert(dead_letters.end(), std::make_move_iterator(later.dead_letters.begin()),
                          std::make_move_iterator(later.dead_letters.end()));
      for (const auto& [partition, offset] : later.next_offsets) next_offsets[partition] = offset;
      later.clear();
    }
  };
  // A pipeline: batches are read and staged (applied to the live state, so their updates go out
  // at once) on run()'s thread while the batches before are settled (stored, then committed) on
  // their own thread (`inflight`), so reading and the engine never wait for the store's commit.
  // Staged batches wait (`waiting`, merged into one) until the settle in flight is done; more
  // than kMaxWaiting batches' worth pauses reading until it is (backpressure).
  static constexpr std::size_t kMaxWaiting = 4;
  Batch reading;
  Batch waiting;
  Batch settling;
  std::future<Status> inflight;
  // Per partition, the next offset after what is stored: committed again, synchronously, when the
  // partition is revoked, so the next owner cannot start before an asynchronous commit landed.
  std::map<int, std::int64_t> stored_offsets;
  // Symbols seen per assigned partition: what the sink releases when the partition goes.
  std::map<int, std::set<std::string>> symbols;
  // The partitions assigned now. A message of another one (returned by the same call that ran
  // the revocation) is not taken: it is the next owner's.
  std::set<int> assigned;

  mutable std::mutex stats_mutex;
  KafkaSourceStats stats;
  StoreRetry retry{"kafka topic '" + options.topic + "'",
                   [this](const std::function<void(FeedStats&)>& f) {
                     std::lock_guard lock(stats_mutex);
                     f(stats);
                   }};

  ~Impl() {
    if (queue != nullptr) rd_kafka_queue_destroy(queue);
    if (consumer != nullptr) rd_kafka_destroy(consumer);
    if (producer != nullptr) rd_kafka_destroy(producer);
  }

  template <class F>
  void update_stats(F&& f) {
    std::lock_guard lock(stats_mutex);
    f(stats);
  }

  // --- reading ---

  void poison(const rd_kafka_message_t& m, Poison poison) {
    DeadLetter d;
    if (m.key != nullptr) d.key.assign(static_cast<const char*>(m.key), m.key_len);
    if (m.payload != nullptr) d.value.assign(static_cast<const char*>(m.payload), m.len);
    d.poison = std::move(poison);
    d.partition = m.partition;
    d.offset = m.offset;
    reading.dead_letters.push_back(std::move(d));
  }

  // Sorts one message into the batch read: a tick or a poison message (feed_policy.h). False
  // when stopped while waiting for the sink's verdict on its symbol: the message is not taken
  // (nor its offset committed), so it comes again.
  bool take(const rd_kafka_message_t& m, Timestamp now, const std::atomic<bool>& stop) {
    if (!assigned.contains(m.partition)) return true;
    const std::string_view payload(static_cast<const char*>(m.payload), m.len);
    const std::string_view key(static_cast<const char*>(m.key), m.key == nullptr ? 0 : m.key_len);
    auto judged = judge_message(payload, key, options.format, now);
    if (auto* tick = std::get_if<TickRecord>(&judged)) {
      // While the sink cannot tell (its store does not answer), reading waits and asks again.
      Status verdict = sink->check_symbol(tick->symbol);
      const auto undecided = [&] {
        return symbol_verdict(verdict) == SymbolVerdict::kAskAgain ? verdict : Status();
      };
      if (!retry.until_ok(
              undecided(),
              [&] {
                verdict = sink->check_symbol(tick->symbol);
                return undecided();
              },
              stop, [this] { refresh_lag(); })) {
        return false;
      }
      if (symbol_verdict(verdict) == SymbolVerdict::kPoison) {
        judged = Poison{PoisonReason::kUnknownSymbol, verdict.message()};
      }
    }
    reading.next_offsets[m.partition] = m.offset + 1;
    update_stats([](KafkaSourceStats& s) { ++s.received; });
    if (auto* bad = std::get_if<Poison>(&judged)) {
      poison(m, std::move(*bad));
      return true;
    }
    auto& tick = std::get<TickRecord>(judged);
    symbols[m.partition].insert(tick.symbol);
    reading.ticks.push_back(std::move(tick));
    reading.origins.emplace_back(m.partition, m.offset);
    return true;
  }

  // --- making a batch safe ---

  // Sends the batch's dead letters and waits until the broker has them all.
  Status send_dead_letters(Batch& batch) {
    if (batch.dead_letters.empty()) return {};
    delivery_failures = 0;
    for (const DeadLetter& d : batch.dead_letters) {
      const std::string partition = std::to_string(d.partition);
      const auto headers =
          dead_letter_headers(d.poison, {"kafka", options.topic, partition, d.offset});
      std::vector<rd_kafka_vu_t> vus(4);
      vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vus[0].u.cstr = options.dead_letter_topic.c_str();
      vus[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vus[1].u.i = RD_KAFKA_MSG_F_COPY;
      vus[2].vtype = RD_KAFKA_VTYPE_KEY;
      vus[2].u.mem = {const_cast<char*>(d.key.data()), d.key.size()};
      vus[3].vtype = RD_KAFKA_VTYPE_VALUE;
      vus[3].u.mem = {const_cast<char*>(d.value.data()), d.value.size()};
      for (const auto& [name, value] : headers) {
        rd_kafka_vu_t vu{};
        vu.vtype = RD_KAFKA_VTYPE_HEADER;
        vu.u.header.name = name.c_str();
        vu.u.header.val = value.data();
        vu.u.header.size = static_cast<ssize_t>(value.size());
        vus.push_back(vu);
      }
      // rd_kafka_produceva rather than the producev macros, which cast C-style.
      rd_kafka_error_t* error = rd_kafka_produceva(producer, vus.data(), vus.size());
      const rd_kafka_resp_err_t err =
          error == nullptr ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_error_code(error);
      if (error != nullptr) rd_kafka_error_destroy(error);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_flush(producer, 10000);
        return Status::unavailable("dead-letter topic '" + options.dead_letter_topic +
                                   "': " + rd_kafka_err2str(err));
      }
    }
    if (rd_kafka_flush(producer, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::unavailable("dead-letter topic '" + options.dead_letter_topic +
                                 "': not acknowledged within 10 s");
    }
    if (delivery_failures > 0) {
      std::lock_guard lock(stats_mutex);
      return Status::unavailable("dead-letter topic '" + options.dead_letter_topic +
                                 "': " + last_delivery_error);
    }
    return {};
  }

  // Stages the batch's ticks in the sink, once. A tick the sink refuses (feed_policy.h) becomes a
  // dead letter and the rest is staged at once; a failing store is returned, to be retried.
  Status stage(Batch& batch) {
    if (batch.staged || batch.ticks.empty()) return {};
    for (Status s = sink->stage(batch.ticks); !s.ok(); s = sink->stage(batch.ticks)) {
      if (sink_failure(s) == SinkFailure::kRetry) return s;
      refuse(batch, s);
      if (batch.ticks.empty()) return {};
    }
    batch.staged = true;
    return {};
  }

  // Moves the tick a refusal names (all of them when it names none) to the batch's dead letters.
  // Its value is the tick encoded again in the topic's format (the message itself is gone).
  void refuse(Batch& batch, const Status& refused) {
    const auto one = refused_index(refused, batch.ticks.size());
    const std::size_t begin = one ? *one : 0;
    const std::size_t end = one ? *one + 1 : batch.ticks.size();
    for (std::size_t i = begin; i < end; ++i) {
      DeadLetter d;
      d.key = batch.ticks[i].symbol;
      d.value = encode_tick(batch.ticks[i], options.format);
      d.poison = {PoisonReason::kRefused, refused.message()};
      d.partition = batch.origins[i].first;
      d.offset = batch.origins[i].second;
      batch.dead_letters.push_back(std::move(d));
    }
    const auto first = static_cast<std::ptrdiff_t>(begin);
    const auto last = static_cast<std::ptrdiff_t>(end);
    batch.ticks.erase(batch.ticks.begin() + first, batch.ticks.begin() + last);
    batch.origins.erase(batch.origins.begin() + first, batch.origins.begin() + last);
  }

  // Makes the batch safe (staged, dead letters delivered, ticks stored) and commits its offsets.
  // What is done is taken out of the batch, so a retry after a failure does only the rest.
  Status settle(Batch& batch, bool async_commit) {
    if (Status s = stage(batch); !s.ok()) return s;
    if (Status s = send_dead_letters(batch); !s.ok()) return s;
    update_stats([&](KafkaSourceStats& s) {
      s.dead_lettered += static_cast<std::int64_t>(batch.dead_letters.size());
      for (const DeadLetter& d : batch.dead_letters) {
        ++s.poison[std::string(poison_reason_name(d.poison.reason))];
      }
    });
    batch.dead_letters.clear();
    if (batch.staged) {
      if (Status s = sink->flush(); !s.ok()) return s;
    }
    update_stats(
        [&](KafkaSourceStats& s) { s.applied += static_cast<std::int64_t>(batch.ticks.size()); });
    batch.ticks.clear();
    for (const auto& [partition, offset] : batch.next_offsets) stored_offsets[partition] = offset;
    commit_offsets(batch.next_offsets, async_commit);
    batch.next_offsets.clear();
    return {};
  }

  // The in-flight batch's outcome (OK when there is none).
  Status finish_inflight() { return inflight.valid() ? inflight.get() : Status(); }

  // Waits for the in-flight batch; when it failed, settles it again here with a backoff (reading
  // is paused meanwhile) until it works. False when stopped first.
  bool land(const std::atomic<bool>& stop) {
    return retry.until_ok(
        finish_inflight(), [this] { return settle(settling, true); }, stop,
        [this] { refresh_lag(); });
  }

  // Stages the batch read, retrying with a backoff (reading is paused meanwhile) until it works.
  // False when stopped first.
  bool stage_reading(const std::atomic<bool>& stop) {
    return retry.until_ok(
        stage(reading), [this] { return stage(reading); }, stop, [this] { refresh_lag(); });
  }

  // Hands the staged batches to the settling thread.
  void launch() {
    settling = std::move(waiting);
    waiting.clear();
    inflight = std::async(std::launch::async, [this] { return settle(settling, true); });
  }

  void commit_offsets(const std::map<int, std::int64_t>& offsets, bool async) {
    if (offsets.empty()) return;
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
    for (const auto& [partition, offset] : offsets) {
      rd_kafka_topic_partition_list_add(list.get(), options.topic.c_str(), partition)->offset =
          offset;
    }
    const rd_kafka_resp_err_t err = rd_kafka_commit(consumer, list.get(), async ? 1 : 0);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // The ticks are stored: a failed commit only means they may be delivered again.
      log::warn(std::string("kafka: commit: ") + rd_kafka_err2str(err),
                {{"source", "kafka"}, {"topic", options.topic}});
    } else {
      update_stats([](KafkaSourceStats& s) { ++s.commits; });
    }
  }

  // --- the group ---

  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
    update_stats([](KafkaSourceStats& s) { ++s.rebalances; });
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      for (int i = 0; i < partitions->cnt; ++i) assigned.insert(partitions->elems[i].partition);
      rd_kafka_assign(consumer, partitions);
      return;
    }
    assigned.clear();
    // Revoked (or lost): what was read is applied and committed first, unless the partitions
    // are already someone else's; then the sink forgets their symbols.
    const bool lost = rd_kafka_assignment_lost(consumer) != 0;
    Status s = finish_inflight();
    if (s.ok() && !lost && sink != nullptr && !waiting.empty()) s = settle(waiting, false);
    if (s.ok() && !lost && sink != nullptr && !reading.empty()) s = settle(reading, false);
    if (!s.ok()) {
      log::warn("kafka: " + s.message() +
                    " (revoked partitions: their last reads will be delivered again)",
                {{"source", "kafka"}, {"topic", options.topic}});
    }
    settling.clear();
    waiting.clear();
    reading.clear();
    std::map<int, std::int64_t> revoked;
    for (int i = 0; i < partitions->cnt; ++i) {
      const int p = partitions->elems[i].partition;
      if (auto it = stored_offsets.find(p); it != stored_offsets.end()) {
        revoked.insert(*it);
        stored_offsets.erase(it);
      }
    }
    if (!lost) commit_offsets(revoked, false);
    std::vector<std::string> released;
    for (int i = 0; i < partitions->cnt; ++i) {
      auto it = symbols.find(partitions->elems[i].partition);
      if (it == symbols.end()) continue;
      released.insert(released.end(), it->second.begin(), it->second.end());
      symbols.erase(it);
    }
    if (sink != nullptr && !released.empty()) sink->release(released);
    rd_kafka_assign(consumer, nullptr);
  }

  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    (void)rk;
    static_cast<Impl*>(opaque)->on_rebalance(err, partitions);
  }

  static void delivery_cb(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    auto* impl = static_cast<Impl*>(opaque);
    ++impl->delivery_failures;
    std::lock_guard lock(impl->stats_mutex);
    impl->last_delivery_error = rd_kafka_err2str(m->err);
  }

  // Positions and ends of the assigned partitions, for the lag metrics.
  void refresh_lag() {
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(consumer, &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    PartitionList current(raw);
    rd_kafka_position(consumer, current.get());
    std::vector<PartitionLag> lags;
    for (int i = 0; i < current->cnt; ++i) {
      const auto& p = current->elems[i];
      PartitionLag lag;
      lag.partition = p.partition;
      lag.position = p.offset >= 0 ? p.offset : -1;
      lag.lag = -1;  // unknown until the partition's end is known
      std::int64_t low = -1;
      std::int64_t high = -1;
      if (rd_kafka_get_watermark_offsets(consumer, p.topic, p.partition, &low, &high) ==
              RD_KAFKA_RESP_ERR_NO_ERROR &&
          high >= 0) {
        lag.high_watermark = high;
        lag.lag = std::max<std::int64_t>(0, high - std::max(lag.position, low));
      }
      lags.push_back(lag);
    }
    update_stats([&](KafkaSourceStats& s) { s.partitions = std::move(lags); });
  }

  // Every assigned partition read to its known end (an unknown end is not caught up).
  bool caught_up() const {
    std::lock_guard lock(stats_mutex);
    return !stats.partitions.empty() &&
           std::all_of(stats.partitions.begin(), stats.partitions.end(),
                       [](const PartitionLag& p) { return p.lag == 0; });
  }
};

KafkaTickSource::KafkaTickSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KafkaTickSource::~KafkaTickSource() = default;

Result<std::unique_ptr<KafkaTickSource>> KafkaTickSource::open(const KafkaSourceOptions& options) {
  if (options.brokers.empty())
    return Status::invalid_argument("brokers: required (host:port[,host:port…])");
  if (options.topic.empty()) return Status::invalid_argument("topic: required");
  if (options.group.empty()) return Status::invalid_argument("group: required");
  if (options.batch == 0) return Status::invalid_argument("batch: must be at least 1");
  auto impl = std::make_unique<Impl>(options);
  if (impl->options.dead_letter_topic == options.topic) {
    return Status::invalid_argument("dead-letter topic: must differ from the topic");
  }
  char err[512];

  ConfPtr conf(rd_kafka_conf_new());
  const std::vector<std::pair<std::string, std::string>> consumer_settings = {
      {"bootstrap.servers", options.brokers},
      {"group.id", options.group},
      {"client.id", "tickgraph-ingest"},
      // Offsets are committed by hand, after the store has the ticks.
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      {"queued.min.messages", std::to_string(options.max_buffer_messages)},
      {"queued.max.messages.kbytes", std::to_string(options.max_buffer_kbytes)},
      // A fetch that finds nothing new waits at most this long for data (librdkafka's default,
      // 500 ms, is a 500 ms latency for a tick arriving just after a fetch came back empty).
      {"fetch.wait.max.ms", "10"},
      // Larger fetches per partition: fewer round trips when a worker catches up on a backlog.
      {"max.partition.fetch.bytes", "4194304"},
  };
  for (const auto& [k, v] : consumer_settings) {
    if (Status s = set(conf.get(), k, v); !s.ok()) return s;
  }
  for (const auto& [k, v] : options.config) {
    if (Status s = set(conf.get(), k, v); !s.ok()) return s;
  }
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::rebalance_cb);
  impl->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof err);
  if (impl->consumer == nullptr)
    return Status::invalid_argument(std::string("kafka consumer: ") + err);
  (void)conf.release();  // owned by the consumer now
  rd_kafka_poll_set_consumer(impl->consumer);
  impl->queue = rd_kafka_queue_get_consumer(impl->consumer);

  ConfPtr pconf(rd_kafka_conf_new());
  const std::vector<std::pair<std::string, std::string>> producer_settings = {
      {"bootstrap.servers", options.brokers},
      {"client.id", "tickgraph-ingest-deadletter"},
      {"enable.idempotence", "true"},
      {"acks", "all"},
  };
  for (const auto& [k, v] : producer_settings) {
    if (Status s = set(pconf.get(), k, v); !s.ok()) return s;
  }
  rd_kafka_conf_set_opaque(pconf.get(), impl.get());
  rd_kafka_conf_set_dr_msg_cb(pconf.get(), &Impl::delivery_cb);
  impl->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf.get(), err, sizeof err);
  if (impl->producer == nullptr)
    return Status::invalid_argument(std::string("kafka producer: ") + err);
  (void)pconf.release();

  PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), options.topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (const rd_kafka_resp_err_t e = rd_kafka_subscribe(impl->consumer, topics.get());
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::unavailable("kafka: subscribe to '" + options.topic +
                               "': " + rd_kafka_err2str(e));
  }
  return std::unique_ptr<KafkaTickSource>(new KafkaTickSource(std::move(impl)));
}

Status KafkaTickSource::run(TickSink& sink, const std::atomic<bool>& stop) {
  Impl& m = *impl_;
  m.sink = &sink;
  const Clock& clock = m.clock();
  Duration last_message = clock.monotonic();
  Duration last_lag = std::numeric_limits<Duration>::min() / 2;
  Duration last_idle = clock.monotonic();
  std::string last_error;
  Status result;
  while (!stop) {
    // Read a batch: whole runs of messages from the consumer queue at a time (one call per run
    // rather than per message; the call also serves the rebalance callback).
    // The first call waits up to batch_wait_ms for one message; then the batch takes what is
    // already there and goes: a busy feed makes full batches, a quiet one adds no delay.
    // (rd_kafka_consume_batch_queue waits until it has all it may take or the time is up, so a
    // call that waits asks for one message only.)
    const Duration deadline = clock.monotonic() + m.options.batch_wait_ms * kMillisecond;
    while (m.reading.size() < m.options.batch && !stop) {
      const bool first = m.reading.empty();
      const std::size_t room = first ? 1 : m.options.batch - m.reading.size();
      m.polled.resize(room);
      const Timestamp now = clock.now();  // bounds tick times; once per run of messages
      const int wait = first ? ms_until(deadline, clock.monotonic()) : 0;
      const ssize_t got = rd_kafka_consume_batch_queue(m.queue, wait, m.polled.data(), room);
      bool taking = true;
      for (ssize_t i = 0; i < got; ++i) {
        MessagePtr msg(m.polled[static_cast<std::size_t>(i)]);
        if (!taking) continue;  // stopped: the rest is only destroyed, and comes again
        if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          if (msg->err == RD_KAFKA_RESP_ERR__FATAL) {
            char reason[512];
            rd_kafka_fatal_error(m.consumer, reason, sizeof reason);
            result = Status::unavailable(std::string("kafka: fatal: ") + reason);
            continue;
          }
          // Transient (a broker down, a topic not there yet): librdkafka retries by itself.
          const std::string text = rd_kafka_message_errstr(msg.get());
          if (text != last_error) {
            log::warn("kafka: " + text, {{"source", "kafka"}, {"topic", m.options.topic}});
          }
          last_error = text;
          continue;
        }
        last_error.clear();
        taking = m.take(*msg, now, stop);
      }
      if (got > 0) last_message = clock.monotonic();
      if (!result.ok() || clock.monotonic() >= deadline || (got <= 0 && !m.reading.empty())) {
        break;
      }
    }
    if (!result.ok()) break;
    // Applied and published now, while the batches before are still being stored.
    if (!m.stage_reading(stop)) break;
    if (!m.reading.empty()) m.waiting.append(std::move(m.reading));
    // The settle in flight is landed once done (or waited for when too much is staged behind
    // it); then what waits goes.
    const bool busy = m.inflight.valid() &&
                      m.inflight.wait_for(std::chrono::seconds(0)) != std::future_status::ready;
    if (!busy || m.waiting.size() >= Impl::kMaxWaiting * m.options.batch) {
      const bool was_settling = m.inflight.valid();
      if (!m.land(stop)) break;
      // Time spent waiting for the store is not quiet time: messages may be queued behind it.
      if (was_settling) last_message = std::max(last_message, clock.monotonic());
      if (!m.waiting.empty()) m.launch();
    }
    const Duration now = clock.monotonic();
    if (now - last_lag >= 500 * kMillisecond) {
      m.refresh_lag();
      last_lag = now;
    }
    const Duration idle_for = m.options.idle_close_ms * kMillisecond;
    if (now - last_message >= idle_for && now - last_idle >= idle_for) {
      m.refresh_lag();  // fresh: a lag half a second old may hide what arrived since
      if (m.caught_up()) sink.idle(clock.now());
      last_idle = now;
    }
  }
  // Stopping: what was read and stored is committed; leaving the group moves the partitions.
  Status last = m.finish_inflight();
  if (last.ok() && result.ok() && !m.waiting.empty()) last = m.settle(m.waiting, false);
  if (last.ok() && result.ok() && !m.reading.empty()) last = m.settle(m.reading, false);
  if (!last.ok()) {
    log::warn("kafka: " + last.message() + " (stopping: the last reads will be delivered again)",
              {{"source", "kafka"}, {"topic", m.options.topic}});
  }
  m.settling.clear();
  m.waiting.clear();
  m.reading.clear();
  rd_kafka_consumer_close(m.consumer);
  m.sink = nullptr;
  return result;
}

KafkaSourceStats KafkaTickSource::stats() const {
  std::lock_guard lock(impl_->stats_mutex);
  return impl_->stats;
}

}  // namespace tickgraph::ingest
