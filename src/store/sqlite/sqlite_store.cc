// The SQLite store.
//
// One connection per Store, opened without SQLite's own mutex and guarded by `mu_`: every do_…
// method (the backend half of a store call, run once its arguments passed store/checks.h) takes
// the lock for its whole duration, so calls from several threads run one at a time and never see
// each other's half-done work. Statements are prepared once per connection and
// cached by their SQL text. Every write is one BEGIN IMMEDIATE … COMMIT transaction; the
// Transaction guard rolls back on every early return, so a failed write leaves the file as it was.
// Several processes (or several Stores) may open the same file: SQLite's file locks serialise
// their writers and busy_timeout makes a writer wait instead of failing at once.
//
// Durability: WAL with synchronous=FULL (kSynchronous). COMMIT fsyncs the WAL, so a write that
// returned OK survives the process being killed (WAL alone guarantees that much: the data is in
// the OS's page cache) and also an OS crash or power loss, which with synchronous=NORMAL could
// roll back the transactions committed since the last checkpoint (without corrupting the file).
// bench/store_bench.cc measures the price: little for 10,000-row batches, one fsync per call
// (0.2-4 ms on the development VM) for one-bar writes.
//
// Upserts classify each row with two statements: `INSERT … ON CONFLICT DO NOTHING`
// (sqlite3_changes() == 1: a new key) and, only when the key exists, `UPDATE … WHERE <some value
// differs>` (1: replaced, 0: unchanged). A fresh import thus costs one statement per row, like a
// plain INSERT, and a re-import reads the rows without writing a page.
#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/checks.h"
#include "store/scopes.h"

