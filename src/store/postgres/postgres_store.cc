// The PostgreSQL store.
//
// Every call borrows one connection from a small pool (pg_connection.h) and returns it when done.
// Each write call is one transaction. Bulk writes (candles, ticks, analytics) go through binary
// COPY (pg_binary.h): straight into the table when no stored row can share a key with the new
// ones (a first import, or bars appended after the last stored one), otherwise into a temporary
// stage table followed by one INSERT … ON CONFLICT DO UPDATE … WHERE the values differ, whose
// RETURNING rows tell inserted from replaced keys. That INSERT first drops the staged rows equal
// to stored ones (an anti-join): ON CONFLICT would lock, and so write, every row it looks at,
// which made a re-import of identical bars about four times slower. Writers of one series (asset
// and interval, or asset and graph version) are serialised by a transaction-scoped advisory lock,
// so the "no conflict possible" check stays true until the COPY commits. Reads are one SELECT each
// with binary results, decoded straight into columns.
//
// libpqxx owns the connections and transactions and runs the small queries; libpq runs the binary
// paths on the same session. Every exception is caught in run(), the one place where database
// errors become coded Statuses (sqlstate_code()); the store's public methods (store/checks.h) then
// name the call and the server.
#include "store/postgres/postgres_store.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <optional>
#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>
#include <string>
#include <utility>
#include <vector>

#include "store/checks.h"
#include "store/postgres/pg_binary.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_schema.h"
#include "store/scopes.h"

namespace tickgraph::store {
namespace {

using detail::join_scopes;
using detail::split_scopes;

using pg::BinaryCopyWriter;
using pg::BinaryParams;
using pg::BinaryResult;
using pg::exec_binary;
using pg::PgConnection;

constexpr std::size_t kPoolSize = 4;

// Temporary stage tables, created once per session (PgConnection::session_flags).
enum StageTable : unsigned { kCandleStage = 1u, kTickStage = 2u, kAnalyticsStage = 4u };

// Namespaces of the advisory locks that serialise the writers of one series.
enum class LockSpace : std::int64_t { kCandles = 1, kTicks = 2, kAnalytics = 3 };

std::int64_t series_lock_key(LockSpace space, std::int64_t a, std::int64_t b = 0,
                             std::int64_t c = 0) {
  // A mix of the ids; two series sharing a key only wait for each other.
  std::uint64_t h = 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(space);
  for (const std::int64_t v : {a, b, c}) {
    h ^= static_cast<std::uint64_t>(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  }
  return static_cast<std::int64_t>(h);
}

void ensure_session(PgConnection& conn) {
  if (conn.session_generation == conn.generation()) return;
  // Notices (e.g. "relation already exists, skipping") would go to stderr.
  pg::exec_command(conn.raw(), "SET client_min_messages = warning");
  // Stage tables live in local buffers: room for a few hundred thousand rows (before first use).
  pg::exec_command(conn.raw(), "SET temp_buffers = '64MB'");
  // A lock waited for longer fails the call (55P03: unavailable), as SQLite's busy timeout does.
  pg::exec_command(conn.raw(), "SET lock_timeout = '10s'");
  conn.session_flags = 0;
  conn.session_generation = conn.generation();
}

// Creates a stage table outside any transaction, so that a rolled-back write cannot undo it.
void ensure_stage(PgConnection& conn, StageTable table) {
  if ((conn.session_flags & table) != 0) return;
  switch (table) {
    case kCandleStage:
      pg::exec_command(conn.raw(),
                       "CREATE TEMP TABLE IF NOT EXISTS candle_stage (time bigint, open float8, "
                       "high float8, low float8, close float8, volume float8) "
                       "ON COMMIT DELETE ROWS");
      break;
    case kTickStage:
      pg::exec_command(conn.raw(),
                       "CREATE TEMP TABLE IF NOT EXISTS tick_stage (time bigint, seq bigint, "
                       "price float8, size float8) ON COMMIT DELETE ROWS");
      break;
    case kAnalyticsStage:
      pg::exec_command(
          conn.raw(),
          "CREATE TEMP TABLE IF NOT EXISTS analytics_stage (output text COLLATE \"C\", "
          "time bigint, value float8) ON COMMIT DELETE ROWS");
      break;
  }
  conn.session_flags |= table;
}

// One line, without the trailing newline PostgreSQL puts on its messages.
std::string one_line(std::string message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
    message.pop_back();
  }
  std::replace(message.begin(), message.end(), '\n', ' ');
  return message;
}

// The limit parameter: NULL (no limit) for 0.
void add_limit(BinaryParams& params, std::size_t limit) {
  if (limit == 0) {
    params.null(pg::kInt8Oid);
  } else {
    params.int64(limit > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())
                     ? std::numeric_limits<std::int64_t>::max()
                     : static_cast<std::int64_t>(limit));
  }
}

// Splits rows into rounds that each hold at most one row per key, in key order: the k-th row
// with a given key goes to round k. Writing the rounds one after another gives what writing the
// rows one by one would (the last row of a key wins; each row is classified against the one
// before it). Returns no rounds when the keys are strictly increasing, the usual case: then the
// rows are the only round as they are.
template <class Row, class KeyOf>
std::vector<std::vector<Row>> rounds_of(std::span<const Row> rows, KeyOf key_of) {
  bool increasing = true;
  for (std::size_t i = 1; i < rows.size() && increasing; ++i) {
    increasing = key_of(rows[i - 1]) < key_of(rows[i]);
  }
  if (increasing) return {};
  std::vector<std::size_t> order(rows.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return key_of(rows[a]) < key_of(rows[b]); });
  std::vector<std::vector<Row>> rounds;
  std::size_t occurrence = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    occurrence =
        (i > 0 && !(key_of(rows[order[i - 1]]) < key_of(rows[order[i]]))) ? occurrence + 1 : 0;
    if (rounds.size() <= occurrence) rounds.emplace_back();
    rounds[occurrence].push_back(rows[order[i]]);
  }
  return rounds;
}

