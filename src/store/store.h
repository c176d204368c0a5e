// The store: durable history for tickgraph. One interface, two implementations that pass one
// conformance suite (store_conformance_test.cc): SQLite (sqlite/, the embedded default: one file,
// WAL) and PostgreSQL (postgres/, for scale). open_store() picks one from a URL.
//
// What it holds: assets; candles per interval; ticks; graph specs, versioned (a changed spec is a
// new version, so results computed under an old version are never reused); materialised
// analytics per (asset, graph version, output); ingest offsets per source.
//
// Writes are idempotent on their natural key: candles on (asset, interval, time), ticks on
// (asset, time, seq), analytics on (asset, graph version, output, time). Writing a candle that
// differs from the stored one replaces it; writing one the store did not have adds it. Either
// deletes the materialised analytics of that asset from that bar's time on, for every graph
// (they were computed without it); re-writing an identical bar changes nothing. Every write call
// is one transaction: it is applied whole or not at all, and once it returns OK it survives a
// crash. Non-finite prices, sizes or volumes fail the whole call, as does an unknown asset id.
//
// Listing order: assets by symbol, graphs by name. Deleting a graph that does not exist is an
// error; a name put again after deletion starts again at version 1.
//
// Errors are values: every call returns Status or Result with a message naming what failed.
// Thread-safety: a Store may be used from several threads; implementations serialise or pool
// connections internally.
#pragma once

#include <cstdint>
#include <memory>
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

namespace tickgraph::store {

// A half-open or closed range of bar times: [from, to], both inclusive.
struct TimeRange {
  Timestamp from = INT64_MIN;
  Timestamp to = INT64_MAX;
};

struct StoredTick {
  Timestamp time = 0;
  std::int64_t seq = 0;  // orders ticks with equal times; part of the key
  double price = 0;
  double size = 0;
};

struct GraphVersion {
  std::int64_t graph_id = 0;
  std::string name;
  std::int64_t version = 0;  // 1, 2, … per name; a new version only when the text changes
  std::string spec;          // the spec text as given (YAML or JSON)
  Timestamp created = 0;
};

// One output column of a graph run, on its own timeline.
struct AnalyticsSeries {
  std::string output;  // "bb.upper"
  std::vector<Timestamp> time;
  std::vector<double> values;  // NaN is stored as NULL
};

struct WriteStats {
  std::int64_t inserted = 0;   // new keys
  std::int64_t replaced = 0;   // existing keys whose values changed
  std::int64_t unchanged = 0;  // existing keys with identical values (a re-import)
};

class Store {
 public:
  virtual ~Store() = default;

  // --- assets ---
  // Inserts or updates by symbol; returns the asset with its id.
  virtual Result<Asset> upsert_asset(const Asset& asset) = 0;
  virtual Result<std::optional<Asset>> find_asset(std::string_view symbol) = 0;
  virtual Result<std::vector<Asset>> list_assets(const AssetFilter& filter = {}) = 0;

  // --- candles ---
  // Upserts bars of one asset and interval in one transaction (all or nothing).
  virtual Result<WriteStats> write_candles(std::int64_t asset_id, Interval interval,
                                           std::span<const Candle> bars) = 0;
  // Bars with time in range, ascending, columnar; at most `limit` (0 = no limit) from the start.
  virtual Result<CandleSeries> read_candles(std::int64_t asset_id, Interval interval,
                                            TimeRange range, std::size_t limit = 0) = 0;
  // The latest n bars with time <= before, ascending.
  virtual Result<CandleSeries> latest_candles(std::int64_t asset_id, Interval interval,
                                              std::size_t n, Timestamp before = INT64_MAX) = 0;
  virtual Result<std::int64_t> count_candles(std::int64_t asset_id, Interval interval) = 0;

  // --- ticks ---
  virtual Result<WriteStats> write_ticks(std::int64_t asset_id,
                                         std::span<const StoredTick> ticks) = 0;
  virtual Result<std::vector<StoredTick>> read_ticks(std::int64_t asset_id, TimeRange range,
                                                     std::size_t limit = 0) = 0;

  // --- graph specs ---
  // Stores `spec` under `name`: returns the latest version when the text is unchanged, else a
  // new version.
  virtual Result<GraphVersion> put_graph(std::string_view name, std::string_view spec) = 0;
  // The latest version (or a given one) of a graph; nullopt when absent.
  virtual Result<std::optional<GraphVersion>> get_graph(std::string_view name,
                                                        std::int64_t version = 0) = 0;
  virtual Result<std::vector<GraphVersion>> list_graphs() = 0;  // latest version of each
  virtual Status delete_graph(std::string_view name) = 0;       // all versions and results

  // --- materialised analytics ---
  virtual Status write_analytics(std::int64_t asset_id, std::int64_t graph_id, std::int64_t version,
                                 std::span<const AnalyticsSeries> series) = 0;
  virtual Result<AnalyticsSeries> read_analytics(std::int64_t asset_id, std::int64_t graph_id,
                                                 std::int64_t version, std::string_view output,
                                                 TimeRange range) = 0;

  // --- ingest offsets ---
  virtual Status set_offset(std::string_view source, std::string_view partition,
                            std::int64_t offset) = 0;
  virtual Result<std::optional<std::int64_t>> get_offset(std::string_view source,
                                                         std::string_view partition) = 0;
};

// Opens a store from a URL: "sqlite:PATH" (created if absent, migrated forward) or
// "postgresql://user@host:port/db" (schema created or migrated). An empty URL means the default
// SQLite file (default_database_path()).
Result<std::unique_ptr<Store>> open_store(std::string_view url);

// $TICKGRAPH_DB if set, else $XDG_DATA_HOME/tickgraph/tickgraph.db, else
// ~/.local/share/tickgraph/tickgraph.db.
std::string default_database_url();

}  // namespace tickgraph::store
