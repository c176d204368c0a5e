#include "ingest/nats_source.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/log.h"

namespace tickgraph::ingest {

namespace {

constexpr int kAdminWaitMs = 5000;         // stream and consumer creation, lookups
constexpr int kPendingWaitMs = 1000;       // the consumer-info request behind stats().pending
constexpr int kPendingRefreshMs = 1000;    // at most one such request a second
constexpr int kDeadLetterFlushMs = 2000;   // the server must have the dead letters by then
constexpr int kDeadLetterRetryMs = 1000;   // a poison message not dead-lettered comes back then
constexpr int kFetchBackoffFirstMs = 100;  // pause after the first failed fetch
constexpr int kFetchBackoffMaxMs = 2000;   // longest pause between failed fetches

std::string jetstream_error(natsStatus status, jsErrCode code) {
  std::string text = nats_error_text(status);
  if (code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  // A JetStream request nobody answers means the server runs without JetStream.
  if (status == NATS_NO_RESPONDERS) text += "; is JetStream enabled (nats-server -js)?";
  return text;
}

// Whether the literal `subject` is among those `pattern` stands for (* one token, > the rest).
bool subject_matches(std::string_view pattern, std::string_view subject) {
  while (true) {
    const auto pattern_dot = pattern.find('.');
    const auto subject_dot = subject.find('.');
    const std::string_view token = pattern.substr(0, pattern_dot);
    if (token == ">") return !subject.empty();
    if (token != "*" && token != subject.substr(0, subject_dot)) return false;
    if (pattern_dot == std::string_view::npos || subject_dot == std::string_view::npos) {
      return pattern_dot == subject_dot;
    }
    pattern.remove_prefix(pattern_dot + 1);
    subject.remove_prefix(subject_dot + 1);
  }
}

Status check_options(const NatsSourceOptions& o) {
  const auto bad = [](const std::string& what) {
    return Status::invalid_argument("nats source: " + what);
  };
  if (o.servers.empty()) return bad("no servers given");
  if (o.stream.empty()) return bad("stream: empty name");
  if (o.subjects.empty()) return bad("stream '" + o.stream + "': no subjects");
  if (o.replicas < 1 || o.replicas > 5) {
    return bad("replicas: must be 1 to 5, got " + std::to_string(o.replicas));
  }
  if (o.durable.empty() || o.durable.find_first_of(". *>") != std::string::npos) {
    return bad("durable: '" + o.durable + "' must be non-empty without '.', ' ', '*' or '>'");
  }
  if (o.dead_letter_subject.empty()) return bad("dead_letter_subject: empty");
  if (o.batch < 1) return bad("batch: must be >= 1, got " + std::to_string(o.batch));
  if (o.max_wait_ms < 1) {
    return bad("max_wait_ms: must be >= 1, got " + std::to_string(o.max_wait_ms));
  }
  if (o.idle_close_ms < 0) {
    return bad("idle_close_ms: must be >= 0, got " + std::to_string(o.idle_close_ms));
  }
  if (o.ack_wait_ms < 1) {
    return bad("ack_wait_ms: must be >= 1, got " + std::to_string(o.ack_wait_ms));
  }
  return {};
}

}  // namespace

// One fetched batch, sorted. The messages stay owned by the natsMsgList they came in.
struct NatsTickSource::Batch {
  struct Bad {
    natsMsg* message = nullptr;
    Poison poison;
    std::uint64_t stream_sequence = 0;
  };
  std::vector<TickRecord> ticks;
  std::vector<natsMsg*> tick_messages;        // parallel to ticks
  std::vector<std::uint64_t> tick_sequences;  // parallel to ticks: their stream sequences
  std::vector<Bad> poison;
  std::int64_t redelivered = 0;
};

Result<std::unique_ptr<NatsTickSource>> NatsTickSource::open(const NatsSourceOptions& options) {
  if (Status s = check_options(options); !s.ok()) return s;
  std::unique_ptr<NatsTickSource> source(new NatsTickSource(options));
  source->stats_.stream = options.stream;
  const std::string& stream = options.stream;
  const std::string& durable = options.durable;

  auto bus = NatsBus::connect({options.servers, "tickgraph-ingest " + durable});
  if (!bus.ok()) return bus.status();
  source->bus_ = std::move(bus).value();
  const std::string servers = "on " + [&] {
    std::string joined;
    for (const auto& server : options.servers) joined += (joined.empty() ? "" : ",") + server;
    return joined;
  }();

  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = kAdminWaitMs;
  natsStatus s = natsConnection_JetStream(&source->js_, source->bus_->native_handle(), &js_options);
  if (s != NATS_OK) {
    return Status::unavailable("nats: cannot open JetStream " + servers + ": " +
                               nats_error_text(s));
  }

  // The stream: used as it is when it exists, else created.
  jsErrCode code{};
  jsStreamInfo* stream_info = nullptr;
  s = js_GetStreamInfo(&stream_info, source->js_, stream.c_str(), &js_options, &code);
  if (s != NATS_OK && (s == NATS_NOT_FOUND || code == JSStreamNotFoundErr)) {
    std::vector<const char*> subjects;
    for (const auto& subject : options.subjects) subjects.push_back(subject.c_str());
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    config.Name = stream.c_str();
    config.Subjects = subjects.data();
    config.SubjectsLen = static_cast<int>(subjects.size());
    config.Storage = js_FileStorage;
    config.Replicas = options.replicas;
    code = {};
    s = js_AddStream(&stream_info, source->js_, &config, &js_options, &code);
    if (s != NATS_OK && code == JSStreamNameExistErr) {  // another source created it meanwhile
      s = js_GetStreamInfo(&stream_info, source->js_, stream.c_str(), &js_options, &code);
    }
    if (s != NATS_OK) {
      return Status::unavailable("nats: stream '" + stream + "': cannot create it (" +
                                 std::to_string(options.replicas) + " replicas) " + servers + ": " +
                                 jetstream_error(s, code));
    }
  } else if (s != NATS_OK) {
    return Status::unavailable("nats: stream '" + stream + "': cannot look it up " + servers +
                               ": " + jetstream_error(s, code));
  }
  // A dead letter stored in the stream itself would come back as poison, forever.
  for (int i = 0; i < stream_info->Config->SubjectsLen; ++i) {
    const std::string_view pattern = stream_info->Config->Subjects[i];
    if (subject_matches(pattern, options.dead_letter_subject)) {
      const std::string message = "nats: dead_letter_subject '" + options.dead_letter_subject +
                                  "' is among the subjects of stream '" + stream + "' ('" +
                                  std::string(pattern) + "'): dead letters would be ingested again";
      jsStreamInfo_Destroy(stream_info);
      return Status::invalid_argument(message);
    }
  }
  // The subject to bind the subscription with: any of the stream's will do for a consumer
  // without a filter.
  std::string bind_subject =
      stream_info->Config->SubjectsLen > 0 ? stream_info->Config->Subjects[0] : "";
  jsStreamInfo_Destroy(stream_info);

  // The durable consumer. Created here rather than by js_PullSubscribe: a consumer the
  // subscription created is deleted when the subscription is drained or unsubscribed, and the
  // destructor drains.
  jsConsumerInfo* consumer_info = nullptr;
  code = {};
  s = js_GetConsumerInfo(&consumer_info, source->js_, stream.c_str(), durable.c_str(), &js_options,
                         &code);
  if (s != NATS_OK && (s == NATS_NOT_FOUND || code == JSConsumerNotFoundErr)) {
    jsConsumerConfig config;
    jsConsumerConfig_Init(&config);
    config.Durable = durable.c_str();
    config.AckPolicy = js_AckExplicit;
    config.DeliverPolicy = js_DeliverAll;
    config.AckWait = static_cast<std::int64_t>(options.ack_wait_ms) * 1'000'000;
    // Room for the batch in hand and the one being fetched, whose acks may still be in flight.
    config.MaxAckPending = 4 * static_cast<std::int64_t>(options.batch);
    code = {};
    s = js_AddConsumer(&consumer_info, source->js_, stream.c_str(), &config, &js_options, &code);
    if (s != NATS_OK && code == JSConsumerNameExistErr) {
      s = js_GetConsumerInfo(&consumer_info, source->js_, stream.c_str(), durable.c_str(),
                             &js_options, &code);
    }
    if (s != NATS_OK) {
      return Status::unavailable("nats: consumer '" + durable + "' of stream '" + stream +
                                 "': cannot create it " + servers + ": " +
                                 jetstream_error(s, code));
    }
  } else if (s != NATS_OK) {
    return Status::unavailable("nats: consumer '" + durable + "' of stream '" + stream +
                               "': cannot look it up " + servers + ": " + jetstream_error(s, code));
  }
  if (consumer_info->Config != nullptr && consumer_info->Config->FilterSubject != nullptr &&
      *consumer_info->Config->FilterSubject != '\0') {
    bind_subject = consumer_info->Config->FilterSubject;
  }
  source->stats_.pending = static_cast<std::int64_t>(consumer_info->NumPending);
  jsConsumerInfo_Destroy(consumer_info);

  jsSubOptions sub_options;
  jsSubOptions_Init(&sub_options);
  sub_options.Stream = stream.c_str();
  sub_options.Consumer = durable.c_str();
  code = {};
  s = js_PullSubscribe(&source->subscription_, source->js_, bind_subject.c_str(), durable.c_str(),
                       &js_options, &sub_options, &code);
  if (s != NATS_OK) {
    source->subscription_ = nullptr;
    return Status::unavailable("nats: consumer '" + durable + "' of stream '" + stream +
                               "': cannot subscribe " + servers + ": " + jetstream_error(s, code));
  }
  return source;
}

NatsTickSource::~NatsTickSource() {
  // Destroying (not unsubscribing) leaves the durable consumer on the server. The bus, destroyed
  // last, drains the connection: the acks and naks still buffered reach the server.
  if (subscription_ != nullptr) natsSubscription_Destroy(subscription_);
  if (js_ != nullptr) jsCtx_Destroy(js_);
}

Status NatsTickSource::run(TickSink& sink, const std::atomic<bool>& stop) {
  const Clock& clock = *options_.clock;
  Duration last_activity = clock.monotonic();
  while (!stop.load()) {
    natsMsgList list{};
    const FetchOutcome outcome = fetch(list, stop);
    if (outcome != FetchOutcome::kMessages) {
      const Duration now = clock.monotonic();
      if (outcome == FetchOutcome::kNothing &&
          now - last_activity >= options_.idle_close_ms * kMillisecond) {
        sink.idle(clock.now());
        last_activity = now;
      }
      refresh_pending();
      continue;
    }
    last_activity = clock.monotonic();
    Batch batch;
    if (!sort_batch(list, sink, batch, stop)) {
      natsMsgList_Destroy(&list);
      break;
    }
    dead_letter(batch);
    apply_batch(batch, sink, stop);
    dead_letter(batch);  // the ticks the sink refused, if any
    natsMsgList_Destroy(&list);
    refresh_pending();
  }
  return {};
}

NatsTickSource::FetchOutcome NatsTickSource::fetch(natsMsgList& list,
                                                   const std::atomic<bool>& stop) {
  jsErrCode code{};
  const natsStatus s =
      natsSubscription_Fetch(&list, subscription_, options_.batch, options_.max_wait_ms, &code);
  const bool connected = natsConnection_Status(bus_->native_handle()) == NATS_CONN_STATUS_CONNECTED;
  const bool got_messages = s == NATS_OK && list.Count > 0;
  if (!got_messages) natsMsgList_Destroy(&list);
  // Nothing within max_wait_ms while connected means the consumer has caught up.
  if (got_messages || ((s == NATS_OK || s == NATS_TIMEOUT || s == NATS_NOT_FOUND) && connected)) {
    if (fetch_failures_ > 0) {
      log::info("nats stream '" + options_.stream + "': fetching works again after " +
                    std::to_string(fetch_failures_) + " failed attempts",
                {{"source", "nats"}, {"stream", options_.stream}});
      fetch_failures_ = 0;
    }
    return got_messages ? FetchOutcome::kMessages : FetchOutcome::kNothing;
  }

  // Anything else is NATS being unavailable for a while (reconnecting, no leader, no
  // responders): wait and try again, for as long as it takes.
  ++fetch_failures_;
  if (fetch_failures_ == 1) {
    log::warn("nats stream '" + options_.stream + "': fetch failed, retrying: " +
                  (connected ? jetstream_error(s, code) : "disconnected, reconnecting"),
              {{"source", "nats"}, {"stream", options_.stream}});
  }
  const int shift = std::min(fetch_failures_ - 1, 5);
  (void)sleep_unless_stopped(
      std::min(kFetchBackoffFirstMs << shift, kFetchBackoffMaxMs) * kMillisecond, stop);
  return FetchOutcome::kUnavailable;
}

bool NatsTickSource::retry_holding(std::span<natsMsg* const> held, const std::atomic<bool>& stop,
                                   const std::function<Status()>& attempt) {
  // Keep the server from handing these to another source while this one retries.
  const auto in_progress = [&] {
    for (natsMsg* message : held) (void)natsMsg_InProgress(message, nullptr);
  };
  if (retry_.until_ok(attempt(), attempt, stop, in_progress)) return true;
  // Stopping: hand them back now rather than after ack_wait.
  for (natsMsg* message : held) (void)natsMsg_Nak(message, nullptr);
  return false;
}

bool NatsTickSource::sort_batch(const natsMsgList& list, TickSink& sink, Batch& batch,
                                const std::atomic<bool>& stop) {
  const Timestamp now = options_.clock->now();
  batch.ticks.reserve(static_cast<std::size_t>(list.Count));
  batch.tick_messages.reserve(static_cast<std::size_t>(list.Count));
  for (int i = 0; i < list.Count; ++i) {
    natsMsg* message = list.Msgs[i];
    std::uint64_t stream_sequence = 0;
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, message) == NATS_OK) {
      stream_sequence = meta->Sequence.Stream;
      if (meta->NumDelivered > 1) ++batch.redelivered;
      jsMsgMetaData_Destroy(meta);
    }
    const char* data = natsMsg_GetData(message);
    const std::string_view payload(data == nullptr ? "" : data,
                                   static_cast<std::size_t>(natsMsg_GetDataLength(message)));

