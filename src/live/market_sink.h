// The live market as the sink of a streaming tick source (ingest/kafka_source.h,
// ingest/nats_source.h): the source's checked ticks go through Engine::stage and flush, so
// they are aggregated into bars of every interval and pushed to the engine at once, and stored
// (idempotently: a redelivered tick is found in the store and changes nothing) before the source
// acknowledges them. apply() is stage() then flush().
//
// Unknown symbols are poison unless `auto_create` is on; then the asset is created on first sight
// with the attribute source=<source>. Known symbols are cached (assets are never deleted). When
// the store cannot answer, check_symbol() says so (unavailable) and the source asks again later,
// so an unknown symbol's message is always dead-lettered by the source.
#pragma once

#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "ingest/tick_source.h"
#include "live/engine.h"
#include "store/store.h"

namespace tickgraph::live {

class MarketSink : public ingest::TickSink {
 public:
  MarketSink(store::Store& store, Engine& live, std::string source, bool auto_create);

  Status check_symbol(std::string_view symbol) override;
  Status apply(std::span<const ingest::TickRecord> ticks) override;
  Status stage(std::span<const ingest::TickRecord> ticks) override;
  Status flush() override;
  void release(std::span<const std::string> symbols) override;
  // Closes the bars whose end has passed by the wall clock.
  void idle(Timestamp now) override;

 private:
  // OK when known (or created); not_found or invalid_argument when not; the store's failure when
  // it did not answer.
  Status check_locked(std::string_view symbol);

  store::Store& store_;
  Engine& live_;
  std::string source_;
  bool auto_create_;
  std::mutex mutex_;
  std::set<std::string, std::less<>> known_;
  std::vector<TickInput> batch_;  // reused between calls
};

}  // namespace tickgraph::live
