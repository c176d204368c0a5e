// The bar book: the live bars of every asset that ticks, one CandleAggregator per (asset,
// interval), and the keys of the ticks it takes.
//
// Resume: after a (re)start, before the first batch of an asset, the bar each interval had forming
// is rebuilt from what the store holds, so that a restart neither loses the ticks of a forming bar
// nor overwrites a stored bar with a partial one (see resume() in the .cc). The reads this needs
// are made by load(), which the engine calls without its lock; a release() since voids them.
//
// Tick keys: ticks are stored keyed (asset, time, seq). sort_out() tells a batch's new ticks from
// those already stored (a redelivered feed message, a retried request): a tick identical to a
// stored one at its time is a retry, counted unchanged and not applied again; any other tick takes
// the next free seq of its time. A batch that moves forward in time cannot hold a stored tick and
// needs no read; one that reaches back to the asset's last tick reads the store (after the write
// queue is written).
//
// Thread-safety: none of its own. The engine's lock guards every call except load(), which only
// reads the store and the options. Calls that read the store: load(), and under the engine lock
// (when load() did not read it, or another batch of the asset came meanwhile) resume(), asset()
// for an asset not live, and sort_out() for a batch reaching back; each writes the WriteQueue
// first so that what it reads includes what is queued.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/candle_aggregator.h"
#include "core/result.h"
#include "live/ticks.h"
#include "live/write_queue.h"
#include "store/store.h"

namespace tickgraph::live {

// A batch's tick indexes per symbol, in batch order.
using ByAsset = std::map<std::string, std::vector<std::size_t>, std::less<>>;

// A forming bar that a batch changed.
struct FormingBar {
  std::string_view symbol;  // a key of the book: valid until the asset is released
  Interval interval;
  Candle bar;
};

class BarBook {
 public:
  // What an asset's resume rebuilds its forming bars from, per interval (finest first): the last
  // stored bar and what was stored after it (the ticks for the finest interval, the next finer
  // interval's bars for the others).
  struct ResumeData {
    struct Level {
      std::optional<Candle> last;
      std::vector<Tick> ticks;
      CandleSeries finer;
    };
    std::vector<Level> levels;
  };
  // An asset not yet live, read without the engine lock.
  struct AssetLoad {
    Status status;  // not_found for an unknown symbol; the store's failure
    std::int64_t id = 0;
    ResumeData resume;
  };
  // The stored ticks of a batch's time span on one asset, for sort_out()'s redelivery check,
  // read without the engine lock: current while no other batch of the asset was sorted.
  struct TickRead {
    bool was_live = false;
    std::int64_t id = 0;  // set by load() for an asset not live yet
    Timestamp lo = INT64_MAX;
    Timestamp hi = INT64_MIN;
    std::uint64_t sorted = 0;  // the asset's sorted batches when wanted() looked
    bool read = false;
    std::vector<store::StoredTick> ticks;
  };
  struct Loaded {
    std::map<std::string, AssetLoad, std::less<>> assets;
    std::map<std::string, TickRead, std::less<>> ticks;
    std::uint64_t release_epoch = 0;  // release() calls when it was read: newer ones void it
    bool empty() const { return assets.empty() && ticks.empty(); }
  };

  BarBook(store::Store& store, WriteQueue& writes, std::vector<Interval> intervals);

  // What load() must read for the batch: its assets that are not live yet (ids, resume data),
  // and the stored ticks of the batch's span for those and for the assets whose batch reaches
  // back to their last tick (the redelivery check). Empty for a batch that moves forward.
  Loaded wanted(std::span<const TickInput> ticks) const;
  // Reads what wanted() names. Reads the store; call it without the engine lock, after
  // writes.write_queued() (the caller's: the error is then the store's). A read that fails is
  // left undone: the step that needs it reads under the lock and reports the failure.
  void load(Loaded& loaded) const;

