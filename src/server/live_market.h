// The live side of a serve process, wired: the engine (live/engine.h) or, in relay mode, a relay
// of the bus (relay.h), with the stream protocol over it (stream_hub.h). It holds no engine state
// of its own; see those headers for what each part does, locks and reads. (An ingest worker runs
// a live::Engine alone: it has no stream clients.)
//
// Ingest (POST /v1/ticks) and the feeds go to the engine; in relay mode (LiveOptions::relay_only,
// `serve --no-engine`) they are refused (unavailable) and streams relay what relay() is given.
// With LiveOptions::bus, every update the engine makes for the bus (the candles of every asset
// and interval, standing graphs' values) is given to that sink too.
//
// Thread-safety: every public function may be called from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/candle.h"
#include "core/clock.h"
#include "core/metrics.h"
#include "core/result.h"
#include "live/engine.h"
#include "live/ticks.h"
#include "server/stream_handler.h"
#include "server/stream_hub.h"
#include "store/store.h"

namespace tickgraph::server {

using live::IngestCounts;
using live::TickInput;

struct LiveOptions {
  std::vector<Interval> intervals{kAllIntervals.begin(), kAllIntervals.end()};
  std::size_t warmup_bars = 5000;     // history replayed into a new topic's executor
  std::size_t default_history = 300;  // bars in a snapshot when the client does not say
  std::size_t max_history = 5000;
  // Topics (asset, interval, graph) one stream connection may follow; more is refused (429).
  std::size_t max_subscriptions = 256;
  StreamLimits limits;
  // Graphs run on every asset that ticks, with their final values stored (live/topics.h).
  using Standing = live::StandingGraph;
  std::vector<Standing> standing;
  // Receives every update the engine makes for the bus (live::EngineOptions::bus). Called under
  // the engine lock, so it must only queue (cli::Bus::updates() does). Must outlive the market.
  live::UpdateSink* bus = nullptr;
  // No engine: ingest is refused, streams relay what relay() is given.
  bool relay_only = false;
  // Bounds tick times (at most an hour ahead), stamps updates' serverTime and ages stream
  // clients' queues (stream.h).
  const Clock* clock = &system_clock();
  // A thread writes what stage() and advance_clock() queue, every write_period, so that neither
  // waits for the store (serve's simulator and clock); without it the callers flush() (the Kafka
  // and NATS sources, to acknowledge only what is stored). See live/write_queue.h.
  bool write_behind = false;
  std::chrono::milliseconds write_period{50};
  // stage() refuses a batch (unavailable) while this many batches wait to be written.
  std::size_t max_queued = 10'000;
  // How long ingest() waits for earlier ingest() calls still writing before it answers
  // unavailable.
  std::chrono::milliseconds store_wait{10'000};
};

class LiveMarket : public StreamHandler {
 public:
  LiveMarket(store::Store& store, Metrics& metrics, LiveOptions options = {});
  ~LiveMarket() override;
  LiveMarket(const LiveMarket&) = delete;
  LiveMarket& operator=(const LiveMarket&) = delete;

  // The engine; null in relay mode.
  live::Engine* engine();

  // live::Engine's, or unavailable in relay mode. `source` labels the ingest metrics.
  Result<IngestCounts> ingest(std::span<const TickInput> ticks, std::string_view source);
  Result<IngestCounts> stage(std::span<const TickInput> ticks, std::string_view source);
  Status flush();
  std::size_t queued() const;
  void advance_clock(Timestamp now);
  std::optional<Candle> forming(std::string_view symbol, Interval interval) const;
  // A graph was replaced or deleted: its topics end; their clients get an error message (code
  // "graph_changed") and must subscribe again.
  void graph_changed(std::string_view name);
  void release(std::span<const std::string> symbols);
  // Relay mode: one serialised tickgraph.v1.Update from another process's engine (relay.h).
  void relay(std::string_view update);

  // stream_hub.h's.
  Status subscribe(const std::shared_ptr<StreamClient>& client, const SubscribeRequest& request);
  void unsubscribe(const std::shared_ptr<StreamClient>& client,
                   const std::vector<std::string>& assets);
  std::size_t client_count() const;

  // A generation number per asset that changes whenever a bar of the asset is written (live, by a
  // relayed final candle, or by bump()), so caches of candle reads know when they are stale.
  std::uint64_t generation(std::string_view symbol) const;
  void bump(std::string_view symbol);

  // StreamHandler (stream_hub.h)
  std::shared_ptr<StreamClient> connect(StreamClient::Wake wake) override;
  void on_message(const std::shared_ptr<StreamClient>& client, std::string_view text) override;
  std::variant<HttpResponse, std::shared_ptr<StreamClient>> open_sse(
      const HttpRequest& request, StreamClient::Wake wake) override;
  void disconnect(const std::shared_ptr<StreamClient>& client) override;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the metrics callbacks, which hold it weakly
};

}  // namespace tickgraph::server
