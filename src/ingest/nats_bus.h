// A plain NATS connection (libnats) for the scale-out bus: instances publish and subscribe to
// subjects (live bars, invalidations, control messages) without JetStream's persistence. The
// JetStream tick source (nats_source.h) uses one too, for its own connection.
//
// Reconnection. A bus connects to the first server of its list that answers and, once connected,
// never gives up: when the connection drops it tries the servers again (every reconnect_wait_ms
// per server) forever, re-subscribes everything on the new server, and keeps what is published
// meanwhile in a reconnect buffer (kReconnectBufferBytes) that it sends once connected again. A
// publish fails only when that buffer is full; what was buffered is lost when the process dies.
// Core NATS delivers at most once: a subscriber that is disconnected misses what is published
// while it is away.
//
// Threads. libnats runs its own threads: one reads the socket, one per subscription calls its
// handler, one calls the connection callbacks (which update the counters of stats()). Every
// member function may be called from any thread. A handler runs on its subscription's libnats
// thread, one message at a time and in order for that subscription; it must not throw (an
// exception is caught, reported on stderr, and the message counts as handled) and should not
// block for long, since messages queue up behind it (libnats drops them once 65536 are waiting,
// counted in BusStats::async_errors).
//
// Destruction drains: it stops the subscriptions, waits until their handlers have returned and
// what was published has been sent (at most kDrainTimeoutMs), then closes the connection.
#pragma once

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace tickgraph::ingest {

struct NatsOptions {
  std::vector<std::string> servers;  // nats://127.0.0.1:4222, … (at least one)
  std::string name = "tickgraph";    // the connection's name, shown by the server's monitoring
  int reconnect_wait_ms = 250;       // pause between two attempts on the same server
};

// Message headers in the order they came (a key may appear more than once).
using NatsHeaders = std::vector<std::pair<std::string, std::string>>;

// One message as a subscription receives it; the views are valid during the handler call only.
struct NatsMessage {
  std::string_view subject;
  std::string_view data;
  NatsHeaders headers;
  // The first value of header `key` (case-sensitive, as NATS headers are), "" when absent.
  std::string_view header(std::string_view key) const;
};

// "nats://a:4222,nats://b:4222" -> {"nats://a:4222", "nats://b:4222"}, spaces around entries
// ignored. Fails on an empty list or entry, and on an entry not starting with nats:// (naming it).
Result<std::vector<std::string>> parse_nats_servers(std::string_view comma_separated);

// libnats' reason for `status`, the result of the last libnats call on this thread: the status
// text, followed by the detailed error libnats recorded when it has one.
std::string nats_error_text(natsStatus status);

class NatsBus {
 public:
  static constexpr int kReconnectBufferBytes = 8 << 20;
  static constexpr int kDrainTimeoutMs = 5000;

  using Handler = std::function<void(std::string_view subject, std::string_view data)>;
  using MessageHandler = std::function<void(const NatsMessage& message)>;

  struct BusStats {
    std::int64_t published = 0;     // publish() calls that succeeded
    std::int64_t received = 0;      // messages handed to handlers
    std::int64_t reconnects = 0;    // times the connection was re-established
    std::int64_t disconnects = 0;   // times the connection was lost (closing counts once)
    std::int64_t async_errors = 0;  // errors libnats reported asynchronously (e.g. slow consumer)
    bool connected = false;         // connected right now
  };

  // Connects to one of `options.servers`. Fails when the options are invalid or when no server
  // answers, with a message naming the servers and libnats' reason.
  static Result<std::unique_ptr<NatsBus>> connect(const NatsOptions& options);

  ~NatsBus();
  NatsBus(const NatsBus&) = delete;
  NatsBus& operator=(const NatsBus&) = delete;

  // Sends `data` to `subject` (no wildcards). Returns once the message is in libnats' outgoing
  // buffer (or the reconnect buffer while reconnecting), not when the server has it: flush() for
  // that. Fails on an invalid subject or a full reconnect buffer.
  Status publish(std::string_view subject, std::string_view data);
  // The same with headers (the server must support them; nats-server 2.2 and later do).
  Status publish(std::string_view subject, std::string_view data, const NatsHeaders& headers);

  // Calls `handler` for every message on `subject` (wildcards * and > allowed) from now on, on a
  // libnats thread (see the top of this file), until the bus is destroyed. Fails on an invalid
  // subject or a closed connection.
  Status subscribe(std::string_view subject, Handler handler);
  // The same, with the message's headers.
  Status subscribe_with_headers(std::string_view subject, MessageHandler handler);

  // Waits until the server has processed everything published so far, at most `timeout_ms`.
  // Fails on a timeout or while disconnected.
  Status flush(int timeout_ms);

  BusStats stats() const;
  // The server connected to now ("nats://127.0.0.1:4222"), "" while disconnected.
  std::string connected_url() const;

  // The libnats connection, for what the bus does not wrap (JetStream). It stays owned by the
  // bus and valid as long as it; do not close or destroy it.
  natsConnection* native_handle() const { return connection_; }

 private:
  struct Subscription;

  NatsBus() = default;
  Status add_subscription(std::string_view subject, std::unique_ptr<Subscription> subscription);

  static void on_message(natsConnection* connection, natsSubscription* subscription,
                         natsMsg* message, void* closure);
  static void on_subscription_complete(void* closure);
  static void on_disconnected(natsConnection* connection, void* closure);
  static void on_reconnected(natsConnection* connection, void* closure);
  static void on_closed(natsConnection* connection, void* closure);
  static void on_async_error(natsConnection* connection, natsSubscription* subscription,
                             natsStatus status, void* closure);

  natsConnection* connection_ = nullptr;
  std::string servers_text_;  // for messages

  mutable std::mutex mutex_;
  std::condition_variable changed_;  // closed_ or completed_subscriptions_ changed
  bool closed_ = false;
  int completed_subscriptions_ = 0;
  std::vector<std::unique_ptr<Subscription>> subscriptions_;

  std::atomic<std::int64_t> published_{0};
  std::atomic<std::int64_t> received_{0};
  std::atomic<std::int64_t> reconnects_{0};
  std::atomic<std::int64_t> disconnects_{0};
  std::atomic<std::int64_t> async_errors_{0};
};

}  // namespace tickgraph::ingest