namespace tickgraph::store {

namespace {

using detail::join_scopes;
using detail::split_scopes;

// Migration i (1-based) brings the schema from version i-1 to version i. Append only: a released
// migration never changes, since databases in the field have already run it.
constexpr std::string_view kMigrations[] = {
    // 1: the initial schema.
    R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);

CREATE TABLE assets (
  id          INTEGER PRIMARY KEY,
  symbol      TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  asset_class TEXT NOT NULL,            -- asset_class_name(): "equity", "index", ...
  currency    TEXT NOT NULL,
  exchange    TEXT NOT NULL,
  attributes  TEXT NOT NULL             -- a JSON object of strings
);

-- Times are int64 nanoseconds since the Unix epoch, UTC; a candle is stamped with its open time.
CREATE TABLE candles (
  asset_id INTEGER NOT NULL REFERENCES assets (id),
  interval TEXT NOT NULL,               -- interval_name(): "1s" ... "1w"
  time     INTEGER NOT NULL,
  open     REAL NOT NULL,
  high     REAL NOT NULL,
  low      REAL NOT NULL,
  close    REAL NOT NULL,
  volume   REAL NOT NULL,
  PRIMARY KEY (asset_id, interval, time)
) WITHOUT ROWID;

CREATE TABLE ticks (
  asset_id INTEGER NOT NULL REFERENCES assets (id),
  time     INTEGER NOT NULL,
  seq      INTEGER NOT NULL,
  price    REAL NOT NULL,
  size     REAL NOT NULL,
  PRIMARY KEY (asset_id, time, seq)
) WITHOUT ROWID;

-- One row per version; id identifies that version.
CREATE TABLE graphs (
  id      INTEGER PRIMARY KEY,
  name    TEXT NOT NULL,
  version INTEGER NOT NULL,
  spec    TEXT NOT NULL,
  created INTEGER NOT NULL,
  UNIQUE (name, version)
);

-- (graph_id, version) is checked against graphs by write_analytics and removed by delete_graph
-- rather than by a foreign key: SQLite would scan this whole table for every deleted graph row,
-- and an index to avoid that would slow every write.
CREATE TABLE analytics (
  asset_id INTEGER NOT NULL REFERENCES assets (id),
  graph_id INTEGER NOT NULL,
  version  INTEGER NOT NULL,
  output   TEXT NOT NULL,
  time     INTEGER NOT NULL,
  value    REAL,                        -- NULL for NaN
  PRIMARY KEY (asset_id, graph_id, version, output, time)
) WITHOUT ROWID;

CREATE TABLE ingest_offsets (
  source      TEXT NOT NULL,
  "partition" TEXT NOT NULL,
  "offset"    INTEGER NOT NULL,
  PRIMARY KEY (source, "partition")
) WITHOUT ROWID;
)sql",
    // 2: credentials and the token signing key of `tickgraph serve`.
    R"sql(
CREATE TABLE credentials (
  id          TEXT PRIMARY KEY,         -- unique over both kinds
  kind        TEXT NOT NULL CHECK (kind IN ('client', 'api_key')),
  name        TEXT NOT NULL,
  scopes      TEXT NOT NULL,            -- space-separated, in the order given
  secret_hash TEXT NOT NULL,
  created     INTEGER NOT NULL,
  revoked     INTEGER                   -- NULL while valid
);

CREATE TABLE signing_keys (
  kid         TEXT PRIMARY KEY,
  algorithm   TEXT NOT NULL,
  private_pem TEXT NOT NULL,
  created     INTEGER NOT NULL
);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// FULL: COMMIT fsyncs the WAL (see the top of this file for why not NORMAL).
constexpr const char* kSynchronous = "PRAGMA synchronous = FULL";
constexpr int kBusyTimeoutMs = 10'000;

// --- SQL, each prepared once per connection ---

constexpr std::string_view kBegin = "BEGIN IMMEDIATE";
constexpr std::string_view kCommit = "COMMIT";
constexpr std::string_view kRollback = "ROLLBACK";
// A write call inside batch() is a savepoint of the batch's transaction.
constexpr std::string_view kSavepoint = "SAVEPOINT call";
constexpr std::string_view kRelease = "RELEASE call";
constexpr std::string_view kRollbackCall = "ROLLBACK TO call";

constexpr std::string_view kAssetColumns =
    "id, symbol, name, asset_class, currency, exchange, attributes";
constexpr std::string_view kUpsertAsset =
    "INSERT INTO assets (symbol, name, asset_class, currency, exchange, attributes) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (symbol) DO UPDATE SET name = excluded.name, "
    "asset_class = excluded.asset_class, currency = excluded.currency, "
    "exchange = excluded.exchange, attributes = excluded.attributes";
constexpr std::string_view kFindAsset =
    "SELECT id, symbol, name, asset_class, currency, exchange, attributes FROM assets "
    "WHERE symbol = ?1";
constexpr std::string_view kListAssets =
    "SELECT id, symbol, name, asset_class, currency, exchange, attributes FROM assets "
    "WHERE (?1 = '' OR instr(lower(symbol), lower(?1)) > 0 OR instr(lower(name), lower(?1)) > 0) "
    "AND (?2 IS NULL OR asset_class = ?2) AND (?3 = '' OR exchange = ?3) ORDER BY symbol";
constexpr std::string_view kAssetExists = "SELECT 1 FROM assets WHERE id = ?1";

constexpr std::string_view kInsertCandle =
    "INSERT INTO candles (asset_id, interval, time, open, high, low, close, volume) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING";
constexpr std::string_view kUpdateCandle =
    "UPDATE candles SET open = ?4, high = ?5, low = ?6, close = ?7, volume = ?8 "
    "WHERE asset_id = ?1 AND interval = ?2 AND time = ?3 "
    "AND (open <> ?4 OR high <> ?5 OR low <> ?6 OR close <> ?7 OR volume <> ?8)";
constexpr std::string_view kLastCandleTime =
    "SELECT max(time) FROM candles WHERE asset_id = ?1 AND interval = ?2";
constexpr std::string_view kInvalidateAnalytics =
    "DELETE FROM analytics WHERE asset_id = ?1 AND time >= ?2";
constexpr std::string_view kReadCandles =
    "SELECT time, open, high, low, close, volume FROM candles "
    "WHERE asset_id = ?1 AND interval = ?2 AND time >= ?3 AND time <= ?4 ORDER BY time LIMIT ?5";
constexpr std::string_view kLatestCandles =
    "SELECT time, open, high, low, close, volume FROM candles "
    "WHERE asset_id = ?1 AND interval = ?2 AND time <= ?3 ORDER BY time DESC LIMIT ?4";
constexpr std::string_view kCountCandles =
    "SELECT count(*) FROM candles WHERE asset_id = ?1 AND interval = ?2";

constexpr std::string_view kInsertTick =
    "INSERT INTO ticks (asset_id, time, seq, price, size) VALUES (?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT DO NOTHING";
constexpr std::string_view kUpdateTick =
    "UPDATE ticks SET price = ?4, size = ?5 WHERE asset_id = ?1 AND time = ?2 AND seq = ?3 "
    "AND (price <> ?4 OR size <> ?5)";
constexpr std::string_view kReadTicks =
    "SELECT time, seq, price, size FROM ticks WHERE asset_id = ?1 AND time >= ?2 AND time <= ?3 "
    "ORDER BY time, seq LIMIT ?4";

constexpr std::string_view kLatestGraph =
    "SELECT id, name, version, spec, created FROM graphs WHERE name = ?1 "
    "ORDER BY version DESC LIMIT 1";
constexpr std::string_view kGraphVersion =
    "SELECT id, name, version, spec, created FROM graphs WHERE name = ?1 AND version = ?2";
constexpr std::string_view kInsertGraph =
    "INSERT INTO graphs (name, version, spec, created) VALUES (?1, ?2, ?3, ?4)";
constexpr std::string_view kListGraphs =
    "SELECT id, name, version, spec, created FROM graphs g "
    "WHERE version = (SELECT max(version) FROM graphs WHERE name = g.name) ORDER BY name";
constexpr std::string_view kDeleteGraphAnalytics =
    "DELETE FROM analytics WHERE graph_id IN (SELECT id FROM graphs WHERE name = ?1)";
constexpr std::string_view kDeleteGraph = "DELETE FROM graphs WHERE name = ?1";
constexpr std::string_view kGraphExists = "SELECT 1 FROM graphs WHERE id = ?1 AND version = ?2";

constexpr std::string_view kUpsertAnalytics =
    "INSERT INTO analytics (asset_id, graph_id, version, output, time, value) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
    "ON CONFLICT (asset_id, graph_id, version, output, time) DO UPDATE SET value = excluded.value";
constexpr std::string_view kReadAnalytics =
    "SELECT time, value FROM analytics WHERE asset_id = ?1 AND graph_id = ?2 AND version = ?3 "
    "AND output = ?4 AND time >= ?5 AND time <= ?6 ORDER BY time";

constexpr std::string_view kSetOffset =
    "INSERT INTO ingest_offsets (source, \"partition\", \"offset\") VALUES (?1, ?2, ?3) "
    "ON CONFLICT (source, \"partition\") DO UPDATE SET \"offset\" = excluded.\"offset\"";
constexpr std::string_view kGetOffset =
    "SELECT \"offset\" FROM ingest_offsets WHERE source = ?1 AND \"partition\" = ?2";

constexpr std::string_view kInsertCredential =
    "INSERT INTO credentials (id, kind, name, scopes, secret_hash, created, revoked) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING";
constexpr std::string_view kFindCredential =
    "SELECT id, kind, name, scopes, secret_hash, created, revoked FROM credentials WHERE id = ?1";
constexpr std::string_view kListCredentials =
    "SELECT id, kind, name, scopes, secret_hash, created, revoked FROM credentials "
    "WHERE ?1 = '' OR kind = ?1 ORDER BY created, id";
// Matches the row even when it is already revoked, so that sqlite3_changes() tells whether the id
// exists; coalesce() keeps the first revocation time.
constexpr std::string_view kRevokeCredential =
    "UPDATE credentials SET revoked = coalesce(revoked, ?2) WHERE id = ?1";

constexpr std::string_view kOldestSigningKey =
    "SELECT kid, algorithm, private_pem, created FROM signing_keys ORDER BY created, kid LIMIT 1";
// Stores the candidate only into an empty table: a second key, even with another kid, is never
// added.
constexpr std::string_view kInsertFirstSigningKey =
    "INSERT INTO signing_keys (kid, algorithm, private_pem, created) "
    "SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)";

// --- small helpers ---

// SQLite reads a bound text through this pointer; a null pointer would bind NULL, not "".
void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}