// What one round of an upsert did.
struct RoundCounts {
  std::int64_t inserted = 0;
  std::int64_t replaced = 0;
  std::optional<Timestamp> first_changed;
};

// Runs an upsert whose result is (inserted, replaced, earliest changed time or NULL).
RoundCounts run_upsert(PGconn* conn, const char* sql, const BinaryParams& params) {
  const BinaryResult r = exec_binary(conn, sql, params);
  r.expect(0, pg::kInt8Oid);
  r.expect(1, pg::kInt8Oid);
  r.expect(2, pg::kInt8Oid);
  RoundCounts counts;
  counts.inserted = r.int64(0, 0);
  counts.replaced = r.int64(0, 1);
  if (!r.is_null(0, 2)) counts.first_changed = r.int64(0, 2);
  return counts;
}

// Writes `rows` (or its rounds, rounds_of()) with `write_round(round, first)`; adds up the counts.
template <class Row, class WriteRound>
RoundCounts write_rounds(std::span<const Row> rows, const std::vector<std::vector<Row>>& rounds,
                         WriteRound&& write_round) {
  if (rounds.empty()) return write_round(rows, true);
  RoundCounts total;
  for (std::size_t i = 0; i < rounds.size(); ++i) {
    const RoundCounts c = write_round(std::span<const Row>(rounds[i]), i == 0);
    total.inserted += c.inserted;
    total.replaced += c.replaced;
    if (c.first_changed && (!total.first_changed || *c.first_changed < *total.first_changed)) {
      total.first_changed = c.first_changed;
    }
  }
  return total;
}

bool fetch_bool(PGconn* conn, const char* sql, const BinaryParams& params) {
  const BinaryResult r = exec_binary(conn, sql, params);
  return r.rows() == 1 && !r.is_null(0, 0) && r.text(0, 0) == std::string_view("\1", 1);
}

// The status code of a PostgreSQL error, by its SQLSTATE class: the server being unreachable,
// busy, short of resources or shutting down, a lock or statement timeout, a serialization
// failure or a deadlock are transient (unavailable: retry later); bad data is invalid input; a
// read-only server or a missing privilege refuses the write; the rest is a bug in our SQL.
StatusCode sqlstate_code(const std::string& state) {
  if (state.size() != 5) return StatusCode::kUnavailable;  // no SQLSTATE: the connection failed
  const std::string_view cls = std::string_view(state).substr(0, 2);
  if (state == "25006" || state == "42501") return StatusCode::kPermissionDenied;
  if (state == "55P03" || state == "57014") return StatusCode::kUnavailable;  // lock, timeout
  if (cls == "08" || cls == "40" || cls == "53" || cls == "57" || cls == "58") {
    return StatusCode::kUnavailable;
  }
  if (cls == "22" || cls == "23") return StatusCode::kInvalidArgument;
  if (cls == "XX") return StatusCode::kDataLoss;
  return StatusCode::kInternal;
}

// Takes the series lock and checks that the asset exists.
Status lock_series_and_check_asset(PGconn* conn, std::int64_t lock_key, std::int64_t asset_id) {
  const bool found = fetch_bool(
      conn, "SELECT EXISTS (SELECT 1 FROM assets WHERE id = $2) FROM pg_advisory_xact_lock($1)",
      BinaryParams().int64(lock_key).int64(asset_id));
  if (!found) return Status::not_found("no asset with id " + std::to_string(asset_id));
  return Status();
}

Asset asset_from_row(const pqxx::row& row) {
  Asset a;
  a.id = row[0].as<std::int64_t>();
  a.symbol = row[1].as<std::string>();
  a.name = row[2].as<std::string>();
  const Result<AssetClass> cls = parse_asset_class(row[3].as<std::string>());
  a.asset_class = cls.ok() ? *cls : AssetClass::kOther;
  a.currency = row[4].as<std::string>();
  a.exchange = row[5].as<std::string>();
  return a;
}

// Assets from rows of (id, symbol, name, asset_class, currency, exchange, key, value), one row
// per attribute (key NULL when none), grouped by asset.
std::vector<Asset> assets_from_rows(const pqxx::result& rows) {
  std::vector<Asset> assets;
  for (const pqxx::row& row : rows) {
    const auto id = row[0].as<std::int64_t>();
    if (assets.empty() || assets.back().id != id) assets.push_back(asset_from_row(row));
    if (!row[6].is_null()) {
      assets.back().attributes.emplace(row[6].as<std::string>(), row[7].as<std::string>());
    }
  }
  return assets;
}

constexpr const char* kAssetColumns =
    "SELECT a.id, a.symbol, a.name, a.asset_class, a.currency, a.exchange, t.key, t.value "
    "FROM assets a LEFT JOIN asset_attributes t ON t.asset_id = a.id ";

GraphVersion graph_from_row(const pqxx::row& row) {
  GraphVersion g;
  g.graph_id = row[0].as<std::int64_t>();
  g.name = row[1].as<std::string>();
  g.version = row[2].as<std::int64_t>();
  g.spec = row[3].as<std::string>();
  g.created = row[4].as<std::int64_t>();
  return g;
}

constexpr const char* kGraphColumns = "SELECT graph_id, name, version, spec, created FROM graphs ";

// The advisory lock space (first key; the second is hashtext(name)) that serialises the writers
// of one graph name.
constexpr int kGraphNameLock = 0x67726170;  // "grap"

constexpr const char* kCredentialColumns =
    "SELECT id, kind, name, scopes, secret_hash, created, revoked FROM credentials ";

Credential credential_from_row(const pqxx::row& row) {
  Credential c;
  c.id = row[0].as<std::string>();
  c.kind = row[1].as<std::string>();
  c.name = row[2].as<std::string>();
  c.scopes = split_scopes(row[3].as<std::string>());
  c.secret_hash = row[4].as<std::string>();
  c.created = row[5].as<std::int64_t>();
  if (!row[6].is_null()) c.revoked = row[6].as<std::int64_t>();
  return c;
}

