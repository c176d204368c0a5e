#include "server/stream.h"

#include <algorithm>

namespace tickgraph::server {

StreamClient::StreamClient(StreamLimits limits, Wake wake, const Clock& clock)
    : limits_(limits), wake_(std::move(wake)), clock_(clock) {}

bool StreamClient::over_limits_locked(Duration now) const {
  if (pending_bytes_ > limits_.max_pending_bytes) return true;
  if (direct_bytes_ > limits_.max_direct_bytes) return true;
  const Duration max_lag = std::chrono::nanoseconds(limits_.max_lag).count();
  return !pending_.empty() && now - pending_.front().queued > max_lag;
}

void StreamClient::close_if_over_limits_locked(bool& wake) {
  const Duration now = clock_.monotonic();
  if (!over_limits_locked(now)) return;
  close_kind_ = CloseKind::kTooSlow;
  closed_ =
      pending_bytes_ > limits_.max_pending_bytes || direct_bytes_ > limits_.max_direct_bytes
          ? "too slow: " + std::to_string(pending_bytes_ + direct_bytes_) +
                " bytes of updates not yet received"
          : "too slow: updates waited more than " + std::to_string(limits_.max_lag.count()) + " ms";
  pending_.clear();
  pending_bytes_ = 0;
  direct_bytes_ = 0;
  wake = true;
}

void StreamClient::enqueue_locked(Entry entry, bool& wake) {
  wake = pending_.empty();
  (entry.direct ? direct_bytes_ : pending_bytes_) += entry.message->size();
  pending_.push_back(std::move(entry));
  close_if_over_limits_locked(wake);
}

void StreamClient::push(const std::string& key, SharedText message, bool final, bool counted) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    const auto pending = std::find_if(pending_.begin(), pending_.end(),
                                      [&](const Entry& e) { return e.key == key; });
    // Counted only when a forming update replaces one: a final replacing its series' forming
    // update carries that bar, newer, so nothing is lost.
    if (pending != pending_.end() && counted && !final) {
      ++coalesced_since_take_;
      ++coalesced_total_;
    }
    if (!final && pending != pending_.end()) {
      // Coalesce: replace the pending forming update of this series in its place in the queue.
      // Its age stays that of the update it replaced, so a client that never catches up still
      // reaches max_lag.
      pending_bytes_ = pending_bytes_ - pending->message->size() + message->size();
      pending->message = std::move(message);
      close_if_over_limits_locked(wake);
    } else {
      // A final bar supersedes the pending forming update of its series; finals queue in order.
      // The session was woken when the queue became non-empty; removing the superseded entry
      // does not make it empty in between, so the wake decision is taken before the removal.
      const bool was_empty = pending_.empty();
      if (pending != pending_.end()) {
        pending_bytes_ -= pending->message->size();
        pending_.erase(pending);
      }
      enqueue_locked({final ? std::string() : key, false, std::move(message), clock_.monotonic()},
                     wake);
      wake = wake && was_empty;
      if (closed_) wake = true;
    }
  }
  if (wake && wake_) wake_();
}

void StreamClient::send(SharedText message) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    enqueue_locked({"", true, std::move(message), clock_.monotonic()}, wake);
  }
  if (wake && wake_) wake_();
}

void StreamClient::close(std::string reason, CloseKind kind) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = std::move(reason);
    close_kind_ = kind;
  }
  if (wake_) wake_();
}

StreamClient::Batch StreamClient::take() {
  Batch batch;
  std::lock_guard lock(mutex_);
  batch.closed = closed_;
  batch.close_kind = close_kind_;
  batch.coalesced = coalesced_since_take_;
  coalesced_since_take_ = 0;
  if (closed_) return batch;
  batch.messages.reserve(pending_.size());
  for (Entry& e : pending_) batch.messages.push_back(std::move(e.message));
  pending_.clear();
  pending_bytes_ = 0;
  direct_bytes_ = 0;
  return batch;
}

bool StreamClient::closed() const {
  std::lock_guard lock(mutex_);
  return closed_.has_value();
}

std::optional<std::string> StreamClient::close_reason() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

std::optional<CloseKind> StreamClient::close_kind() const {
  std::lock_guard lock(mutex_);
  if (!closed_) return std::nullopt;
  return close_kind_;
}

std::size_t StreamClient::pending_bytes() const {
  std::lock_guard lock(mutex_);
  return pending_bytes_ + direct_bytes_;
}

std::int64_t StreamClient::coalesced_total() const {
  std::lock_guard lock(mutex_);
  return coalesced_total_;
}

}  // namespace tickgraph::server
