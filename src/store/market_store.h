// The market half of the database: assets, candles per interval, ticks and ingest offsets.
//
// Writes are idempotent on their natural key: candles on (asset, interval, time), ticks on
// (asset, time, seq). Writing a candle that differs from the stored one replaces it; writing one
// the store did not have adds it; re-writing an identical one changes nothing (WriteStats counts
// each). A replaced bar, or one added before the latest stored bar of its interval (a backfill),
// deletes the materialised analytics (graph_store.h) of that asset from that bar's time on, for
// every graph: they were computed without it. Bars appended after the latest one delete nothing:
// no stored value can depend on them, and a live engine appends a bar of one interval while it
// materialises another.
//
// Every write call is one transaction: applied whole or not at all, and once it returns OK it
// survives a crash (the backends say how: sqlite/sqlite_store.h, postgres/postgres_store.h).
//
// Arguments are checked before the database is touched (store/checks.h, the same rules for every
// backend). Failures are values, with a message "<call> on <database>: <cause>" and a code:
//   - invalid_argument: a non-finite price, size or volume, or a symbol that breaks the symbol
//     rules (validate_symbol) — the whole call fails;
//   - not_found: a write for an asset id that does not exist;
//   - unavailable: the database is busy, locked or unreachable (retry later);
//   - data_loss, permission_denied, internal: as the backend reports them.
//
// Thread-safety: safe to call from several threads; the backends serialise or pool connections.
// The public methods are the checking layer and are not virtual; backends implement the do_…
// methods, which are only called with arguments that passed the checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/asset.h"
#include "core/candle.h"
#include "core/interval.h"
#include "core/result.h"
#include "core/time.h"
#include "store/time_range.h"

namespace tickgraph::store {

struct StoredTick {
  Timestamp time = 0;
  std::int64_t seq = 0;  // orders ticks with equal times; part of the key
  double price = 0;
  double size = 0;
};

// What a write did, key by key.
struct WriteStats {
  std::int64_t inserted = 0;   // new keys
  std::int64_t replaced = 0;   // existing keys whose values changed
  std::int64_t unchanged = 0;  // existing keys with identical values (a re-import)
};

class MarketStore {
 public:
  virtual ~MarketStore() = default;

  // --- assets ---
  // Inserts the asset or, when its symbol is stored, replaces every other field; returns it with
  // the id the store assigned (the id passed in is ignored). invalid_argument when the symbol
  // breaks the symbol rules.
  Result<Asset> upsert_asset(const Asset& asset);
  // The asset with this symbol; nullopt when there is none.
  Result<std::optional<Asset>> find_asset(std::string_view symbol);
  // The assets matching `filter`, by symbol.
  Result<std::vector<Asset>> list_assets(const AssetFilter& filter = {});

  // --- candles ---
  // Upserts bars of one asset and interval, in any order, in one transaction (all or nothing).
  // invalid_argument when a price or volume is not finite; not_found for an unknown asset id.
  Result<WriteStats> write_candles(std::int64_t asset_id, Interval interval,
                                   std::span<const Candle> bars);
  // Bars with time in range, ascending, columnar; at most `limit` (0 = no limit) from the start.
  // An unknown asset id has no bars.
  Result<CandleSeries> read_candles(std::int64_t asset_id, Interval interval, TimeRange range,
                                    std::size_t limit = 0);
  // The latest n bars with time <= before, ascending (none when n is 0).
  Result<CandleSeries> latest_candles(std::int64_t asset_id, Interval interval, std::size_t n,
                                      Timestamp before = INT64_MAX);
  Result<std::int64_t> count_candles(std::int64_t asset_id, Interval interval);

  // --- ticks ---
  // Upserts ticks of one asset in one transaction. invalid_argument when a price or size is not
  // finite; not_found for an unknown asset id.
  Result<WriteStats> write_ticks(std::int64_t asset_id, std::span<const StoredTick> ticks);
  // Ticks with time in range, by (time, seq); at most `limit` (0 = no limit) from the start.
  Result<std::vector<StoredTick>> read_ticks(std::int64_t asset_id, TimeRange range,
                                             std::size_t limit = 0);

  // --- batches ---
  // Runs `body`, whose calls to this database form one unit where the backend can group them:
  // SQLite runs them in one transaction (one commit, hence one fsync, instead of one per call;
  // each call inside still applies whole or not at all, as a savepoint) and applies the unit
  // whole or not at all; other threads' calls wait meanwhile. Elsewhere (PostgreSQL) `body` runs
  // as is, each call its own transaction. Returns body's failure as it is.
  Status batch(const std::function<Status()>& body);

  // --- ingest offsets ---
  // The position a source has consumed up to in one partition; the last one set wins (no
  // monotonic rule: the caller decides).
  Status set_offset(std::string_view source, std::string_view partition, std::int64_t offset);
  // nullopt when none was set.
  Result<std::optional<std::int64_t>> get_offset(std::string_view source,
                                                 std::string_view partition);

 protected:
  // Where the data lives, for messages: "'PATH'" or "PostgreSQL HOST:PORT/DB". Called only when
  // a call fails.
  virtual std::string location() const = 0;

  // What the backends implement. Failures carry only their cause ("no asset with id 7"): the
  // public methods name the call and the database.
  virtual Result<Asset> do_upsert_asset(const Asset& asset) = 0;
  virtual Result<std::optional<Asset>> do_find_asset(std::string_view symbol) = 0;
  virtual Result<std::vector<Asset>> do_list_assets(const AssetFilter& filter) = 0;
  virtual Result<WriteStats> do_write_candles(std::int64_t asset_id, Interval interval,
                                              std::span<const Candle> bars) = 0;
  virtual Result<CandleSeries> do_read_candles(std::int64_t asset_id, Interval interval,
                                               TimeRange range, std::size_t limit) = 0;
  // n > 0.
  virtual Result<CandleSeries> do_latest_candles(std::int64_t asset_id, Interval interval,
                                                 std::size_t n, Timestamp before) = 0;
  virtual Result<std::int64_t> do_count_candles(std::int64_t asset_id, Interval interval) = 0;
  virtual Result<WriteStats> do_write_ticks(std::int64_t asset_id,
                                            std::span<const StoredTick> ticks) = 0;
  virtual Result<std::vector<StoredTick>> do_read_ticks(std::int64_t asset_id, TimeRange range,
                                                        std::size_t limit) = 0;
  // Names its own failures (the body's are already named). The default runs `body` as is.
  virtual Status do_batch(const std::function<Status()>& body) { return body(); }
  virtual Status do_set_offset(std::string_view source, std::string_view partition,
                               std::int64_t offset) = 0;
  virtual Result<std::optional<std::int64_t>> do_get_offset(std::string_view source,
                                                            std::string_view partition) = 0;

 private:
  // `result`, or its failure named after the call (call() gives the name, built only then).
  template <class R, class Call>
  R named(R result, const Call& call) const;
};

}  // namespace tickgraph::store