constexpr const char* kOldestSigningKey =
    "SELECT kid, algorithm, private_pem, created FROM signing_keys ORDER BY created, kid LIMIT 1";

SigningKey signing_key_from_row(const pqxx::row& row) {
  return SigningKey{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                    row[3].as<std::int64_t>()};
}

// The advisory lock (first key; the second is 0) that serialises the servers storing the first
// signing key.
constexpr int kSigningKeyLock = 0x6b657973;  // "keys"

class PostgresStore final : public Store {
 public:
  PostgresStore(std::unique_ptr<pg::ConnectionPool> pool, const Clock& clock)
      : Store(clock), pool_(std::move(pool)) {}

 private:
  std::string location() const override { return "PostgreSQL " + pool_->server(); }

  Result<Asset> do_upsert_asset(const Asset& asset) override;
  Result<std::optional<Asset>> do_find_asset(std::string_view symbol) override;
  Result<std::vector<Asset>> do_list_assets(const AssetFilter& filter) override;
  Result<WriteStats> do_write_candles(std::int64_t asset_id, Interval interval,
                                      std::span<const Candle> bars) override;
  Result<CandleSeries> do_read_candles(std::int64_t asset_id, Interval interval, TimeRange range,
                                       std::size_t limit) override;
  Result<CandleSeries> do_latest_candles(std::int64_t asset_id, Interval interval, std::size_t n,
                                         Timestamp before) override;
  Result<std::int64_t> do_count_candles(std::int64_t asset_id, Interval interval) override;
  Result<WriteStats> do_write_ticks(std::int64_t asset_id,
                                    std::span<const StoredTick> ticks) override;
  Result<std::vector<StoredTick>> do_read_ticks(std::int64_t asset_id, TimeRange range,
                                                std::size_t limit) override;
  Status do_set_offset(std::string_view source, std::string_view partition,
                       std::int64_t offset) override;
  Result<std::optional<std::int64_t>> do_get_offset(std::string_view source,
                                                    std::string_view partition) override;

  Result<GraphVersion> do_put_graph(std::string_view name, std::string_view spec,
                                    Timestamp created) override;
  Result<std::optional<GraphVersion>> do_get_graph(std::string_view name,
                                                   std::int64_t version) override;
  Result<std::vector<GraphVersion>> do_list_graphs() override;
  Status do_delete_graph(std::string_view name) override;
  Status do_write_analytics(std::int64_t asset_id, std::int64_t graph_id, std::int64_t version,
                            std::span<const AnalyticsSeries> series) override;
  Result<AnalyticsSeries> do_read_analytics(std::int64_t asset_id, std::int64_t graph_id,
                                            std::int64_t version, std::string_view output,
                                            TimeRange range) override;

  Status do_add_credential(const Credential& credential) override;
  Result<std::optional<Credential>> do_find_credential(std::string_view id) override;
  Result<std::vector<Credential>> do_list_credentials(std::string_view kind) override;
  Result<bool> do_revoke_credential(std::string_view id, Timestamp at) override;
  Result<SigningKey> do_signing_key(const SigningKey& candidate) override;

  // Runs `body` on a pooled connection; turns every exception into an error with a code and
  // PostgreSQL's message on one line. `body` returns Status or Result<T>.
  template <class Body>
  auto run(Body&& body) -> decltype(body(std::declval<PgConnection&>()));

  std::unique_ptr<pg::ConnectionPool> pool_;
};

template <class Body>
auto PostgresStore::run(Body&& body) -> decltype(body(std::declval<PgConnection&>())) {
  std::string message;
  StatusCode code = StatusCode::kUnavailable;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    Result<pg::ConnectionPool::Lease> lease = pool_->acquire();
    if (!lease.ok()) return Status(lease.code(), one_line(lease.message()));
    try {
      PgConnection& conn = **lease;
      ensure_session(conn);
      return body(conn);
    } catch (const pqxx::broken_connection& e) {
      // The session was lost before anything was committed (a loss during COMMIT throws
      // pqxx::in_doubt_error instead), so the call can run again. The lost connection is closed
      // when its lease ends; the idle ones probably died with it (a server restart), so they go
      // too, and the retry runs on a new connection.
      message = e.what();
      pool_->drop_idle();
    } catch (const pqxx::sql_error& e) {
      message = e.what();
      code = sqlstate_code(e.sqlstate());
      break;
    } catch (const pqxx::in_doubt_error& e) {
      // The connection was lost during COMMIT: the server may or may not have the write. It is
      // idempotent, so the caller can write it again once the server answers.
      message = e.what();
      break;
    } catch (const std::exception& e) {
      // pqxx::conversion_error, pqxx::usage_error, …: our code's mistake.
      message = e.what();
      code = StatusCode::kInternal;
      break;
    }
  }
  return Status(code, one_line(message));
}

// --- assets ---

Result<Asset> PostgresStore::do_upsert_asset(const Asset& asset) {
  return run([&](PgConnection& conn) -> Result<Asset> {
    pqxx::work tx(conn);
    const pqxx::row row = tx.exec_params1(
        "INSERT INTO assets (symbol, name, asset_class, currency, exchange) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (symbol) DO UPDATE SET name = EXCLUDED.name, "
        "asset_class = EXCLUDED.asset_class, currency = EXCLUDED.currency, "
        "exchange = EXCLUDED.exchange RETURNING id",
        asset.symbol, asset.name, std::string(asset_class_name(asset.asset_class)), asset.currency,
        asset.exchange);
    Asset stored = asset;
    stored.id = row[0].as<std::int64_t>();
    tx.exec_params0("DELETE FROM asset_attributes WHERE asset_id = $1", stored.id);
    for (const auto& [key, value] : asset.attributes) {
      tx.exec_params0("INSERT INTO asset_attributes (asset_id, key, value) VALUES ($1, $2, $3)",
                      stored.id, key, value);
    }
    tx.commit();
    return stored;
  });
}

