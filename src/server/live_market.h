// The live market: ticks in, bars and analytics out, pushed to stream clients.
//
// Ingest (POST /v1/ticks: ingest()): a batch is checked whole first (known symbols, finite
// prices > 0, sizes >= 0; the error names the tick's index and field) and refused whole when one
// tick is bad. Then, in order: the ticks are written to the store (so an acknowledged batch
// survives a crash, and a refused one changed nothing) while the engine lock is free, so streams
// and feeds go on while the store waits out a locked database; then they are applied to one
// CandleAggregator per (asset, interval) for every interval, and subscribers get the new forming
// candle and provisional analytics (push executor peek) or, for a closed bar, the final candle and
// values (push executor on_bar); the closed bars and standing graphs' values are written after
// the engine lock is released. advance_clock() closes time bars whose end has passed by the wall
// clock, so a quiet market still closes bars.
//
// Feeds (Kafka, NATS: MarketSink; serve's simulator) use stage() and flush() instead, so that a
// tick reaches the clients without waiting for the store's commit: stage() applies and publishes at
// once and queues the batch's writes; flush() writes the queue in one store batch (one fsync), and
// only then does the source acknowledge the ticks (commit the Kafka offset, ack the JetStream
// message). A client may so see a tick that a crash loses from the store, but never from the
// feed: unacknowledged, it is delivered again, and its redelivery gives the same bars. A batch
// that moves forward in time needs no read of the store (see sort_out in the .cc); reads that
// must see every published bar (resume, warm-up, snapshots) write the queue first.
//
// After a restart the first tick of an (asset, interval) whose last stored bar is still open
// resumes that bar (the stored bar seeds the aggregator), so a restart does not overwrite a bar
// with a partial one.
//
// Streams: a subscription is (assets, interval, graph, outputs). Each (asset, interval, graph)
// is a topic with one push executor, warmed by replaying the latest stored bars (up to
// LiveOptions::warmup_bars) and then fed the live bars. A topic records the bars it has seen and
// the values it computed, so a late subscriber's snapshot holds exactly the values the stream
// continues from. Snapshot and registration happen under the engine's lock: no update is missed
// or repeated between them.
//
// Standing graphs (LiveOptions::standing, used by ingest workers): a graph run at an interval on
// every asset that ticks, whether or not a client follows it. Its topic is warmed from the store
// when the asset's first batch arrives, its final values are written to the store as
// materialised analytics (idempotent, so a redelivered bar rewrites the same values), and every
// update it makes goes to LiveOptions::on_update with the candles of every interval: the NATS
// bus publishes them for API nodes that run no engine. release() forgets assets whose feed moved
// to another process (a Kafka partition revoked); taking them back resumes them from the store.
//
// Relay mode (LiveOptions::relay_only, `serve --no-engine`): no ingest; a snapshot comes from the
// store (candles and materialised analytics), and the updates given to relay() (from the bus) go
// to the clients that follow their topic.
//
// With LiveOptions::write_behind, a thread of the market writes the queue (stage()'s ticks, the
// closed bars, standing values) every write_period, and retries while the store fails; stage()
// refuses batches once max_queued wait (the feed's backpressure).
//
// Thread-safety: every public function may be called from any thread; one mutex serialises the
// engine (ingest, clock, subscriptions). Delivery to clients never blocks the engine (see
// stream.h). Store writes of ticks, bars and values happen outside the engine lock; reads still
// inside it are the first batch of an asset after a start (its resume), a batch reaching back to
// the asset's last tick (the redelivery check) and a new topic's warm-up and snapshot: on SQLite
// (WAL) a locked database does not block them unless a write of this process is waiting on it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/candle.h"
#include "core/candle_aggregator.h"
#include "core/clock.h"
#include "core/result.h"
#include "server/metrics.h"
#include "server/stream_handler.h"
#include "store/store.h"