// A LIMIT value: SQLite reads a negative limit as "no limit".
std::int64_t sql_limit(std::size_t limit) {
  if (limit == 0 || limit > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())) {
    return -1;
  }
  return static_cast<std::int64_t>(limit);
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

// The status code of an SQLite result code: a busy or locked file, I/O and a full disk are
// transient (the store is unavailable and a retry may work); a corrupt file is data loss; a
// read-only file refuses writes; anything else is a bug in our SQL.
StatusCode sqlite_code(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_NOMEM:
    case SQLITE_INTERRUPT:
      return StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return StatusCode::kDataLoss;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return StatusCode::kPermissionDenied;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      return StatusCode::kInvalidArgument;
    default:
      return StatusCode::kInternal;
  }
}

// Owns one prepared statement.
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
};

// Resets a cached statement and drops its bindings (which may point at the caller's strings) when
// the scope that uses it ends.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* stmt) : stmt_(stmt) {}
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;
  ~StatementUse() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  sqlite3_stmt* get() const { return stmt_; }
  operator sqlite3_stmt*() const { return stmt_; }  // NOLINT: used as the statement itself

 private:
  sqlite3_stmt* stmt_;
};

enum class Upsert { kInserted, kReplaced, kUnchanged };

class SqliteStore final : public Store {
 public:
  SqliteStore(sqlite3* db, std::string path, const Clock& clock)
      : Store(clock), db_(db), path_(std::move(path)) {}
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override {
    cache_.clear();  // statements first: sqlite3_close refuses a connection with live statements
    sqlite3_close(db_);
  }

  // Sets the connection up and migrates the schema forward; called once, before any other use.
  Status init();

 private:
  friend class Transaction;

  std::string location() const override { return "'" + path_ + "'"; }

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
  Status do_batch(const std::function<Status()>& body) override;
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

  // SQLite's message for the connection's last error, coded by its result code; `where` (when
  // given) says which row it was.
  Status sql_error(std::string_view where = "") const {
    return {sqlite_code(sqlite3_errcode(db_)), std::string(where) + sqlite3_errmsg(db_)};
  }

  // The cached statement for `sql` (a string literal: the cache keeps the view), prepared on
  // first use.
  Result<sqlite3_stmt*> statement(std::string_view sql);
  // Runs a statement that returns no rows (or whose rows are ignored).
  Status run(std::string_view sql);
  Status exec_script(const std::string& sql);
  // Binds a row with bind(statement) and runs `insert`; when the key exists, binds and runs
  // `update` too (only then: a fresh import binds each row once). Returns an SQLite error code
  // (SQLITE_OK on success), leaving a failed statement unreset so that sqlite3_errmsg() tells why.
  template <class Bind>
  int upsert_row(sqlite3_stmt* insert, sqlite3_stmt* update, const Bind& bind, Upsert& what);

  Status require_asset(std::int64_t asset_id);
  // The oldest stored signing key, if any.
  Result<std::optional<SigningKey>> oldest_signing_key();
  Status pragma(const std::string& sql, std::string* result = nullptr);
  Status migrate();

  // Recursive: batch() holds it while the calls of its body take it again.
  std::recursive_mutex mu_;
  bool in_batch_ = false;  // under mu_
  sqlite3* db_;
  const std::string path_;
  std::unordered_map<std::string_view, Statement> cache_;
};

// One BEGIN IMMEDIATE … COMMIT, or a savepoint inside batch(); rolls back unless committed. The
// store's mutex must be held.
class Transaction {
 public:
  explicit Transaction(SqliteStore& store) : store_(store), nested_(store.in_batch_) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction() {
    if (!active_) return;
    if (nested_) {
      (void)store_.run(kRollbackCall);
      (void)store_.run(kRelease);
    } else {
      (void)store_.run(kRollback);
    }
  }
  Status begin() {
    Status s = store_.run(nested_ ? kSavepoint : kBegin);
    active_ = s.ok();
    return s;
  }
  Status commit() {
    Status s = store_.run(nested_ ? kRelease : kCommit);
    if (s.ok()) active_ = false;
    return s;
  }

 private:
  SqliteStore& store_;
  bool nested_;
  bool active_ = false;
};

Result<sqlite3_stmt*> SqliteStore::statement(std::string_view sql) {
  if (auto it = cache_.find(sql); it != cache_.end()) return it->second.get();
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return sql_error();
  }
  cache_.emplace(sql, Statement(stmt));
  return stmt;
}

Status SqliteStore::run(std::string_view sql) {
  auto stmt = statement(sql);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  int rc = SQLITE_ROW;
  while (rc == SQLITE_ROW) rc = sqlite3_step(use);
  return rc == SQLITE_DONE ? Status() : sql_error();
}

Status SqliteStore::exec_script(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    return Status(sqlite_code(sqlite3_errcode(db_)), text);
  }
  return {};
}

Status SqliteStore::pragma(const std::string& sql, std::string* result) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    return sql_error();
  }
  Statement stmt(raw);
  int rc = sqlite3_step(raw);
  if (rc == SQLITE_ROW && result) *result = column_text(raw, 0);
  while (rc == SQLITE_ROW) rc = sqlite3_step(raw);
  return rc == SQLITE_DONE ? Status() : sql_error();
}