Result<std::optional<Asset>> PostgresStore::do_find_asset(std::string_view symbol) {
  const std::string sym(symbol);
  return run([&](PgConnection& conn) -> Result<std::optional<Asset>> {
    pqxx::nontransaction tx(conn);
    const pqxx::result rows =
        tx.exec_params(std::string(kAssetColumns) + "WHERE a.symbol = $1 ORDER BY t.key", sym);
    std::vector<Asset> assets = assets_from_rows(rows);
    if (assets.empty()) return std::optional<Asset>();
    return std::optional<Asset>(std::move(assets.front()));
  });
}

Result<std::vector<Asset>> PostgresStore::do_list_assets(const AssetFilter& filter) {
  return run([&](PgConnection& conn) -> Result<std::vector<Asset>> {
    pqxx::nontransaction tx(conn);
    const std::string cls =
        filter.asset_class ? std::string(asset_class_name(*filter.asset_class)) : std::string();
    const pqxx::result rows =
        tx.exec_params(std::string(kAssetColumns) +
                           "WHERE ($1 = '' OR strpos(lower(a.symbol), lower($1)) > 0 "
                           "              OR strpos(lower(a.name), lower($1)) > 0) "
                           "  AND ($2 = '' OR a.asset_class = $2) AND ($3 = '' OR a.exchange = $3) "
                           "ORDER BY a.symbol, t.key",
                       filter.text, cls, filter.exchange);
    return assets_from_rows(rows);
  });
}

// --- candles ---

Result<WriteStats> PostgresStore::do_write_candles(std::int64_t asset_id, Interval interval,
                                                   std::span<const Candle> bars) {
  const std::string_view iname = interval_name(interval);
  const std::vector<std::vector<Candle>> rounds =
      rounds_of(bars, [](const Candle& c) { return c.time; });

  return run([&](PgConnection& conn) -> Result<WriteStats> {
    ensure_stage(conn, kCandleStage);
    pqxx::work tx(conn);
    PGconn* raw = conn.raw();
    const std::int64_t key =
        series_lock_key(LockSpace::kCandles, asset_id, static_cast<std::int64_t>(interval));
    if (Status s = lock_series_and_check_asset(raw, key, asset_id); !s.ok()) return s;
    if (bars.empty()) return WriteStats();
    // The latest stored bar before this write: bars after it are appended, and no analytics can
    // have been computed with them yet.
    const BinaryResult last =
        exec_binary(raw, "SELECT max(time) FROM candles WHERE asset_id = $1 AND interval = $2",
                    BinaryParams().int64(asset_id).text(iname));
    last.expect(0, pg::kInt8Oid);
    const std::optional<Timestamp> last_stored =
        last.is_null(0, 0) ? std::nullopt : std::optional<Timestamp>(last.int64(0, 0));

    const auto write_round = [&](std::span<const Candle> rows, bool first) -> RoundCounts {
      // Only the first round can find no stored bar among its keys: later rounds repeat keys.
      const bool overlap = !first || fetch_bool(raw,
                                                "SELECT EXISTS (SELECT 1 FROM candles WHERE "
                                                "asset_id = $1 AND interval = $2 AND "
                                                "time BETWEEN $3 AND $4)",
                                                BinaryParams()
                                                    .int64(asset_id)
                                                    .text(iname)
                                                    .int64(rows.front().time)
                                                    .int64(rows.back().time));
      if (!overlap) {
        // No stored bar shares a key with these: all are new.
        BinaryCopyWriter copy(raw,
                              "COPY candles (asset_id, interval, time, open, high, low, close, "
                              "volume) FROM STDIN (FORMAT binary)");
        for (const Candle& c : rows) {
          copy.begin_row(8, 7 * pg::kFixedFieldBytes + pg::text_field_bytes(iname.size()));
          copy.add_int64(asset_id);
          copy.add_text(iname);
          copy.add_int64(c.time);
          copy.add_float8(c.open);
          copy.add_float8(c.high);
          copy.add_float8(c.low);
          copy.add_float8(c.close);
          copy.add_float8(c.volume);
        }
        copy.finish();
        return RoundCounts{static_cast<std::int64_t>(rows.size()), 0, rows.front().time};
      }
      if (!first) pg::exec_command(raw, "TRUNCATE pg_temp.candle_stage");
      BinaryCopyWriter copy(raw,
                            "COPY pg_temp.candle_stage (time, open, high, low, close, volume) "
                            "FROM STDIN (FORMAT binary)");
      for (const Candle& c : rows) {
        copy.begin_row(6, 6 * pg::kFixedFieldBytes);
        copy.add_int64(c.time);
        copy.add_float8(c.open);
        copy.add_float8(c.high);
        copy.add_float8(c.low);
        copy.add_float8(c.close);
        copy.add_float8(c.volume);
      }
      copy.finish();
      return run_upsert(
          raw,
          "WITH changed AS ("
          "  INSERT INTO candles AS c (asset_id, interval, time, open, high, low, close, volume)"
          "  SELECT $1, $2, s.time, s.open, s.high, s.low, s.close, s.volume"
          "    FROM pg_temp.candle_stage s"
          "   WHERE NOT EXISTS (SELECT 1 FROM candles o WHERE o.asset_id = $1"
          "     AND o.interval = $2 AND o.time BETWEEN $3 AND $4 AND o.time = s.time"
          "     AND (o.open, o.high, o.low, o.close, o.volume) ="
          "         (s.open, s.high, s.low, s.close, s.volume))"
          "  ON CONFLICT (asset_id, interval, time) DO UPDATE SET open = EXCLUDED.open,"
          "    high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,"
          "    volume = EXCLUDED.volume"
          "  WHERE (c.open, c.high, c.low, c.close, c.volume) IS DISTINCT FROM"
          "    (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.volume)"
          "  RETURNING c.time, c.xmax = 0 AS inserted) "
          "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),"
          "  min(time) FROM changed",
          BinaryParams()
              .int64(asset_id)
              .text(iname)
              .int64(rows.front().time)
              .int64(rows.back().time));
    };
    const RoundCounts counts = write_rounds(bars, rounds, write_round);
    if (counts.first_changed &&
        (counts.replaced > 0 || (last_stored && *counts.first_changed < *last_stored))) {
      // Analytics from the first added or replaced bar on were computed without it; appended
      // bars change none.
      exec_binary(raw, "DELETE FROM analytics WHERE asset_id = $1 AND time >= $2",
                  BinaryParams().int64(asset_id).int64(*counts.first_changed));
    }
    tx.commit();
    WriteStats stats;
    stats.inserted = counts.inserted;
    stats.replaced = counts.replaced;
    stats.unchanged = static_cast<std::int64_t>(bars.size()) - counts.inserted - counts.replaced;
    return stats;
  });
}