namespace tickgraph::server {

struct LiveOptions {
  std::vector<Interval> intervals{kAllIntervals.begin(), kAllIntervals.end()};
  std::size_t warmup_bars = 5000;     // history replayed into a new topic's executor
  std::size_t default_history = 300;  // bars in a snapshot when the client does not say
  std::size_t max_history = 5000;
  // Topics (asset, interval, graph) one stream connection may follow; more is refused (429).
  std::size_t max_subscriptions = 256;
  StreamLimits limits;
  // Graphs run on every asset that ticks, with their final values stored (see the top).
  struct Standing {
    std::string graph;
    Interval interval = Interval::k1m;
  };
  std::vector<Standing> standing;
  // Receives every update the engine makes: (symbol, serialised tickgraph.v1.Update). Called
  // under the engine lock, so it must only queue (NatsBus::publish does).
  std::function<void(const std::string& symbol, const std::string& update)> on_update;
  // No engine: ingest is refused, streams relay what relay() is given.
  bool relay_only = false;
  // Bounds tick times (at most an hour ahead), stamps updates' serverTime and ages stream
  // clients' queues (stream.h).
  const Clock* clock = &system_clock();
  // A thread of the market's own writes what stage() and advance_clock() queue, every
  // write_period, so that neither waits for the store (serve's simulator and clock); without it
  // the callers flush() (the Kafka and NATS sources, to acknowledge only what is stored).
  bool write_behind = false;
  std::chrono::milliseconds write_period{50};
  // stage() refuses a batch (unavailable) while this many batches wait to be written: the
  // feed's backpressure when the store does not keep up.
  std::size_t max_queued = 10'000;
  // How long ingest() waits for earlier ingest() calls still writing before it answers
  // unavailable (the store's own busy timeout bounds each write).
  std::chrono::milliseconds store_wait{10'000};
};

struct TickInput {
  std::string symbol;
  Tick tick;
};

struct IngestCounts {
  std::int64_t accepted = 0;   // applied to the live bars
  std::int64_t late = 0;       // stored, but their bar had already closed
  std::int64_t unchanged = 0;  // already stored (a retried batch)
};

// A subscription request, as the WebSocket message or the SSE query gives it.
struct SubscribeRequest {
  std::vector<std::string> assets;
  Interval interval = Interval::k1m;
  std::string graph;                 // "" = candles only
  std::vector<std::string> outputs;  // "" = all of the graph's outputs
  std::size_t history = 0;           // 0 = LiveOptions::default_history
};

class LiveMarket : public StreamHandler {
 public:
  LiveMarket(store::Store& store, Metrics& metrics, LiveOptions options = {});
  ~LiveMarket() override;
  LiveMarket(const LiveMarket&) = delete;
  LiveMarket& operator=(const LiveMarket&) = delete;

  // See the top of this file. `source` labels the ingest metrics ("api", "simulator"). Returns
  // once the ticks are stored; an error means nothing of the batch was stored or applied:
  // invalid_argument naming the tick's field ("ticks[3].price") for a bad tick,
  // unavailable (or the store's own code) when the store failed.
  Result<IngestCounts> ingest(std::span<const TickInput> ticks, std::string_view source);
  // The feed path (MarketSink): applies the batch at once (what it changes is published) and
  // queues its writes; flush() writes everything queued and returns once it is stored, so the
  // source acknowledges only then. An error from stage() means nothing of the batch was applied
  // (the source retries it). A redelivered batch is recognised: its ticks are counted unchanged.
  // The ingest metrics count a staged batch once it is written.
  Result<IngestCounts> stage(std::span<const TickInput> ticks, std::string_view source);
  Status flush();
  // Entries staged and not yet written.
  std::size_t queued() const;
  // Closes every time bar whose end is <= now.
  void advance_clock(Timestamp now);
  // The forming bar of an asset at an interval, if any.
  std::optional<Candle> forming(std::string_view symbol, Interval interval) const;

  // A graph was replaced or deleted: its topics end; their clients get an error message
  // (code "graph_changed") and must subscribe again. Standing topics of it start again with the
  // new version at the next batch.
  void graph_changed(std::string_view name);

  // Forgets the live state of these assets (forming bars, standing topics); see the top.
  void release(std::span<const std::string> symbols);
  // Relay mode: one serialised tickgraph.v1.Update from another process's engine. An update
  // that does not parse is counted and dropped.
  void relay(std::string_view update);

  // Subscribes `client` (adding to what it has); queues the snapshot on it. Errors:
  // invalid_argument (naming the parameter), not_found (an asset or graph), resource_exhausted (too
  // many subscriptions), or the store's failure.
  Status subscribe(const std::shared_ptr<StreamClient>& client, const SubscribeRequest& request);
  // Drops the client's subscriptions to `assets` (all when empty).
  void unsubscribe(const std::shared_ptr<StreamClient>& client,
                   const std::vector<std::string>& assets);

  // A generation number per asset that changes whenever a bar of the asset is written (live or
  // by bump()), so caches of candle reads know when they are stale.
  std::uint64_t generation(std::string_view symbol) const;
  void bump(std::string_view symbol);

  std::size_t client_count() const;

  // StreamHandler
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