template <class Bind>
int SqliteStore::upsert_row(sqlite3_stmt* insert, sqlite3_stmt* update, const Bind& bind,
                            Upsert& what) {
  bind(insert);
  if (int rc = sqlite3_step(insert); rc != SQLITE_DONE) return rc;
  sqlite3_reset(insert);
  if (sqlite3_changes(db_) == 1) {
    what = Upsert::kInserted;
    return SQLITE_OK;
  }
  bind(update);
  if (int rc = sqlite3_step(update); rc != SQLITE_DONE) return rc;
  sqlite3_reset(update);
  what = sqlite3_changes(db_) == 1 ? Upsert::kReplaced : Upsert::kUnchanged;
  return SQLITE_OK;
}

Status SqliteStore::require_asset(std::int64_t asset_id) {
  auto stmt = statement(kAssetExists);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  sqlite3_bind_int64(use, 1, asset_id);
  const int rc = sqlite3_step(use);
  if (rc == SQLITE_ROW) return {};
  if (rc == SQLITE_DONE) return Status::not_found("no asset with id " + std::to_string(asset_id));
  return sql_error();
}

Status SqliteStore::init() {
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
  sqlite3_extended_result_codes(db_, 1);
  std::string mode;
  // The first statement reads the file: a file that is not SQLite fails here. Switching a new
  // file to WAL can answer "database is locked" at once, without the busy handler, while another
  // connection does the same: retry for as long as the busy timeout.
  for (int waited_ms = 0;; waited_ms += 5) {
    Status s = pragma("PRAGMA journal_mode = WAL", &mode);
    if (s.ok()) break;
    if ((sqlite3_errcode(db_) & 0xff) != SQLITE_BUSY || waited_ms >= kBusyTimeoutMs) {
      return s;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (mode != "wal" && mode != "memory") {
    return Status::failed_precondition("cannot use write-ahead logging (journal_mode is '" + mode +
                                       "')");
  }
  if (Status s = pragma(kSynchronous); !s.ok()) return s;
  if (Status s = pragma("PRAGMA foreign_keys = ON"); !s.ok()) return s;
  // 64 MiB of page cache (SQLite's default is 2 MiB): a live feed inserts at one point per asset
  // and interval, and with fewer pages cached each insert reads its leaf back from the file.
  if (Status s = pragma("PRAGMA cache_size = -65536"); !s.ok()) return s;
  return migrate();
}

Status SqliteStore::migrate() {
  // Reads the schema version: 0 for an empty file; fails for a file holding other tables.
  auto read_version = [&](int& version) -> Status {
    std::string has_table;
    if (Status s = pragma(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            &has_table);
        !s.ok()) {
      return s;
    }
    if (has_table == "1") {
      std::string v;
      if (Status s = pragma("SELECT max(version) FROM schema_version", &v); !s.ok()) return s;
      if (v.empty())
        return Status::failed_precondition(
            "the schema_version table is empty: not a tickgraph database");
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), version);
      if (ec != std::errc() || end != v.data() + v.size()) {
        return Status::failed_precondition("the schema version '" + v + "' is not a number");
      }
      return {};
    }
    std::string tables;
    if (Status s = pragma("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                          "name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
                          &tables);
        !s.ok()) {
      return s;
    }
    if (tables != "0")
      return Status::failed_precondition(
          "not a tickgraph database (it has no schema_version table)");
    version = 0;
    return {};
  };
  auto check_known = [&](int version) -> Status {
    if (version > kSchemaVersion) {
      return Status::failed_precondition("schema version " + std::to_string(version) +
                                         " is newer than this build of tickgraph knows (" +
                                         std::to_string(kSchemaVersion) +
                                         "); use a newer tickgraph");
    }
    return {};
  };

  // The common case, a current file, without the write lock. The two reads of read_version are
  // separate statements: another process may commit its migration between them, so a failure
  // here is only decided under the lock below.
  int version = 0;
  if (read_version(version).ok() && version == kSchemaVersion) return {};

  // Another process may be migrating the same file: decide again under the write lock.
  Transaction tx(*this);
  if (Status s = tx.begin(); !s.ok()) return s;
  if (Status s = read_version(version); !s.ok()) return s;
  if (Status s = check_known(version); !s.ok()) return s;
  for (int v = version + 1; v <= kSchemaVersion; ++v) {
    const std::string step = "migration to schema version " + std::to_string(v) + ": ";
    if (Status s = exec_script(std::string(kMigrations[v - 1])); !s.ok()) {
      return s.with_prefix(step);
    }
    if (Status s = exec_script("DELETE FROM schema_version; INSERT INTO schema_version "
                               "(version) VALUES (" +
                               std::to_string(v) + ")");
        !s.ok()) {
      return s.with_prefix(step);
    }
  }
  return tx.commit();
}

// --- assets ---

Result<Asset> read_asset_row(sqlite3_stmt* s) {
  Asset a;
  a.id = sqlite3_column_int64(s, 0);
  a.symbol = column_text(s, 1);
  a.name = column_text(s, 2);
  const std::string cls = column_text(s, 3);
  auto parsed = parse_asset_class(cls);
  if (!parsed.ok()) return Status::data_loss("asset " + a.symbol + ": " + parsed.message());
  a.asset_class = *parsed;
  a.currency = column_text(s, 4);
  a.exchange = column_text(s, 5);
  const auto json = nlohmann::json::parse(column_text(s, 6), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    return Status::data_loss("asset " + a.symbol + ": attributes are not a JSON object");
  }
  for (const auto& [key, value] : json.items()) {
    if (!value.is_string()) {
      return Status::data_loss("asset " + a.symbol + ": attribute '" + key + "' is not a string");
    }
    a.attributes.emplace(key, value.get<std::string>());
  }
  return a;
}