namespace {

CandleSeries candles_from(const BinaryResult& r, bool reversed) {
  for (int col = 0; col < 6; ++col) r.expect(col, col == 0 ? pg::kInt8Oid : pg::kFloat8Oid);
  const int n = r.rows();
  CandleSeries s;
  const auto size = static_cast<std::size_t>(n);
  s.time.resize(size);
  s.open.resize(size);
  s.high.resize(size);
  s.low.resize(size);
  s.close.resize(size);
  s.volume.resize(size);
  for (int row = 0; row < n; ++row) {
    const std::size_t i =
        reversed ? size - 1 - static_cast<std::size_t>(row) : static_cast<std::size_t>(row);
    s.time[i] = r.int64(row, 0);
    s.open[i] = r.float8(row, 1);
    s.high[i] = r.float8(row, 2);
    s.low[i] = r.float8(row, 3);
    s.close[i] = r.float8(row, 4);
    s.volume[i] = r.float8(row, 5);
  }
  return s;
}

}  // namespace

Result<CandleSeries> PostgresStore::do_read_candles(std::int64_t asset_id, Interval interval,
                                                    TimeRange range, std::size_t limit) {
  const std::string_view iname = interval_name(interval);
  return run([&](PgConnection& conn) -> Result<CandleSeries> {
    BinaryParams params;
    params.int64(asset_id).text(iname).int64(range.from).int64(range.to);
    add_limit(params, limit);
    return candles_from(exec_binary(conn.raw(),
                                    "SELECT time, open, high, low, close, volume FROM candles "
                                    "WHERE asset_id = $1 AND interval = $2 AND time >= $3 "
                                    "AND time <= $4 ORDER BY time LIMIT $5",
                                    params),
                        false);
  });
}

Result<CandleSeries> PostgresStore::do_latest_candles(std::int64_t asset_id, Interval interval,
                                                      std::size_t n, Timestamp before) {
  const std::string_view iname = interval_name(interval);
  return run([&](PgConnection& conn) -> Result<CandleSeries> {
    BinaryParams params;
    params.int64(asset_id).text(iname).int64(before);
    add_limit(params, n);
    return candles_from(exec_binary(conn.raw(),
                                    "SELECT time, open, high, low, close, volume FROM candles "
                                    "WHERE asset_id = $1 AND interval = $2 AND time <= $3 "
                                    "ORDER BY time DESC LIMIT $4",
                                    params),
                        true);
  });
}

Result<std::int64_t> PostgresStore::do_count_candles(std::int64_t asset_id, Interval interval) {
  const std::string_view iname = interval_name(interval);
  return run([&](PgConnection& conn) -> Result<std::int64_t> {
    const BinaryResult r = exec_binary(
        conn.raw(), "SELECT count(*) FROM candles WHERE asset_id = $1 AND interval = $2",
        BinaryParams().int64(asset_id).text(iname));
    r.expect(0, pg::kInt8Oid);
    return r.int64(0, 0);
  });
}

// --- ticks ---

Result<WriteStats> PostgresStore::do_write_ticks(std::int64_t asset_id,
                                                 std::span<const StoredTick> ticks) {
  const std::vector<std::vector<StoredTick>> rounds =
      rounds_of(ticks, [](const StoredTick& t) { return std::pair(t.time, t.seq); });

  return run([&](PgConnection& conn) -> Result<WriteStats> {
    ensure_stage(conn, kTickStage);
    pqxx::work tx(conn);
    PGconn* raw = conn.raw();
    if (Status s = lock_series_and_check_asset(raw, series_lock_key(LockSpace::kTicks, asset_id),
                                               asset_id);
        !s.ok()) {
      return s;
    }
    if (ticks.empty()) return WriteStats();

    const auto write_round = [&](std::span<const StoredTick> rows, bool first) -> RoundCounts {
      const bool overlap =
          !first ||
          fetch_bool(
              raw,
              "SELECT EXISTS (SELECT 1 FROM ticks WHERE "
              "asset_id = $1 AND time BETWEEN $2 AND $3)",
              BinaryParams().int64(asset_id).int64(rows.front().time).int64(rows.back().time));
      if (!overlap) {
        BinaryCopyWriter copy(raw,
                              "COPY ticks (asset_id, time, seq, price, size) FROM STDIN "
                              "(FORMAT binary)");
        for (const StoredTick& t : rows) {
          copy.begin_row(5, 5 * pg::kFixedFieldBytes);
          copy.add_int64(asset_id);
          copy.add_int64(t.time);
          copy.add_int64(t.seq);
          copy.add_float8(t.price);
          copy.add_float8(t.size);
        }
        copy.finish();
        return RoundCounts{static_cast<std::int64_t>(rows.size()), 0, std::nullopt};
      }
      if (!first) pg::exec_command(raw, "TRUNCATE pg_temp.tick_stage");
      BinaryCopyWriter copy(raw,
                            "COPY pg_temp.tick_stage (time, seq, price, size) FROM STDIN "
                            "(FORMAT binary)");
      for (const StoredTick& t : rows) {
        copy.begin_row(4, 4 * pg::kFixedFieldBytes);
        copy.add_int64(t.time);
        copy.add_int64(t.seq);
        copy.add_float8(t.price);
        copy.add_float8(t.size);
      }
      copy.finish();
      return run_upsert(
          raw,
          "WITH changed AS ("
          "  INSERT INTO ticks AS t (asset_id, time, seq, price, size)"
          "  SELECT $1, s.time, s.seq, s.price, s.size FROM pg_temp.tick_stage s"
          "   WHERE NOT EXISTS (SELECT 1 FROM ticks o WHERE o.asset_id = $1"
          "     AND o.time BETWEEN $2 AND $3 AND o.time = s.time AND o.seq = s.seq"
          "     AND (o.price, o.size) = (s.price, s.size))"
          "  ON CONFLICT (asset_id, time, seq) DO UPDATE SET price = EXCLUDED.price,"
          "    size = EXCLUDED.size"
          "  WHERE (t.price, t.size) IS DISTINCT FROM (EXCLUDED.price, EXCLUDED.size)"
          "  RETURNING t.time, t.xmax = 0 AS inserted) "
          "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),"
          "  min(time) FROM changed",
          BinaryParams().int64(asset_id).int64(rows.front().time).int64(rows.back().time));
    };
    const RoundCounts counts = write_rounds(ticks, rounds, write_round);
    tx.commit();
    WriteStats stats;
    stats.inserted = counts.inserted;
    stats.replaced = counts.replaced;
    stats.unchanged = static_cast<std::int64_t>(ticks.size()) - counts.inserted - counts.replaced;
    return stats;
  });
}

