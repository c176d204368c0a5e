// Token buckets by key (a credential id, or a client address): each key may spend `burst`
// requests at once and gets `rate` back per second. Thread-safe. Idle full buckets are dropped
// so that the map stays as small as the set of recently active keys.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tickgraph::server::auth {

class RateLimiter {
 public:
  // rate <= 0: unlimited (take() always succeeds).
  RateLimiter(double rate, double burst);

  // Takes one token of `key` at time `now_s` (seconds, any origin, non-decreasing per key):
  // 0 when taken, else the seconds to wait until one is there (> 0).
  double take(const std::string& key, double now_s);
  // Whether `key` has a token now, without taking it.
  bool has(const std::string& key, double now_s);

  std::size_t size() const;

 private:
  struct Bucket {
    double tokens = 0;
    double last = 0;
  };
  Bucket& refill(const std::string& key, double now_s);
  void prune(double now_s);

  double rate_;
  double burst_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
  double last_prune_ = 0;
};

}  // namespace tickgraph::server::auth