Result<Asset> SqliteStore::do_upsert_asset(const Asset& asset) {
  // Attributes are stored as a JSON object, whose encoding refuses text that is not UTF-8 (as
  // PostgreSQL's encoding check does).
  std::string attributes;
  try {
    attributes = nlohmann::json(asset.attributes).dump();
  } catch (const nlohmann::json::exception&) {
    return Status::invalid_argument("an attribute is not valid UTF-8");
  }
  const std::string_view cls = asset_class_name(asset.asset_class);

  std::lock_guard lock(mu_);
  Transaction tx(*this);
  if (Status s = tx.begin(); !s.ok()) return s;
  {
    auto stmt = statement(kUpsertAsset);
    if (!stmt.ok()) return stmt.status();
    StatementUse use(*stmt);
    bind_text(use, 1, asset.symbol);
    bind_text(use, 2, asset.name);
    bind_text(use, 3, cls);
    bind_text(use, 4, asset.currency);
    bind_text(use, 5, asset.exchange);
    bind_text(use, 6, attributes);
    if (sqlite3_step(use) != SQLITE_DONE) return sql_error();
  }
  Asset stored = asset;
  {
    auto stmt = statement(kFindAsset);
    if (!stmt.ok()) return stmt.status();
    StatementUse use(*stmt);
    bind_text(use, 1, asset.symbol);
    if (sqlite3_step(use) != SQLITE_ROW) return sql_error();
    stored.id = sqlite3_column_int64(use, 0);
  }
  if (Status s = tx.commit(); !s.ok()) return s;
  return stored;
}

Result<std::optional<Asset>> SqliteStore::do_find_asset(std::string_view symbol) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kFindAsset);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  bind_text(use, 1, symbol);
  const int rc = sqlite3_step(use);
  if (rc == SQLITE_DONE) return std::optional<Asset>();
  if (rc != SQLITE_ROW) return sql_error();
  auto asset = read_asset_row(use);
  if (!asset.ok()) return asset.status();
  return std::optional<Asset>(std::move(*asset));
}

Result<std::vector<Asset>> SqliteStore::do_list_assets(const AssetFilter& filter) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kListAssets);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  bind_text(use, 1, filter.text);
  if (filter.asset_class) bind_text(use, 2, asset_class_name(*filter.asset_class));
  bind_text(use, 3, filter.exchange);
  std::vector<Asset> out;
  int rc = 0;
  while ((rc = sqlite3_step(use)) == SQLITE_ROW) {
    auto asset = read_asset_row(use);
    if (!asset.ok()) return asset.status();
    out.push_back(std::move(*asset));
  }
  if (rc != SQLITE_DONE) return sql_error();
  return out;
}

// --- candles ---

Result<WriteStats> SqliteStore::do_write_candles(std::int64_t asset_id, Interval interval,
                                                 std::span<const Candle> bars) {
  const std::string_view iv = interval_name(interval);
  std::lock_guard lock(mu_);
  Transaction tx(*this);
  if (Status s = tx.begin(); !s.ok()) return s;
  if (Status s = require_asset(asset_id); !s.ok()) return s;
  auto insert_stmt = statement(kInsertCandle);
  if (!insert_stmt.ok()) return insert_stmt.status();
  auto update_stmt = statement(kUpdateCandle);
  if (!update_stmt.ok()) return update_stmt.status();
  StatementUse insert(*insert_stmt);
  StatementUse update(*update_stmt);
  // The key's constant part stays bound across rows.
  for (sqlite3_stmt* s : {insert.get(), update.get()}) {
    sqlite3_bind_int64(s, 1, asset_id);
    bind_text(s, 2, iv);
  }

  // The latest stored bar before this write: bars after it are appended, and no analytics can
  // have been computed with them yet.
  std::optional<Timestamp> last_stored;
  {
    auto stmt = statement(kLastCandleTime);
    if (!stmt.ok()) return stmt.status();
    StatementUse use(*stmt);
    sqlite3_bind_int64(use, 1, asset_id);
    bind_text(use, 2, iv);
    if (sqlite3_step(use) != SQLITE_ROW) return sql_error();
    if (sqlite3_column_type(use, 0) != SQLITE_NULL) last_stored = sqlite3_column_int64(use, 0);
  }

  WriteStats stats;
  Timestamp first_changed = std::numeric_limits<Timestamp>::max();
  for (const Candle& b : bars) {
    const auto bind = [&b](sqlite3_stmt* s) {
      sqlite3_bind_int64(s, 3, b.time);
      sqlite3_bind_double(s, 4, b.open);
      sqlite3_bind_double(s, 5, b.high);
      sqlite3_bind_double(s, 6, b.low);
      sqlite3_bind_double(s, 7, b.close);
      sqlite3_bind_double(s, 8, b.volume);
    };
    Upsert what{};
    if (upsert_row(insert, update, bind, what) != SQLITE_OK) {
      return sql_error("bar at " + format_timestamp(b.time) + ": ");
    }
    switch (what) {
      case Upsert::kInserted:
        ++stats.inserted;
        first_changed = std::min(first_changed, b.time);
        break;
      case Upsert::kReplaced:
        ++stats.replaced;
        first_changed = std::min(first_changed, b.time);
        break;
      case Upsert::kUnchanged:
        ++stats.unchanged;
        break;
    }
  }

  if (stats.replaced > 0 || (stats.inserted > 0 && last_stored && first_changed < *last_stored)) {
    // Analytics from the first new or changed bar on were computed without it (a backfilled bar
    // changes every window that contains it, as a corrected one does). Appended bars change none.
    auto stmt = statement(kInvalidateAnalytics);
    if (!stmt.ok()) return stmt.status();
    StatementUse use(*stmt);
    sqlite3_bind_int64(use, 1, asset_id);
    sqlite3_bind_int64(use, 2, first_changed);
    if (sqlite3_step(use) != SQLITE_DONE) return sql_error();
  }
  if (Status s = tx.commit(); !s.ok()) return s;
  return stats;
}