    // NATS messages have no key: judged by payload and values, then by the sink.
    auto judged = judge_message(payload, std::nullopt, options_.format, now);
    if (auto* tick = std::get_if<TickRecord>(&judged)) {
      // While the sink cannot tell (its store does not answer), ask again, holding the batch.
      Status verdict;
      const auto ask = [&] {
        verdict = sink.check_symbol(tick->symbol);
        return symbol_verdict(verdict) == SymbolVerdict::kAskAgain ? verdict : Status();
      };
      if (!retry_holding({list.Msgs, static_cast<std::size_t>(list.Count)}, stop, ask)) {
        return false;
      }
      if (symbol_verdict(verdict) == SymbolVerdict::kPoison) {
        judged = Poison{PoisonReason::kUnknownSymbol, verdict.message()};
      }
    }
    if (auto* bad = std::get_if<Poison>(&judged)) {
      batch.poison.push_back({message, std::move(*bad), stream_sequence});
    } else {
      batch.ticks.push_back(std::move(std::get<TickRecord>(judged)));
      batch.tick_messages.push_back(message);
      batch.tick_sequences.push_back(stream_sequence);
    }
  }
  const std::lock_guard lock(stats_mutex_);
  stats_.received += list.Count;
  stats_.redelivered += batch.redelivered;
  return true;
}