Result<std::vector<StoredTick>> PostgresStore::do_read_ticks(std::int64_t asset_id, TimeRange range,
                                                             std::size_t limit) {
  return run([&](PgConnection& conn) -> Result<std::vector<StoredTick>> {
    BinaryParams params;
    params.int64(asset_id).int64(range.from).int64(range.to);
    add_limit(params, limit);
    const BinaryResult r = exec_binary(conn.raw(),
                                       "SELECT time, seq, price, size FROM ticks "
                                       "WHERE asset_id = $1 AND time >= $2 AND "
                                       "time <= $3 ORDER BY time, seq LIMIT $4",
                                       params);
    r.expect(0, pg::kInt8Oid);
    r.expect(1, pg::kInt8Oid);
    r.expect(2, pg::kFloat8Oid);
    r.expect(3, pg::kFloat8Oid);
    std::vector<StoredTick> ticks(static_cast<std::size_t>(r.rows()));
    for (int row = 0; row < r.rows(); ++row) {
      StoredTick& t = ticks[static_cast<std::size_t>(row)];
      t.time = r.int64(row, 0);
      t.seq = r.int64(row, 1);
      t.price = r.float8(row, 2);
      t.size = r.float8(row, 3);
    }
    return ticks;
  });
}

// --- graph specs ---

Result<GraphVersion> PostgresStore::do_put_graph(std::string_view name, std::string_view spec,
                                                 Timestamp created) {
  const std::string n(name);
  const std::string text(spec);
  return run([&](PgConnection& conn) -> Result<GraphVersion> {
    pqxx::work tx(conn);
    tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2))", kGraphNameLock, n);
    const pqxx::result latest = tx.exec_params(
        std::string(kGraphColumns) + "WHERE name = $1 ORDER BY version DESC LIMIT 1", n);
    if (!latest.empty() && latest[0][3].as<std::string>() == text) {
      tx.commit();
      return graph_from_row(latest[0]);
    }
    GraphVersion g;
    g.name = n;
    g.version = latest.empty() ? 1 : latest[0][2].as<std::int64_t>() + 1;
    g.spec = text;
    g.created = created;
    g.graph_id = tx.exec_params1(
                       "INSERT INTO graphs (name, version, spec, created) "
                       "VALUES ($1, $2, $3, $4) RETURNING graph_id",
                       g.name, g.version, g.spec, g.created)[0]
                     .as<std::int64_t>();
    tx.commit();
    return g;
  });
}

Result<std::optional<GraphVersion>> PostgresStore::do_get_graph(std::string_view name,
                                                                std::int64_t version) {
  const std::string n(name);
  return run([&](PgConnection& conn) -> Result<std::optional<GraphVersion>> {
    pqxx::nontransaction tx(conn);
    const pqxx::result rows =
        version > 0
            ? tx.exec_params(std::string(kGraphColumns) + "WHERE name = $1 AND version = $2", n,
                             version)
            : tx.exec_params(
                  std::string(kGraphColumns) + "WHERE name = $1 ORDER BY version DESC LIMIT 1", n);
    if (rows.empty()) return std::optional<GraphVersion>();
    return std::optional<GraphVersion>(graph_from_row(rows[0]));
  });
}

Result<std::vector<GraphVersion>> PostgresStore::do_list_graphs() {
  return run([&](PgConnection& conn) -> Result<std::vector<GraphVersion>> {
    pqxx::nontransaction tx(conn);
    const pqxx::result rows = tx.exec(
        "SELECT DISTINCT ON (name) graph_id, name, version, spec, created FROM graphs "
        "ORDER BY name, version DESC");
    std::vector<GraphVersion> graphs;
    graphs.reserve(rows.size());
    for (const pqxx::row& row : rows) graphs.push_back(graph_from_row(row));
    return graphs;
  });
}

Status PostgresStore::do_delete_graph(std::string_view name) {
  const std::string n(name);
  return run([&](PgConnection& conn) -> Status {
    pqxx::work tx(conn);
    tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext($2))", kGraphNameLock, n);
    // The versions go first: this waits for running write_analytics calls (they hold a share
    // lock on their version) and makes later ones fail; the next statement then sees every
    // analytics row that was committed.
    const pqxx::result deleted =
        tx.exec_params("DELETE FROM graphs WHERE name = $1 RETURNING graph_id", n);
    if (deleted.empty()) return Status::not_found("no graph named '" + n + "'");
    std::string ids;
    for (const pqxx::row& row : deleted) {
      ids += (ids.empty() ? "{" : ",") + std::to_string(row[0].as<std::int64_t>());
    }
    ids += "}";
    tx.exec_params0("DELETE FROM analytics WHERE graph_id = ANY ($1::bigint[])", ids);
    tx.commit();
    return Status();
  });
}