// Appends the rows of a statement selecting (time, open, high, low, close, volume).
int read_candle_rows(sqlite3_stmt* s, CandleSeries& out) {
  int rc = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    out.time.push_back(sqlite3_column_int64(s, 0));
    out.open.push_back(sqlite3_column_double(s, 1));
    out.high.push_back(sqlite3_column_double(s, 2));
    out.low.push_back(sqlite3_column_double(s, 3));
    out.close.push_back(sqlite3_column_double(s, 4));
    out.volume.push_back(sqlite3_column_double(s, 5));
  }
  return rc;
}

Result<CandleSeries> SqliteStore::do_read_candles(std::int64_t asset_id, Interval interval,
                                                  TimeRange range, std::size_t limit) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kReadCandles);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  sqlite3_bind_int64(use, 1, asset_id);
  bind_text(use, 2, interval_name(interval));
  sqlite3_bind_int64(use, 3, range.from);
  sqlite3_bind_int64(use, 4, range.to);
  sqlite3_bind_int64(use, 5, sql_limit(limit));
  CandleSeries out;
  if (limit > 0) out.reserve(std::min<std::size_t>(limit, 1 << 16));
  if (read_candle_rows(use, out) != SQLITE_DONE) return sql_error();
  return out;
}

Result<CandleSeries> SqliteStore::do_latest_candles(std::int64_t asset_id, Interval interval,
                                                    std::size_t n, Timestamp before) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kLatestCandles);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  sqlite3_bind_int64(use, 1, asset_id);
  bind_text(use, 2, interval_name(interval));
  sqlite3_bind_int64(use, 3, before);
  sqlite3_bind_int64(use, 4, sql_limit(n));
  CandleSeries out;
  out.reserve(std::min<std::size_t>(n, 1 << 16));
  if (read_candle_rows(use, out) != SQLITE_DONE) return sql_error();
  for (auto* column : {&out.open, &out.high, &out.low, &out.close, &out.volume}) {
    std::reverse(column->begin(), column->end());
  }
  std::reverse(out.time.begin(), out.time.end());
  return out;
}

Result<std::int64_t> SqliteStore::do_count_candles(std::int64_t asset_id, Interval interval) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kCountCandles);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  sqlite3_bind_int64(use, 1, asset_id);
  bind_text(use, 2, interval_name(interval));
  if (sqlite3_step(use) != SQLITE_ROW) return sql_error();
  return static_cast<std::int64_t>(sqlite3_column_int64(use, 0));
}

// --- ticks ---

Result<WriteStats> SqliteStore::do_write_ticks(std::int64_t asset_id,
                                               std::span<const StoredTick> ticks) {
  std::lock_guard lock(mu_);
  Transaction tx(*this);
  if (Status s = tx.begin(); !s.ok()) return s;
  if (Status s = require_asset(asset_id); !s.ok()) return s;
  auto insert_stmt = statement(kInsertTick);
  if (!insert_stmt.ok()) return insert_stmt.status();
  auto update_stmt = statement(kUpdateTick);
  if (!update_stmt.ok()) return update_stmt.status();
  StatementUse insert(*insert_stmt);
  StatementUse update(*update_stmt);
  for (sqlite3_stmt* s : {insert.get(), update.get()}) sqlite3_bind_int64(s, 1, asset_id);

  WriteStats stats;
  for (const StoredTick& t : ticks) {
    const auto bind = [&t](sqlite3_stmt* s) {
      sqlite3_bind_int64(s, 2, t.time);
      sqlite3_bind_int64(s, 3, t.seq);
      sqlite3_bind_double(s, 4, t.price);
      sqlite3_bind_double(s, 5, t.size);
    };
    Upsert what{};
    if (upsert_row(insert, update, bind, what) != SQLITE_OK) {
      return sql_error("tick at " + format_timestamp(t.time) + " seq " + std::to_string(t.seq) +
                       ": ");
    }
    switch (what) {
      case Upsert::kInserted:
        ++stats.inserted;
        break;
      case Upsert::kReplaced:
        ++stats.replaced;
        break;
      case Upsert::kUnchanged:
        ++stats.unchanged;
        break;
    }
  }
  if (Status s = tx.commit(); !s.ok()) return s;
  return stats;
}

Result<std::vector<StoredTick>> SqliteStore::do_read_ticks(std::int64_t asset_id, TimeRange range,
                                                           std::size_t limit) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kReadTicks);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  sqlite3_bind_int64(use, 1, asset_id);
  sqlite3_bind_int64(use, 2, range.from);
  sqlite3_bind_int64(use, 3, range.to);
  sqlite3_bind_int64(use, 4, sql_limit(limit));
  std::vector<StoredTick> out;
  int rc = 0;
  while ((rc = sqlite3_step(use)) == SQLITE_ROW) {
    out.push_back(StoredTick{sqlite3_column_int64(use, 0), sqlite3_column_int64(use, 1),
                             sqlite3_column_double(use, 2), sqlite3_column_double(use, 3)});
  }
  if (rc != SQLITE_DONE) return sql_error();
  return out;
}

// --- graphs ---

GraphVersion read_graph_row(sqlite3_stmt* s) {
  GraphVersion g;
  g.graph_id = sqlite3_column_int64(s, 0);
  g.name = column_text(s, 1);
  g.version = sqlite3_column_int64(s, 2);
  g.spec = column_text(s, 3);
  g.created = sqlite3_column_int64(s, 4);
  return g;
}