  // Groups the batch by asset (keeping batch order), making its assets live (from `loaded` when
  // it holds them). Errors: invalid_argument naming ticks[i].symbol (an unknown asset), or the
  // store's failure (prefixed "store: ").
  Status group(std::span<const TickInput> ticks, ByAsset& by_asset, const Loaded* loaded);
  // Resumes the grouped assets not resumed yet (from `loaded` when it holds them). Bars that
  // resuming closes go to `closed`, to be fed and written like any closed bar even when a later
  // step fails. On failure the asset starts afresh next time; the store's failure, prefixed
  // "store: ", detail asset.
  Status resume(const ByAsset& by_asset, std::vector<ClosedBar>& closed, const Loaded* loaded);
  // See the top. New ticks are appended to `fresh` per asset; retried ones are marked. The
  // stored ticks come from `loaded` when it holds them and they are current, else from the store.
  Status sort_out(std::span<const TickInput> ticks, const ByAsset& by_asset,
                  std::vector<bool>& retried, FreshTicks& fresh, IngestCounts& counts,
                  const Loaded* loaded);
  // ingest()'s ticks being written without the engine lock keep their seqs reserved meanwhile,
  // so that a feed's tick of the same asset and time takes the next one.
  void reserve(const FreshTicks& fresh);
  void clear_reserved() { in_flight_seqs_.clear(); }
  // Applies the batch's ticks not marked retried; appends the bars that closed to `closed` and
  // returns the forming bars that changed. A tick late for one interval may still belong to a
  // forming bar of a longer one: each interval decides; it counts late when one refused it.
  std::vector<FormingBar> apply(std::span<const TickInput> ticks, const ByAsset& by_asset,
                                const std::vector<bool>& retried, std::vector<ClosedBar>& closed,
                                IngestCounts& counts);
  // Closes every time bar whose end is <= now, in (asset, interval) order.
  std::vector<ClosedBar> close_until(Timestamp now);

  // The live asset's id, making it live (not resumed) if it is not: not_found for an unknown
  // symbol, or the store's failure.
  Result<std::int64_t> asset(std::string_view symbol);
  // Makes the asset live (not resumed) with an id read beforehand, without the store.
  void adopt(std::string_view symbol, std::int64_t id);

  // What may change the bars stored for an asset: whether it is live, how many of its bars have
  // closed, and the releases. Two equal marks mean no bar of the asset closed between them, so
  // bars read from the store (after the write queue was written) between them are current.
  struct Mark {
    bool live = false;
    std::uint64_t closed = 0;
    std::uint64_t release_epoch = 0;
    bool operator==(const Mark&) const = default;
  };
  Mark mark(std::string_view symbol) const;
  bool contains(std::string_view symbol) const { return assets_.contains(symbol); }
  // Its id; the asset must be live.
  std::int64_t id_of(std::string_view symbol) const { return assets_.find(symbol)->second.id; }
  std::optional<Candle> forming(std::string_view symbol, Interval interval) const;
  // Forgets these assets' live state; what load() read before is void.
  void release(std::span<const std::string> symbols);

 private:
  struct AssetLive {
    std::int64_t id = 0;
    std::map<Interval, CandleAggregator> aggregators;
    bool resumed = false;       // forming bars rebuilt from the store after (re)start
    std::uint32_t touched = 0;  // scratch of apply(): intervals whose forming bar changed
    std::uint64_t closed = 0;   // bars closed since it became live (see Mark)
    std::uint64_t sorted = 0;   // batches sort_out() keyed (see TickRead)
    // No stored or staged tick of the asset is later than this (set by resume(), raised by each
    // batch): a batch whose ticks are all later cannot hold a redelivery.
    Timestamp last_time = INT64_MIN;
  };

  Result<ResumeData> read_resume(std::int64_t id) const;
  Result<AssetLive*> asset_live(std::string_view symbol, const Loaded* loaded);
  const AssetLoad* find_loaded(const Loaded* loaded, std::string_view symbol) const;
  Status resume_one(const std::string& symbol, AssetLive& live, std::vector<ClosedBar>& closed,
                    const Loaded* loaded);
  void reset_aggregators(AssetLive& live) const;

  store::Store& store_;
  WriteQueue& writes_;
  const std::vector<Interval> intervals_;
  std::map<std::string, AssetLive, std::less<>> assets_;
  std::uint64_t release_epoch_ = 0;
  std::map<std::int64_t, std::unordered_map<Timestamp, std::int64_t>> in_flight_seqs_;
};

}  // namespace tickgraph::live