// --- materialised analytics ---

Status PostgresStore::do_write_analytics(std::int64_t asset_id, std::int64_t graph_id,
                                         std::int64_t version,
                                         std::span<const AnalyticsSeries> series) {
  // Rows as (series, index). Usually the outputs are distinct and their times increasing, so
  // every key is written once; otherwise rounds_of() keeps the order of writes per key.
  using Row = std::pair<std::size_t, std::size_t>;
  std::vector<Row> rows;
  bool unique_keys = true;
  {
    std::vector<std::string_view> names;
    for (std::size_t s = 0; s < series.size(); ++s) {
      names.push_back(series[s].output);
      for (std::size_t i = 0; i < series[s].time.size(); ++i) {
        rows.emplace_back(s, i);
        if (i > 0 && !(series[s].time[i - 1] < series[s].time[i])) unique_keys = false;
      }
    }
    std::sort(names.begin(), names.end());
    if (std::adjacent_find(names.begin(), names.end()) != names.end()) unique_keys = false;
  }
  const std::vector<std::vector<Row>> rounds =
      unique_keys ? std::vector<std::vector<Row>>()
                  : rounds_of(std::span<const Row>(rows), [&](const Row& r) {
                      return std::pair(std::string_view(series[r.first].output),
                                       series[r.first].time[r.second]);
                    });

  return run([&](PgConnection& conn) -> Status {
    ensure_stage(conn, kAnalyticsStage);
    pqxx::work tx(conn);
    PGconn* raw = conn.raw();
    if (Status s = lock_series_and_check_asset(
            raw, series_lock_key(LockSpace::kAnalytics, asset_id, graph_id, version), asset_id);
        !s.ok()) {
      return s;
    }
    // The share lock keeps delete_graph from removing the version until this write commits.
    const BinaryResult graph =
        exec_binary(raw, "SELECT 1 FROM graphs WHERE graph_id = $1 AND version = $2 FOR SHARE",
                    BinaryParams().int64(graph_id).int64(version));
    if (graph.rows() == 0) {
      return Status::not_found("no graph with id " + std::to_string(graph_id) + " and version " +
                               std::to_string(version));
    }
    if (rows.empty()) return Status();

    const auto add_rows = [&](BinaryCopyWriter& copy, std::span<const Row> round, bool keys) {
      for (const auto& [s, i] : round) {
        const AnalyticsSeries& a = series[s];
        copy.begin_row(keys ? 6 : 3,
                       5 * pg::kFixedFieldBytes + pg::text_field_bytes(a.output.size()));
        if (keys) {
          copy.add_int64(graph_id);
          copy.add_int64(version);
          copy.add_int64(asset_id);
        }
        copy.add_text(a.output);
        copy.add_int64(a.time[i]);
        if (std::isnan(a.values[i])) {
          copy.add_null();
        } else {
          copy.add_float8(a.values[i]);
        }
      }
    };
    const auto write_round = [&](std::span<const Row> round, bool first) -> RoundCounts {
      // When this asset has no analytics under this graph version yet, every row is new.
      const bool any_stored =
          !first || fetch_bool(raw,
                               "SELECT EXISTS (SELECT 1 FROM analytics WHERE graph_id = $1 "
                               "AND version = $2 AND asset_id = $3)",
                               BinaryParams().int64(graph_id).int64(version).int64(asset_id));
      if (!any_stored) {
        BinaryCopyWriter copy(raw,
                              "COPY analytics (graph_id, version, asset_id, output, time, value) "
                              "FROM STDIN (FORMAT binary)");
        add_rows(copy, round, true);
        copy.finish();
        return RoundCounts();
      }
      if (!first) pg::exec_command(raw, "TRUNCATE pg_temp.analytics_stage");
      BinaryCopyWriter copy(raw,
                            "COPY pg_temp.analytics_stage (output, time, value) FROM STDIN "
                            "(FORMAT binary)");
      add_rows(copy, round, false);
      copy.finish();
      exec_binary(raw,
                  "INSERT INTO analytics AS a (graph_id, version, asset_id, output, time, value) "
                  "SELECT $1, $2, $3, s.output, s.time, s.value FROM pg_temp.analytics_stage s "
                  "ON CONFLICT (graph_id, version, asset_id, output, time) DO UPDATE "
                  "SET value = EXCLUDED.value WHERE a.value IS DISTINCT FROM EXCLUDED.value",
                  BinaryParams().int64(graph_id).int64(version).int64(asset_id));
      return RoundCounts();
    };
    write_rounds(std::span<const Row>(rows), rounds, write_round);
    tx.commit();
    return Status();
  });
}

Result<AnalyticsSeries> PostgresStore::do_read_analytics(std::int64_t asset_id,
                                                         std::int64_t graph_id,
                                                         std::int64_t version,
                                                         std::string_view output, TimeRange range) {
  const std::string out(output);
  return run([&](PgConnection& conn) -> Result<AnalyticsSeries> {
    const BinaryResult r =
        exec_binary(conn.raw(),
                    "SELECT time, value FROM analytics WHERE graph_id = $1 AND version = $2 "
                    "AND asset_id = $3 AND output = $4 AND time >= $5 AND time <= $6 "
                    "ORDER BY time",
                    BinaryParams()
                        .int64(graph_id)
                        .int64(version)
                        .int64(asset_id)
                        .text(out)
                        .int64(range.from)
                        .int64(range.to));
    r.expect(0, pg::kInt8Oid);
    r.expect(1, pg::kFloat8Oid);
    AnalyticsSeries s;
    s.output = out;
    const auto n = static_cast<std::size_t>(r.rows());
    s.time.resize(n);
    s.values.resize(n);
    for (int row = 0; row < r.rows(); ++row) {
      s.time[static_cast<std::size_t>(row)] = r.int64(row, 0);
      s.values[static_cast<std::size_t>(row)] = r.float8_or_nan(row, 1);
    }
    return s;
  });
}

