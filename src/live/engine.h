// The live engine: ticks in, bars and analytics out, published to update sinks. The pieces, each
// in its own file: the bar book (bar_book.h: live bars, resume, tick keys), the topic runner
// (topics.h: push executors, warm-up, standing graphs, snapshots) and the write queue
// (write_queue.h: every store write). The engine orders them under one lock.
//
// Ingest (POST /v1/ticks: ingest()): a batch is checked whole first (live/ticks.h) and refused
// whole when one tick is bad. Its assets not yet live are read from the store before the engine
// lock; the batch's new ticks are then keyed under the lock, written without it (so streams and
// feeds go on while the store waits out a locked database), and applied under it: closed bars and
// the forming bars that changed are published, and the closed bars and standing values are queued
// for the store, written after the lock is released.
//
// Feeds (Kafka, NATS: market_sink.h; serve's simulator) use stage() and flush() instead, so that a
// tick reaches the clients without waiting for the store's commit: stage() applies and publishes at
// once and queues the batch's writes; flush() writes the queue in one store batch (one fsync), and
// only then does the source acknowledge the ticks. A client may so see a tick that a crash loses
// from the store, but never from the feed: unacknowledged, it is delivered again, and its
// redelivery gives the same bars. stage() refuses a batch while the queue is full: the feed's
// backpressure.
//
// advance_clock() closes time bars whose end has passed by the wall clock, so a quiet market still
// closes bars. release() forgets assets whose feed moved to another process (a Kafka partition
// revoked); taking them back resumes them from the store.
//
// Follow (a stream client subscribing): the assets, the new topics' graphs and the bars that warm
// them (or a candle topic's snapshot) are read without the engine lock, after the write queue is
// written; under the lock they are used if no bar of the assets they read closed meanwhile
// (BarBook::Mark), else read again there (a busy asset: rare, and then as before).
//
// Standing graphs (ingest workers): an asset's first batch makes its standing topics; their
// graphs, warm-up bars and latest stored values are read with the batch's other reads, before the
// engine lock, and used under it if still current (Topics::check_standing).
//
// Thread-safety: every public function may be called from any thread. The engine lock serialises
// the bar book and the topics; sinks are called under it (they must not block). Under it the
// store is read only when what was read before the lock is no longer current (each writes the
// queue first): an asset's resume or redelivery check (a batch reaching back to its last tick)
// when another batch of the asset or a release came meanwhile, a followed topic whose assets
// closed a bar while it was loaded, and a standing warm-up when its graph changed or a bar of its
// assets closed meanwhile. engine_test.cc checks that no other store call holds the lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/result.h"
#include "live/generations.h"
#include "live/ticks.h"
#include "live/topic_source.h"
#include "live/topics.h"
#include "live/update_sink.h"
#include "live/write_queue.h"
#include "store/store.h"

namespace tickgraph::live {

struct EngineOptions {
  std::vector<Interval> intervals{kAllIntervals.begin(), kAllIntervals.end()};
  std::size_t warmup_bars = 5000;  // history replayed into a new topic's executor
  std::size_t max_history = 5000;  // bars a topic keeps for snapshots
  std::vector<StandingGraph> standing;
  // Receives the updates of every topic; the stream protocol keeps those someone follows.
  UpdateSink* streams = nullptr;
  // Receives the candles of every asset and interval and the standing topics' updates (the NATS
  // bus of an ingest worker).
  UpdateSink* bus = nullptr;
  // Bounds tick times (at most an hour ahead) and stamps updates' server time.
  const Clock* clock = &system_clock();
  WriteQueue::Options writes;
  // How long ingest() waits for earlier ingest() calls still writing before it answers
  // unavailable (the store's own busy timeout bounds each write).
  std::chrono::milliseconds store_wait{10'000};
};

struct FollowLoad;

class Engine : public TopicSource {
 public:
  // Registers its metrics in `metrics`; `generations` is bumped for every asset whose bars are
  // written. All three must outlive the engine.
  Engine(store::Store& store, Metrics& metrics, Generations& generations, EngineOptions options);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // See the top. `source` labels the ingest metrics ("api"). Returns once the ticks are stored;
  // an error means nothing of the batch was stored or applied: invalid_argument naming the tick's
  // field ("ticks[3].price"), unavailable when earlier batches waited past store_wait, or the
  // store's failure (prefixed "store: ").
  Result<IngestCounts> ingest(std::span<const TickInput> ticks, std::string_view source);
  // The feed path (see the top). An error means nothing of the batch was applied (the source
  // retries it): unavailable while the queue is full. A redelivered batch is recognised: its
  // ticks are counted unchanged. The ingest metrics count a staged batch once it is written.
  Result<IngestCounts> stage(std::span<const TickInput> ticks, std::string_view source);
  // Writes everything staged; OK once it is stored.
  Status flush();
  // Batches staged and not yet written, and the most stage() lets wait.
  std::size_t queued() const;
  std::size_t max_queued() const;
  // Closes every time bar whose end is <= now.
  void advance_clock(Timestamp now);
  // The forming bar of an asset at an interval, if any.
  std::optional<Candle> forming(std::string_view symbol, Interval interval) const;
  // Forgets the live state of these assets (forming bars, standing topics). What is staged is
  // written first if the store allows.
  void release(std::span<const std::string> symbols);

  // TopicSource
  Status follow(const FollowRequest& request, const Commit& commit) override;
  void unfollowed() override;
  // Standing topics of the graph start again with its new version at each asset's next batch.
  void graph_changed(std::string_view name) override;
  std::size_t topic_count() const override;

 private:
  // What follow() reads of the store before it takes the engine lock.
  Result<FollowLoad> load(const FollowRequest& request);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickgraph::live
