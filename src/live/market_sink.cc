#include "live/market_sink.h"

namespace tickgraph::live {

MarketSink::MarketSink(store::Store& store, Engine& live, std::string source, bool auto_create)
    : store_(store), live_(live), source_(std::move(source)), auto_create_(auto_create) {}

Status MarketSink::check_symbol(std::string_view symbol) {
  std::lock_guard lock(mutex_);
  return check_locked(symbol);
}

Status MarketSink::check_locked(std::string_view symbol) {
  if (known_.contains(symbol)) return {};
  // A failing store is no reason to call a message poison: the source asks again.
  const auto store_failed = [](const Status& s) {
    return Status::unavailable("store: " + s.message());
  };
  auto found = store_.find_asset(symbol);
  if (!found) return store_failed(found.status());
  if (!found->has_value()) {
    if (!auto_create_) {
      return Status::not_found("unknown asset '" + std::string(symbol) +
                               "' (add it, or ingest with --auto-create)");
    }
    if (Status s = validate_symbol(symbol); !s.ok()) return s;
    Asset asset;
    asset.symbol = std::string(symbol);
    asset.attributes = {{"source", source_}};
    if (auto added = store_.upsert_asset(asset); !added) return store_failed(added.status());
  }
  known_.emplace(symbol);
  return {};
}

Status MarketSink::apply(std::span<const ingest::TickRecord> ticks) {
  if (Status s = stage(ticks); !s.ok()) return s;
  return flush();
}

Status MarketSink::stage(std::span<const ingest::TickRecord> ticks) {
  batch_.clear();
  batch_.reserve(ticks.size());
  std::unique_lock lock(mutex_);  // for the known symbols only, not during the ingest
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    const auto& t = ticks[i];
    if (!known_.contains(t.symbol)) {
      // Every tick passed check_symbol(), so its asset exists; a caller that did not ask is
      // refused (naming the tick) rather than having ticks dropped.
      if (Status s = check_locked(t.symbol); !s.ok()) {
        return s.is(StatusCode::kUnavailable) ? s : s.with_detail("index", std::to_string(i));
      }
    }
    batch_.push_back({t.symbol, t.tick});
  }
  lock.unlock();
  auto result = live_.stage(batch_, source_);
  return result.status();
}

Status MarketSink::flush() { return live_.flush(); }

void MarketSink::release(std::span<const std::string> symbols) { live_.release(symbols); }

void MarketSink::idle(Timestamp now) { live_.advance_clock(now); }

}  // namespace tickgraph::live
