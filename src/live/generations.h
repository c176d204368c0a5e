// A generation number per asset that changes whenever a bar of the asset is written (by the live
// engine's write queue, a relayed final bar, or an import), so that caches of candle reads (the
// REST API's) know when they are stale.
//
// Thread-safety: every function may be called from any thread; one mutex of its own, held only to
// read or bump a number (never while calling out), so readers never wait for a store write.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace tickgraph::live {

class Generations {
 public:
  // 0 for an asset never bumped.
  std::uint64_t of(std::string_view symbol) const {
    std::lock_guard lock(mutex_);
    auto it = numbers_.find(symbol);
    return it == numbers_.end() ? 0 : it->second;
  }
  void bump(std::string_view symbol) {
    std::lock_guard lock(mutex_);
    auto it = numbers_.find(symbol);
    if (it == numbers_.end()) it = numbers_.emplace(std::string(symbol), 0).first;
    ++it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t, std::less<>> numbers_;
};

}  // namespace tickgraph::live