Result<GraphVersion> SqliteStore::do_put_graph(std::string_view name, std::string_view spec,
                                               Timestamp created) {
  std::lock_guard lock(mu_);
  Transaction tx(*this);
  if (Status s = tx.begin(); !s.ok()) return s;
  std::int64_t latest = 0;
  {
    auto stmt = statement(kLatestGraph);
    if (!stmt.ok()) return stmt.status();
    StatementUse use(*stmt);
    bind_text(use, 1, name);
    const int rc = sqlite3_step(use);
    if (rc == SQLITE_ROW) {
      GraphVersion g = read_graph_row(use);
      if (g.spec == spec)
        return g;  // unchanged: the transaction rolls back, having written nothing
      latest = g.version;
    } else if (rc != SQLITE_DONE) {
      return sql_error();
    }
  }
  GraphVersion g{0, std::string(name), latest + 1, std::string(spec), created};
  {
    auto stmt = statement(kInsertGraph);
    if (!stmt.ok()) return stmt.status();
    StatementUse use(*stmt);
    bind_text(use, 1, g.name);
    sqlite3_bind_int64(use, 2, g.version);
    bind_text(use, 3, g.spec);
    sqlite3_bind_int64(use, 4, g.created);
    if (sqlite3_step(use) != SQLITE_DONE) return sql_error();
    g.graph_id = sqlite3_last_insert_rowid(db_);
  }
  if (Status s = tx.commit(); !s.ok()) return s;
  return g;
}

Result<std::optional<GraphVersion>> SqliteStore::do_get_graph(std::string_view name,
                                                              std::int64_t version) {
  std::lock_guard lock(mu_);
  auto stmt = statement(version == 0 ? kLatestGraph : kGraphVersion);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  bind_text(use, 1, name);
  if (version != 0) sqlite3_bind_int64(use, 2, version);
  const int rc = sqlite3_step(use);
  if (rc == SQLITE_DONE) return std::optional<GraphVersion>();
  if (rc != SQLITE_ROW) return sql_error();
  return std::optional<GraphVersion>(read_graph_row(use));
}

Result<std::vector<GraphVersion>> SqliteStore::do_list_graphs() {
  std::lock_guard lock(mu_);
  auto stmt = statement(kListGraphs);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  std::vector<GraphVersion> out;
  int rc = 0;
  while ((rc = sqlite3_step(use)) == SQLITE_ROW) out.push_back(read_graph_row(use));
  if (rc != SQLITE_DONE) return sql_error();
  return out;
}

Status SqliteStore::do_delete_graph(std::string_view name) {
  std::lock_guard lock(mu_);
  Transaction tx(*this);
  if (Status s = tx.begin(); !s.ok()) return s;
  for (std::string_view sql : {kDeleteGraphAnalytics, kDeleteGraph}) {
    auto stmt = statement(sql);
    if (!stmt.ok()) return stmt.status();
    StatementUse use(*stmt);
    bind_text(use, 1, name);
    if (sqlite3_step(use) != SQLITE_DONE) return sql_error();
  }
  if (sqlite3_changes(db_) == 0)
    return Status::not_found("no graph named '" + std::string(name) + "'");
  return tx.commit();
}

// --- analytics ---

Status SqliteStore::do_write_analytics(std::int64_t asset_id, std::int64_t graph_id,
                                       std::int64_t version,
                                       std::span<const AnalyticsSeries> series) {
  std::lock_guard lock(mu_);
  Transaction tx(*this);
  if (Status s = tx.begin(); !s.ok()) return s;
  if (Status s = require_asset(asset_id); !s.ok()) return s;
  {
    auto stmt = statement(kGraphExists);
    if (!stmt.ok()) return stmt.status();
    StatementUse use(*stmt);
    sqlite3_bind_int64(use, 1, graph_id);
    sqlite3_bind_int64(use, 2, version);
    const int rc = sqlite3_step(use);
    if (rc == SQLITE_DONE) return Status::not_found("no such graph version");
    if (rc != SQLITE_ROW) return sql_error();
  }
  auto stmt = statement(kUpsertAnalytics);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  sqlite3_bind_int64(use, 1, asset_id);
  sqlite3_bind_int64(use, 2, graph_id);
  sqlite3_bind_int64(use, 3, version);
  for (const AnalyticsSeries& s : series) {
    bind_text(use, 4, s.output);
    for (std::size_t i = 0; i < s.time.size(); ++i) {
      sqlite3_bind_int64(use, 5, s.time[i]);
      if (std::isnan(s.values[i])) {
        sqlite3_bind_null(use, 6);
      } else {
        sqlite3_bind_double(use, 6, s.values[i]);
      }
      if (sqlite3_step(use) != SQLITE_DONE) {
        return sql_error("output '" + s.output + "' at " + format_timestamp(s.time[i]) + ": ");
      }
      sqlite3_reset(use);
    }
  }
  return tx.commit();
}

Result<AnalyticsSeries> SqliteStore::do_read_analytics(std::int64_t asset_id, std::int64_t graph_id,
                                                       std::int64_t version,
                                                       std::string_view output, TimeRange range) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kReadAnalytics);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  sqlite3_bind_int64(use, 1, asset_id);
  sqlite3_bind_int64(use, 2, graph_id);
  sqlite3_bind_int64(use, 3, version);
  bind_text(use, 4, output);
  sqlite3_bind_int64(use, 5, range.from);
  sqlite3_bind_int64(use, 6, range.to);
  AnalyticsSeries out;
  out.output = std::string(output);
  int rc = 0;
  while ((rc = sqlite3_step(use)) == SQLITE_ROW) {
    out.time.push_back(sqlite3_column_int64(use, 0));
    out.values.push_back(sqlite3_column_type(use, 1) == SQLITE_NULL
                             ? std::numeric_limits<double>::quiet_NaN()
                             : sqlite3_column_double(use, 1));
  }
  if (rc != SQLITE_DONE) return sql_error();
  return out;
}

// --- batches ---

Status SqliteStore::do_batch(const std::function<Status()>& body) {
  std::lock_guard lock(mu_);
  if (in_batch_) return body();
  if (Status s = run(kBegin); !s.ok()) return checks::in_call(s, "batch", location());
  in_batch_ = true;
  Status result = body();
  in_batch_ = false;
  if (result.ok()) result = checks::in_call(run(kCommit), "batch", location());
  if (!result.ok()) (void)run(kRollback);
  return result;
}

