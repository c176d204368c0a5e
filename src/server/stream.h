// One streaming client (a WebSocket or an SSE connection) as the engine sees it: a queue of
// serialized StreamMessages that never blocks the producer.
//
// Slow clients: the engine pushes updates keyed by series ("SPX/1m/demo"). A forming-bar update
// replaces the pending one with the same key that the client has not yet taken (it is counted as
// coalesced), so a slow client gets the latest state, not every step. Final (bar-closed) updates
// and direct messages (snapshots, errors) are never coalesced: they queue in order. When the
// queued bytes of updates pass StreamLimits::max_pending_bytes (of direct messages,
// max_direct_bytes), or the oldest queued message has waited
// longer than max_lag, the client is closed (CloseKind::kTooSlow, with a reason "too slow: …")
// and gets nothing more;
// the session sends the reason (a WebSocket close frame, a last SSE event) and disconnects.
//
// Time: the age of a queued message is measured on the Clock given at construction (its
// monotonic reading), so tests move it instead of sleeping.
//
// Thread-safety: push/send/close from any thread (the engine, a request handler); take from the
// session that owns the connection. `wake` is called, outside the lock, when a message becomes
// pending after the queue was empty or when the client is closed; the session then posts to its
// own executor and calls take().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace tickgraph::server {

struct StreamLimits {
  std::size_t max_pending_bytes = 8u << 20;  // of updates (push)
  std::chrono::milliseconds max_lag{10000};
  // Of direct messages (send): snapshots are large by request (5,000 bars of many outputs) and
  // must not count as falling behind; this only bounds a client that asks for them unread.
  std::size_t max_direct_bytes = 256u << 20;
};

using SharedText = std::shared_ptr<const std::string>;

// Why a client was closed, for what the session sends (close code, SSE event code) and counts;
// the reason's text is for the client to read.
enum class CloseKind {
  kTooSlow,       // over StreamLimits: WebSocket 1008, SSE code "too_slow"
  kShuttingDown,  // the server drains: WebSocket 1001, SSE code "unavailable"
  kRefused,       // its credential was revoked or expired, or it broke the protocol: 1008
  kDisconnected,  // the peer went away; nothing is sent
};

class StreamClient {
 public:
  using Wake = std::function<void()>;
  StreamClient(StreamLimits limits, Wake wake, const Clock& clock = system_clock());

  // An update for series `key`; `final` updates are never coalesced. `counted`: whether replacing
  // a pending update of this key counts as coalesced (false for the client's own Lag notices).
  void push(const std::string& key, SharedText message, bool final, bool counted = true);
  // A message outside any series (snapshot, error, lag notice): queued in order, never coalesced.
  void send(SharedText message);
  // Closes the client with a reason (the server also calls this on disconnect). Idempotent; the
  // first reason wins.
  void close(std::string reason, CloseKind kind);

  struct Batch {
    std::vector<SharedText> messages;   // in order
    std::int64_t coalesced = 0;         // since the previous take
    std::optional<std::string> closed;  // set once closed: the reason; send nothing more
    CloseKind close_kind = CloseKind::kDisconnected;  // when closed
  };
  // Everything pending, oldest first.
  Batch take();

  bool closed() const;
  std::optional<std::string> close_reason() const;
  std::optional<CloseKind> close_kind() const;
  std::size_t pending_bytes() const;
  std::int64_t coalesced_total() const;

  // Opaque per-client state of the subscriber (the live market's subscription set).
  std::shared_ptr<void> user_state;

 private:
  struct Entry {
    std::string key;  // "" for direct messages and final updates
    bool direct = false;
    SharedText message;
    Duration queued = 0;  // the clock's monotonic reading when queued
  };
  void enqueue_locked(Entry entry, bool& wake);
  bool over_limits_locked(Duration now) const;
  void close_if_over_limits_locked(bool& wake);

  StreamLimits limits_;
  Wake wake_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::vector<Entry> pending_;
  std::size_t pending_bytes_ = 0;  // updates
  std::size_t direct_bytes_ = 0;
  std::int64_t coalesced_since_take_ = 0;
  std::int64_t coalesced_total_ = 0;
  std::optional<std::string> closed_;
  CloseKind close_kind_ = CloseKind::kDisconnected;
};

}  // namespace tickgraph::server