void NatsTickSource::dead_letter(Batch& batch) {
  if (batch.poison.empty()) return;
  Status sent;
  for (const auto& bad : batch.poison) {
    const char* data = natsMsg_GetData(bad.message);
    const std::string_view payload(data == nullptr ? "" : data,
                                   static_cast<std::size_t>(natsMsg_GetDataLength(bad.message)));
    const NatsHeaders headers =
        dead_letter_headers(bad.poison, {"nats", natsMsg_GetSubject(bad.message), options_.stream,
                                         static_cast<std::int64_t>(bad.stream_sequence)});
    sent = bus_->publish(options_.dead_letter_subject, payload, headers);
    if (!sent.ok()) break;
  }
  if (sent.ok()) sent = bus_->flush(kDeadLetterFlushMs);
  if (!sent.ok()) {
    // Not acknowledged, so the server delivers them again (a little later) and they get another
    // chance; a dead letter may then be sent twice, which is the at-least-once contract.
    log::warn("nats stream '" + options_.stream + "': cannot send " +
                  std::to_string(batch.poison.size()) + " poison messages to '" +
                  options_.dead_letter_subject + "', they will come back: " + sent.message(),
              {{"source", "nats"}, {"stream", options_.stream}});
    for (const auto& bad : batch.poison) {
      (void)natsMsg_NakWithDelay(bad.message, kDeadLetterRetryMs, nullptr);
    }
    batch.poison.clear();
    return;
  }
  for (const auto& bad : batch.poison) (void)natsMsg_Ack(bad.message, nullptr);
  {
    const std::lock_guard lock(stats_mutex_);
    stats_.dead_lettered += static_cast<std::int64_t>(batch.poison.size());
    for (const auto& bad : batch.poison) {
      ++stats_.poison[std::string(poison_reason_name(bad.poison.reason))];
    }
  }
  batch.poison.clear();
}