// --- ingest offsets ---

Status PostgresStore::do_set_offset(std::string_view source, std::string_view partition,
                                    std::int64_t offset) {
  const std::string src(source);
  const std::string part(partition);
  return run([&](PgConnection& conn) -> Status {
    pqxx::work tx(conn);
    tx.exec_params0(
        "INSERT INTO ingest_offsets (source, partition, position) VALUES ($1, $2, $3) "
        "ON CONFLICT (source, partition) DO UPDATE SET position = EXCLUDED.position",
        src, part, offset);
    tx.commit();
    return Status();
  });
}

Result<std::optional<std::int64_t>> PostgresStore::do_get_offset(std::string_view source,
                                                                 std::string_view partition) {
  const std::string src(source);
  const std::string part(partition);
  return run([&](PgConnection& conn) -> Result<std::optional<std::int64_t>> {
    pqxx::nontransaction tx(conn);
    const pqxx::result rows = tx.exec_params(
        "SELECT position FROM ingest_offsets WHERE source = $1 AND partition = $2", src, part);
    if (rows.empty()) return std::optional<std::int64_t>();
    return std::optional<std::int64_t>(rows[0][0].as<std::int64_t>());
  });
}

// --- credentials ---

Status PostgresStore::do_add_credential(const Credential& credential) {
  return run([&](PgConnection& conn) -> Status {
    // A transaction even for one statement: a connection lost during COMMIT then reports
    // in_doubt_error instead of run() retrying an insert that may have been committed.
    pqxx::work tx(conn);
    BinaryParams params;
    params.text(credential.id)
        .text(credential.kind)
        .text(credential.name)
        .text(join_scopes(credential.scopes))
        .text(credential.secret_hash)
        .int64(credential.created);
    if (credential.revoked) {
      params.int64(*credential.revoked);
    } else {
      params.null(pg::kInt8Oid);
    }
    const BinaryResult r = exec_binary(
        conn.raw(),
        "INSERT INTO credentials (id, kind, name, scopes, secret_hash, created, revoked) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        params);
    if (r.affected() == 0) {
      return Status::already_exists("a credential with id '" + credential.id + "' already exists");
    }
    tx.commit();
    return Status();
  });
}

Result<std::optional<Credential>> PostgresStore::do_find_credential(std::string_view id) {
  const std::string key(id);
  return run([&](PgConnection& conn) -> Result<std::optional<Credential>> {
    pqxx::nontransaction tx(conn);
    const pqxx::result rows =
        tx.exec_params(std::string(kCredentialColumns) + "WHERE id = $1", key);
    if (rows.empty()) return std::optional<Credential>();
    return std::optional<Credential>(credential_from_row(rows[0]));
  });
}

Result<std::vector<Credential>> PostgresStore::do_list_credentials(std::string_view kind) {
  const std::string k(kind);
  return run([&](PgConnection& conn) -> Result<std::vector<Credential>> {
    pqxx::nontransaction tx(conn);
    const pqxx::result rows = tx.exec_params(
        std::string(kCredentialColumns) + "WHERE $1 = '' OR kind = $1 ORDER BY created, id", k);
    std::vector<Credential> out;
    out.reserve(rows.size());
    for (const pqxx::row& row : rows) out.push_back(credential_from_row(row));
    return out;
  });
}

Result<bool> PostgresStore::do_revoke_credential(std::string_view id, Timestamp at) {
  const std::string key(id);
  return run([&](PgConnection& conn) -> Result<bool> {
    pqxx::work tx(conn);
    // Matches the row even when it is already revoked, so that the count tells whether the id
    // exists; coalesce() keeps the first revocation time.
    const pqxx::result r = tx.exec_params(
        "UPDATE credentials SET revoked = coalesce(revoked, $2) WHERE id = $1", key, at);
    tx.commit();
    return r.affected_rows() > 0;
  });
}

// --- token signing key ---

Result<SigningKey> PostgresStore::do_signing_key(const SigningKey& candidate) {
  return run([&](PgConnection& conn) -> Result<SigningKey> {
    {
      // Usually a key is stored: one read, no lock.
      pqxx::nontransaction read(conn);
      const pqxx::result rows = read.exec(kOldestSigningKey);
      if (!rows.empty()) return signing_key_from_row(rows[0]);
    }
    // None yet. Servers that get here at once would each insert their own key (different kids do
    // not conflict), so they take turns: the first stores its candidate; the others, whose next
    // statements see what it committed (READ COMMITTED), find that key and insert nothing.
    pqxx::work tx(conn);
    tx.exec_params("SELECT pg_advisory_xact_lock($1, 0)", kSigningKeyLock);
    tx.exec_params0(
        "INSERT INTO signing_keys (kid, algorithm, private_pem, created) "
        "SELECT $1::text, $2::text, $3::text, $4::bigint "
        "WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
        candidate.kid, candidate.algorithm, candidate.private_pem, candidate.created);
    const SigningKey stored = signing_key_from_row(tx.exec1(kOldestSigningKey));
    tx.commit();
    return stored;
  });
}

}  // namespace

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url, const Clock& clock) {
  const std::string server = pg::describe_server(url);
  Result<std::unique_ptr<pg::ConnectionPool>> pool = pg::ConnectionPool::open(url, kPoolSize);
  if (!pool.ok()) return pool.status().with_prefix("PostgreSQL " + server + ": ");
  std::string message;
  try {
    Result<pg::ConnectionPool::Lease> lease = (*pool)->acquire();
    if (!lease.ok()) return lease.status().with_prefix("PostgreSQL " + server + ": ");
    ensure_session(**lease);
    if (Status s = pg::migrate(**lease, server); !s.ok()) return s;
    return std::unique_ptr<Store>(new PostgresStore(std::move(*pool), clock));
  } catch (const std::exception& e) {
    message = e.what();
  }
  return Status::unavailable("PostgreSQL " + server +
                             ": creating or migrating the schema: " + one_line(message));
}

}  // namespace tickgraph::store
