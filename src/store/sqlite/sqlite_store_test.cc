// What only the SQLite store has: the file itself (WAL, integrity, schema versions and their
// migration), its error messages, and durability across a killed process. The behaviour both
// stores share is tested by ../store_conformance_test.cc.
#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/migration_test_util.h"

namespace tickgraph::store {
namespace {

constexpr Timestamp kDay0 = 1'577'836'800 * kSecond;  // 2020-01-01
// The schema version this build creates (kMigrations in sqlite_store.cc).
constexpr const char* kCurrentVersion = "2";

std::vector<Candle> daily_bars(int n, int first = 0) {
  std::vector<Candle> bars;
  for (int i = first; i < first + n; ++i) {
    const double c = 50.0 + 0.25 * i;
    bars.push_back(Candle{kDay0 + i * kDay, c, c + 1, c - 1, c + 0.5, 100.0 + i});
  }
  return bars;
}

// Runs SQL on a file directly, outside the store; returns the first column of every row.
std::vector<std::string> raw_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> rows;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << path;
    sqlite3_close(db);
    return rows;
  }
  char* error = nullptr;
  const int rc = sqlite3_exec(
      db, sql.c_str(),
      [](void* out, int, char** values, char**) {
        static_cast<std::vector<std::string>*>(out)->emplace_back(values[0] ? values[0] : "NULL");
        return 0;
      },
      &rows, &error);
  if (rc != SQLITE_OK) ADD_FAILURE() << sql << ": " << (error ? error : "?");
  sqlite3_free(error);
  sqlite3_close(db);
  return rows;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir_template =
        (std::filesystem::temp_directory_path() / "tickgraph-sqlite-XXXXXX").string();
    ASSERT_NE(::mkdtemp(dir_template.data()), nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/test.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> open_ok(const std::string& path) {
    auto r = open_sqlite_store(path);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? std::move(*r) : nullptr;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(SqliteStoreTest, NewFileIsWalAtTheCurrentSchemaVersion) {
  // A new database is created in WAL mode, with parent folders, at the current schema version.
  const std::string nested = dir_ + "/a/b/c.db";
  ASSERT_NE(open_ok(nested), nullptr);
  EXPECT_EQ(raw_sql(nested, "PRAGMA journal_mode"), std::vector<std::string>{"wal"});
  EXPECT_EQ(raw_sql(nested, "SELECT version FROM schema_version"),
            std::vector<std::string>{kCurrentVersion});
  // Opening again migrates nothing and keeps the one version row.
  ASSERT_NE(open_ok(nested), nullptr);
  EXPECT_EQ(raw_sql(nested, "SELECT count(*) FROM schema_version"), std::vector<std::string>{"1"});
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefusedNamingFileAndVersions) {
  // A file written by a newer tickgraph is not touched; the error names it and both versions.
  ASSERT_NE(open_ok(path_), nullptr);
  raw_sql(path_, "UPDATE schema_version SET version = 7");
  auto r = open_sqlite_store(path_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find(path_), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("version 7"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find(std::string("(") + kCurrentVersion + ")"), std::string::npos)
      << r.message();
  EXPECT_EQ(raw_sql(path_, "SELECT version FROM schema_version"), std::vector<std::string>{"7"});
}

TEST_F(SqliteStoreTest, AVersionOneFileIsMigratedKeepingItsData) {
  // A file written before credentials existed (schema version 1) is migrated when opened: it
  // keeps its data and then stores credentials and the signing key.
  std::int64_t id = 0;
  {
    auto store = open_ok(path_);
    ASSERT_NE(store, nullptr);
    Asset a;
    a.symbol = "OLD";
    id = store->upsert_asset(a)->id;
    ASSERT_TRUE(store->write_candles(id, Interval::k1d, daily_bars(10)).ok());
    ASSERT_TRUE(store->set_offset("src", "0", 5).ok());
  }
  // Back to what a version-1 build left: migration 2 only added these two tables.
  raw_sql(path_,
          "DROP TABLE credentials; DROP TABLE signing_keys; UPDATE schema_version SET version = 1");
  const std::string new_tables =
      "SELECT name FROM sqlite_master WHERE name IN ('credentials', 'signing_keys') ORDER BY name";
  ASSERT_TRUE(raw_sql(path_, new_tables).empty());

  auto store = open_ok(path_);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(raw_sql(path_, "SELECT version FROM schema_version"),
            std::vector<std::string>{kCurrentVersion});
  EXPECT_EQ(raw_sql(path_, new_tables), (std::vector<std::string>{"credentials", "signing_keys"}));
  const auto asset = store->find_asset("OLD");
  ASSERT_TRUE(asset.ok() && asset->has_value());
  EXPECT_EQ((*asset)->id, id);
  EXPECT_EQ(*store->count_candles(id, Interval::k1d), 10);
  EXPECT_EQ(*store->get_offset("src", "0"), std::optional<std::int64_t>(5));

  expect_credentials_work_after_migration(*store, "client-1", kDay0);
  EXPECT_EQ(raw_sql(path_, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
}

TEST_F(SqliteStoreTest, ForeignFilesAreRefusedNamingThem) {
  // Another application's database, a text file and an unwritable path fail, naming the path.
  raw_sql(path_, "CREATE TABLE orders (id INTEGER PRIMARY KEY)");
  auto other_db = open_sqlite_store(path_);
  ASSERT_FALSE(other_db.ok());
  EXPECT_NE(other_db.message().find(path_), std::string::npos) << other_db.message();
  EXPECT_NE(other_db.message().find("not a tickgraph database"), std::string::npos);
  EXPECT_EQ(raw_sql(path_, "SELECT count(*) FROM sqlite_master"), std::vector<std::string>{"1"});

  const std::string text = dir_ + "/notes.txt";
  std::ofstream(text) << "this is not a database, just a text file long enough to have a header "
                         "that SQLite would read and reject as such.\n";
  auto not_sqlite = open_sqlite_store(text);
  ASSERT_FALSE(not_sqlite.ok());
  EXPECT_NE(not_sqlite.message().find(text), std::string::npos) << not_sqlite.message();

  const std::string under_file = text + "/sub/x.db";
  auto bad_path = open_sqlite_store(under_file);
  ASSERT_FALSE(bad_path.ok());
  EXPECT_NE(bad_path.message().find(under_file), std::string::npos) << bad_path.message();
}

TEST_F(SqliteStoreTest, EmptyExistingFileBecomesADatabase) {
  // A zero-byte file (e.g. made by `touch`) is an empty database and gets the schema.
  std::ofstream(path_).close();
  auto store = open_ok(path_);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->list_assets().ok());
}

TEST_F(SqliteStoreTest, ErrorsNameOperationFileAndCause) {
  // A failed call says which operation, which file and why.
  auto store = open_ok(path_);
  ASSERT_NE(store, nullptr);
  const std::vector<Candle> bars = daily_bars(3);
  auto r = store->write_candles(123456, Interval::k1d, bars);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("write_candles"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find(path_), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("123456"), std::string::npos) << r.message();

  Asset a;
  a.symbol = "NAN";
  const std::int64_t id = store->upsert_asset(a)->id;
  std::vector<Candle> nan_bars = daily_bars(3);
  nan_bars[1].high = std::numeric_limits<double>::quiet_NaN();
  auto n = store->write_candles(id, Interval::k1d, nan_bars);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.message().find("high"), std::string::npos) << n.message();
  EXPECT_NE(n.message().find("2020-01-02"), std::string::npos) << n.message();
}

TEST_F(SqliteStoreTest, FileStaysConsistentAfterAMixedWorkload) {
  // After writes, corrections, failed writes and deletions the file passes SQLite's own checks.
  {
    auto store = open_ok(path_);
    ASSERT_NE(store, nullptr);
    Asset a;
    a.symbol = "MIX";
    const std::int64_t id = store->upsert_asset(a)->id;
    ASSERT_TRUE(store->write_candles(id, Interval::k1d, daily_bars(500)).ok());
    const GraphVersion g = *store->put_graph("g", "spec");
    AnalyticsSeries s{"out", {}, {}};
    for (const Candle& b : daily_bars(500)) {
      s.time.push_back(b.time);
      s.values.push_back(b.close);
    }
    ASSERT_TRUE(store->write_analytics(id, g.graph_id, g.version, {&s, 1}).ok());
    std::vector<Candle> fixed = daily_bars(100, 200);
    fixed[0].close += 1;
    ASSERT_EQ(store->write_candles(id, Interval::k1d, fixed)->replaced, 1);
    EXPECT_FALSE(store->write_candles(id + 1, Interval::k1d, fixed).ok());
    ASSERT_TRUE(store->delete_graph("g").ok());
  }
  EXPECT_EQ(raw_sql(path_, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
  EXPECT_TRUE(raw_sql(path_, "PRAGMA foreign_key_check").empty());
  EXPECT_EQ(raw_sql(path_, "SELECT count(*) FROM candles"), std::vector<std::string>{"500"});
  EXPECT_EQ(raw_sql(path_, "SELECT count(*) FROM analytics"), std::vector<std::string>{"0"});
}

TEST_F(SqliteStoreTest, SimultaneousFirstOpensMigrateOnce) {
  // Several connections creating the same new file at once all succeed, with one schema.
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  std::vector<std::string> errors(4);
  for (std::size_t i = 0; i < ok.size(); ++i) {
    threads.emplace_back([&, i] {
      auto opened = open_sqlite_store(path_);
      ok[i] = opened.ok() ? 1 : 0;
      errors[i] = opened.message();
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok, std::vector<int>(4, 1)) << errors[0] << errors[1] << errors[2] << errors[3];
  EXPECT_EQ(raw_sql(path_, "SELECT count(*) FROM schema_version"), std::vector<std::string>{"1"});
}

TEST_F(SqliteStoreTest, AWriteWaitsOutAnotherConnectionsLock) {
  // Another connection of the same process holds the write lock for a while (a VACUUM, a
  // migration, a second store): the write waits for it (busy timeout) instead of failing at once.
  auto store = open_ok(path_);
  ASSERT_NE(store, nullptr);
  Asset a;
  a.symbol = "WAIT";
  const std::int64_t id = store->upsert_asset(a)->id;
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::thread release([other] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the lock's holder, not a wait
    sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  });
  const auto start = std::chrono::steady_clock::now();
  auto written = store->write_candles(id, Interval::k1d, daily_bars(2));
  const auto waited = std::chrono::steady_clock::now() - start;
  release.join();
  sqlite3_close(other);
  ASSERT_TRUE(written.ok()) << written.message();
  EXPECT_GE(waited, std::chrono::milliseconds(250));  // it did wait for the lock
  EXPECT_EQ(written->inserted, 2);
}

TEST_F(SqliteStoreTest, AcknowledgedWritesSurviveKillDashNine) {
  // Every write that returned OK before the process was killed with SIGKILL is in the file.
  {
    auto store = open_ok(path_);
    ASSERT_NE(store, nullptr);
    Asset a;
    a.symbol = "CRASH";
    ASSERT_TRUE(store->upsert_asset(a).ok());
  }
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child writes 100-bar batches forever, reporting each acknowledged batch.
    ::close(pipe_fds[0]);
    auto store = open_sqlite_store(path_);
    if (!store.ok()) ::_exit(2);
    const std::int64_t id = (*(*store)->find_asset("CRASH"))->id;
    for (int batch = 0;; ++batch) {
      if (!(*store)->write_candles(id, Interval::k1m, daily_bars(100, batch * 100)).ok()) {
        ::_exit(3);
      }
      if (::write(pipe_fds[1], &batch, sizeof batch) != sizeof batch) ::_exit(4);
    }
  }
  ::close(pipe_fds[1]);
  int acknowledged = -1;
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(::read(pipe_fds[0], &acknowledged, sizeof acknowledged),
              static_cast<ssize_t>(sizeof acknowledged));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  // Batches the child reported after our last read are acknowledged too.
  int batch = 0;
  while (::read(pipe_fds[0], &batch, sizeof batch) == static_cast<ssize_t>(sizeof batch)) {
    acknowledged = batch;
  }
  ::close(pipe_fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);

  auto store = open_ok(path_);
  ASSERT_NE(store, nullptr);
  const std::int64_t id = (*store->find_asset("CRASH"))->id;
  const std::int64_t stored = *store->count_candles(id, Interval::k1m);
  EXPECT_GE(stored, (acknowledged + 1) * 100);
  EXPECT_EQ(stored % 100, 0) << "a batch was stored in part";
  const CandleSeries all = *store->read_candles(id, Interval::k1m, {});
  EXPECT_EQ(all.size(), static_cast<std::size_t>(stored));
  EXPECT_EQ(raw_sql(path_, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
}

}  // namespace
}  // namespace tickgraph::store