void NatsTickSource::apply_batch(Batch& batch, TickSink& sink, const std::atomic<bool>& stop) {
  if (batch.ticks.empty()) return;
  // A tick the sink refuses (feed_policy.h) joins the batch's poison and the rest is applied at
  // once; a failing store is retried.
  const auto store = [&] {
    Status applied = sink.apply(batch.ticks);
    while (!applied.ok() && sink_failure(applied) == SinkFailure::kRefused) {
      const auto one = refused_index(applied, batch.ticks.size());
      const std::size_t begin = one ? *one : 0;
      const std::size_t end = one ? *one + 1 : batch.ticks.size();
      for (std::size_t i = begin; i < end; ++i) {
        batch.poison.push_back({batch.tick_messages[i],
                                Poison{PoisonReason::kRefused, applied.message()},
                                batch.tick_sequences[i]});
      }
      const auto first = static_cast<std::ptrdiff_t>(begin);
      const auto last = static_cast<std::ptrdiff_t>(end);
      batch.ticks.erase(batch.ticks.begin() + first, batch.ticks.begin() + last);
      batch.tick_messages.erase(batch.tick_messages.begin() + first,
                                batch.tick_messages.begin() + last);
      batch.tick_sequences.erase(batch.tick_sequences.begin() + first,
                                 batch.tick_sequences.begin() + last);
      applied = batch.ticks.empty() ? Status() : sink.apply(batch.ticks);
    }
    return applied.with_prefix("storing " + std::to_string(batch.ticks.size()) + " ticks failed: ");
  };
  if (!retry_holding(batch.tick_messages, stop, store)) return;
  // An ack lost on the way (a disconnect right now) only means the tick comes again.
  for (natsMsg* message : batch.tick_messages) (void)natsMsg_Ack(message, nullptr);
  const std::lock_guard lock(stats_mutex_);
  stats_.applied += static_cast<std::int64_t>(batch.ticks.size());
}