// --- ingest offsets ---

Status SqliteStore::do_set_offset(std::string_view source, std::string_view partition,
                                  std::int64_t offset) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kSetOffset);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);  // one statement: SQLite commits it as its own transaction
  bind_text(use, 1, source);
  bind_text(use, 2, partition);
  sqlite3_bind_int64(use, 3, offset);
  if (sqlite3_step(use) != SQLITE_DONE) return sql_error();
  return {};
}

Result<std::optional<std::int64_t>> SqliteStore::do_get_offset(std::string_view source,
                                                               std::string_view partition) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kGetOffset);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  bind_text(use, 1, source);
  bind_text(use, 2, partition);
  const int rc = sqlite3_step(use);
  if (rc == SQLITE_DONE) return std::optional<std::int64_t>();
  if (rc != SQLITE_ROW) return sql_error();
  return std::optional<std::int64_t>(sqlite3_column_int64(use, 0));
}

// --- credentials ---

Credential read_credential_row(sqlite3_stmt* s) {
  Credential c;
  c.id = column_text(s, 0);
  c.kind = column_text(s, 1);
  c.name = column_text(s, 2);
  c.scopes = split_scopes(column_text(s, 3));
  c.secret_hash = column_text(s, 4);
  c.created = sqlite3_column_int64(s, 5);
  if (sqlite3_column_type(s, 6) != SQLITE_NULL) c.revoked = sqlite3_column_int64(s, 6);
  return c;
}

Status SqliteStore::do_add_credential(const Credential& credential) {
  const std::string scopes = join_scopes(credential.scopes);
  std::lock_guard lock(mu_);
  auto stmt = statement(kInsertCredential);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);  // one statement: SQLite commits it as its own transaction
  bind_text(use, 1, credential.id);
  bind_text(use, 2, credential.kind);
  bind_text(use, 3, credential.name);
  bind_text(use, 4, scopes);
  bind_text(use, 5, credential.secret_hash);
  sqlite3_bind_int64(use, 6, credential.created);
  if (credential.revoked) sqlite3_bind_int64(use, 7, *credential.revoked);
  if (sqlite3_step(use) != SQLITE_DONE) return sql_error();
  if (sqlite3_changes(db_) == 0) {
    return Status::already_exists("a credential with id '" + credential.id + "' already exists");
  }
  return {};
}

Result<std::optional<Credential>> SqliteStore::do_find_credential(std::string_view id) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kFindCredential);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  bind_text(use, 1, id);
  const int rc = sqlite3_step(use);
  if (rc == SQLITE_DONE) return std::optional<Credential>();
  if (rc != SQLITE_ROW) return sql_error();
  return std::optional<Credential>(read_credential_row(use));
}

Result<std::vector<Credential>> SqliteStore::do_list_credentials(std::string_view kind) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kListCredentials);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  bind_text(use, 1, kind);
  std::vector<Credential> out;
  int rc = 0;
  while ((rc = sqlite3_step(use)) == SQLITE_ROW) out.push_back(read_credential_row(use));
  if (rc != SQLITE_DONE) return sql_error();
  return out;
}

Result<bool> SqliteStore::do_revoke_credential(std::string_view id, Timestamp at) {
  std::lock_guard lock(mu_);
  auto stmt = statement(kRevokeCredential);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  bind_text(use, 1, id);
  sqlite3_bind_int64(use, 2, at);
  if (sqlite3_step(use) != SQLITE_DONE) return sql_error();
  return sqlite3_changes(db_) > 0;
}

// --- token signing key ---

Result<std::optional<SigningKey>> SqliteStore::oldest_signing_key() {
  auto stmt = statement(kOldestSigningKey);
  if (!stmt.ok()) return stmt.status();
  StatementUse use(*stmt);
  const int rc = sqlite3_step(use);
  if (rc == SQLITE_DONE) return std::optional<SigningKey>();
  if (rc != SQLITE_ROW) return sql_error();
  return std::optional<SigningKey>(SigningKey{column_text(use, 0), column_text(use, 1),
                                              column_text(use, 2), sqlite3_column_int64(use, 3)});
}

Result<SigningKey> SqliteStore::do_signing_key(const SigningKey& candidate) {
  std::lock_guard lock(mu_);
  // Usually a key is stored: one read, without taking the write lock.
  auto stored = oldest_signing_key();
  if (!stored.ok()) return stored.status();
  if (*stored) return std::move(**stored);
  // None yet. BEGIN IMMEDIATE serialises the processes that get here at once: the first stores
  // its candidate, and the others, reading again under the lock, find that key instead.
  Transaction tx(*this);
  if (Status s = tx.begin(); !s.ok()) return s;
  {
    auto stmt = statement(kInsertFirstSigningKey);
    if (!stmt.ok()) return stmt.status();
    StatementUse use(*stmt);
    bind_text(use, 1, candidate.kid);
    bind_text(use, 2, candidate.algorithm);
    bind_text(use, 3, candidate.private_pem);
    sqlite3_bind_int64(use, 4, candidate.created);
    if (sqlite3_step(use) != SQLITE_DONE) return sql_error();
  }
  stored = oldest_signing_key();
  if (!stored.ok()) return stored.status();
  if (!*stored) return Status::internal("the key just stored cannot be read back");
  if (Status s = tx.commit(); !s.ok()) return s;
  return std::move(**stored);
}

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& path, const Clock& clock) {
  if (path.empty()) return Status::invalid_argument("open: empty SQLite path");
  if (path != ":memory:") {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) {
      return Status::unavailable("open on '" + path + "': cannot create '" + parent.string() +
                                 "': " + ec.message());
    }
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status(sqlite_code(rc), "open on '" + path + "': " + message);
  }
  auto store = std::make_unique<SqliteStore>(db, path, clock);
  if (Status s = store->init(); !s.ok()) return s.with_prefix("open on '" + path + "': ");
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace tickgraph::store
