// The live engine's writes, queued: every store write the engine makes goes through here.
//
// The engine applies a batch at once and publishes what it changed; what the store must get (a
// feed's new ticks, the bars that closed, the final values of standing graphs) is pushed here as
// one WriteBatch per ingest batch or clock step, and written in order by flush(), as one store
// batch (one commit where the store can). A failed flush takes nothing off the queue: the next one
// writes it all again (writes are idempotent). A standing graph's values that the store refuses
// do not hold up the ticks and bars: they stay queued for the next flush, unless their graph
// version is gone (replaced or deleted), and count in tickgraph_live_store_errors_total.
//
// With Options::write_behind a thread of the queue's own flushes what is pushed as soon as it is
// pushed (and every write_period), and after a failure again with a growing pause (up to 2 s),
// logging once when the store fails and once when it recovers; without it the owner calls
// flush() (a Kafka or NATS source, to acknowledge only what is stored).
//
// Thread-safety: every function may be called from any thread. Locks: writer_mutex_ (one writer
// at a time; held across the store calls) then queue_mutex_ (the queue's shape only, so push()
// never waits for the store). The engine may push under its own lock; flush() must not be called
// under a lock that a store call's caller could need for longer than the store's busy timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/metrics.h"
#include "core/result.h"
#include "live/generations.h"
#include "live/ticks.h"
#include "store/store.h"

namespace tickgraph::live {

// Final values of a standing graph on one asset, to be stored as materialised analytics.
struct ValueRows {
  std::string graph;
  std::int64_t asset_id = 0;
  std::int64_t graph_id = 0;
  std::int64_t version = 0;
  std::vector<std::string> outputs;
  std::vector<std::pair<Timestamp, std::vector<double>>> rows;  // one value per output
};

// What one ingest batch or clock step gives the store.
struct WriteBatch {
  std::string source;  // the ingest metrics' label; "" when the ticks were counted already
  IngestCounts counts;
  FreshTicks ticks;                         // per asset
  std::vector<ClosedBar> closed;            // in the order they closed
  std::map<std::string, ValueRows> values;  // per standing topic
  bool empty() const {
    return ticks.empty() && closed.empty() && values.empty() && counts.accepted == 0 &&
           counts.late == 0;
  }
};

class WriteQueue {
 public:
  struct Options {
    bool write_behind = false;
    std::chrono::milliseconds write_period{50};
    // full() from this many batches on: the feeds' backpressure when the store does not keep up.
    std::size_t max_queued = 10'000;
  };

  // Registers the store and ingest metrics in `metrics`; bumps `generations` of every asset
  // whose bars a flush wrote. Starts the writer thread with Options::write_behind.
  WriteQueue(store::Store& store, Metrics& metrics, Generations& generations, Options options);
  // Stops the writer and writes what is left once more; what still fails is logged (a feed
  // delivers its unacknowledged ticks again to the next process).
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  // Queues a batch (an empty one is dropped) and wakes the writer, unless it is retrying a
  // failed write.
  void push(WriteBatch batch);
  // Writes everything queued; returns once it is stored, or the store's failure.
  Status flush();
  // flush() when anything is queued: before a read that must see every bar the engine closed.
  Status write_queued();
  // Writes ticks now, in one store batch, ahead of the queue (POST /v1/ticks stores its ticks
  // before they are applied). Timed like the queue's writes.
  Status write_ticks_now(const FreshTicks& ticks);
  // The ingest metrics (tickgraph_ingest_ticks_total, …) of ticks now stored.
  void count_ingested(std::string_view source, const IngestCounts& counts);

  std::size_t size() const { return queued_.load(); }
  bool full() const { return size() >= options_.max_queued; }
  std::size_t max_queued() const { return options_.max_queued; }
  bool writes_behind() const { return writer_.joinable(); }

 private:
  Status flush_locked();  // writer_mutex_ held
  void write_behind_loop();

  store::Store& store_;
  Metrics& metrics_;
  Generations& generations_;
  const Options options_;
  Counter& closed_bars_;
  Histogram& latency_ticks_;
  Histogram& latency_candles_;
  Histogram& latency_analytics_;
  Counter& store_errors_;

  std::mutex writer_mutex_;
  std::mutex queue_mutex_;
  std::deque<WriteBatch> queue_;                 // under queue_mutex_
  std::atomic<std::size_t> queued_{0};           // queue_.size(), read without a lock
  std::set<std::string> reported_value_errors_;  // graphs whose values failed (writer_mutex_)

  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool stop_ = false;                 // under wake_mutex_
  std::atomic<bool> failing_{false};  // retrying a failed write: push() does not wake the writer
  std::thread writer_;
};

}  // namespace tickgraph::live
