#include "server/auth/rate_limiter.h"

#include <algorithm>

namespace tickgraph::server::auth {

namespace {
constexpr std::size_t kPruneAbove = 4096;  // buckets kept before idle ones are dropped
constexpr double kPruneEvery = 10;         // seconds
}  // namespace

RateLimiter::RateLimiter(double rate, double burst) : rate_(rate), burst_(std::max(burst, 1.0)) {}

RateLimiter::Bucket& RateLimiter::refill(const std::string& key, double now_s) {
  auto [it, added] = buckets_.try_emplace(key, Bucket{burst_, now_s});
  Bucket& b = it->second;
  if (!added && now_s > b.last) {
    b.tokens = std::min(burst_, b.tokens + (now_s - b.last) * rate_);
    b.last = now_s;
  }
  return b;
}

void RateLimiter::prune(double now_s) {
  if (buckets_.size() <= kPruneAbove || now_s - last_prune_ < kPruneEvery) return;
  last_prune_ = now_s;
  // A bucket that would be full by now holds nothing a new one would not.
  std::erase_if(buckets_, [&](const auto& kv) {
    return kv.second.tokens + (now_s - kv.second.last) * rate_ >= burst_;
  });
}

double RateLimiter::take(const std::string& key, double now_s) {
  if (rate_ <= 0) return 0;
  std::lock_guard lock(mutex_);
  prune(now_s);
  Bucket& b = refill(key, now_s);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return (1 - b.tokens) / rate_;
}

bool RateLimiter::has(const std::string& key, double now_s) {
  if (rate_ <= 0) return true;
  std::lock_guard lock(mutex_);
  return refill(key, now_s).tokens >= 1;
}

std::size_t RateLimiter::size() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace tickgraph::server::auth