void NatsTickSource::refresh_pending() {
  const std::int64_t now_ms = options_.clock->monotonic() / kMillisecond;
  if (now_ms - last_pending_refresh_ms_ < kPendingRefreshMs) return;
  last_pending_refresh_ms_ = now_ms;
  if (natsConnection_Status(bus_->native_handle()) != NATS_CONN_STATUS_CONNECTED) return;
  jsOptions js_options;
  jsOptions_Init(&js_options);
  js_options.Wait = kPendingWaitMs;
  jsConsumerInfo* info = nullptr;
  jsErrCode code{};
  if (js_GetConsumerInfo(&info, js_, options_.stream.c_str(), options_.durable.c_str(), &js_options,
                         &code) != NATS_OK) {
    return;  // keep the last value; this is a metric
  }
  const auto pending = static_cast<std::int64_t>(info->NumPending);
  jsConsumerInfo_Destroy(info);
  const std::lock_guard lock(stats_mutex_);
  stats_.pending = pending;
}

NatsSourceStats NatsTickSource::stats() const {
  const std::int64_t reconnects = bus_->stats().reconnects;
  const std::lock_guard lock(stats_mutex_);
  NatsSourceStats out = stats_;
  out.reconnects = reconnects;
  return out;
}

}  // namespace tickgraph::ingest
