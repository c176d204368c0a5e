// What only the PostgreSQL store has: schema versions in a shared server and their migration,
// connection errors, the pool, lost connections, NULL for NaN, the first signing key stored by
// racing servers in an empty database, and the bulk paths (direct COPY, stage table + upsert,
// repeated keys) checked against the SQLite store as the oracle. The behaviour both stores share
// is in ../store_conformance_test.cc.
//
// Needs a server: scripts/pg-test.sh -- build/bin/postgres_store_tests (TICKGRAPH_TEST_PG_URL).
// Tests that change schemas or kill sessions work in a scratch database of their own.
#include "store/postgres/postgres_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/migration_test_util.h"
#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_schema.h"
#include "store/store.h"

namespace tickgraph::store {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr Timestamp kDay0 = 1'577'836'800 * kSecond;  // 2020-01-01
// The schema version this build creates, as PostgreSQL prints it.
const std::string kVersion = std::to_string(pg::kSchemaVersion);

std::string test_url() {
  const char* url = std::getenv("TICKGRAPH_TEST_PG_URL");
  return url != nullptr ? url : "";
}

// A unique prefix for names in the shared database.
std::string unique_prefix() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return "P" + std::to_string(::getpid()) + "x" + std::to_string(rd() % 100000) + "x" +
         std::to_string(counter++) + "-";
}

// `conninfo` with another database name, as a key=value string.
std::string with_database(const std::string& conninfo, const std::string& db) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (options == nullptr) {
    PQfreemem(err);
    return "";
  }
  std::string out = "dbname='" + db + "'";
  for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || std::string(o->keyword) == "dbname") continue;
    std::string value;
    for (const char* c = o->val; *c != '\0'; ++c) {
      if (*c == '\'' || *c == '\\') value += '\\';
      value += *c;
    }
    out += std::string(" ") + o->keyword + "='" + value + "'";
  }
  PQconninfoFree(options);
  return out;
}

// Runs one statement through plain libpq; returns the first value of the first row ("" if
// none), or "ERROR: …".
std::string query(const std::string& conninfo, const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  std::string out;
  if (PQstatus(conn) != CONNECTION_OK) {
    out = std::string("ERROR: ") + PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      out = std::string("ERROR: ") + PQresultErrorMessage(r);
    } else if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) {
      out = PQgetvalue(r, 0, 0);
    }
    PQclear(r);
  }
  PQfinish(conn);
  return out;
}

// A database of its own on the test server, dropped at the end.
class ScratchDatabase {
 public:
  explicit ScratchDatabase(const std::string& base) : base_(base) {
    name_ = "tickgraph_scratch_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++);
    error_ = query(base_, "CREATE DATABASE " + name_);
    conninfo_ = with_database(base_, name_);
  }
  ~ScratchDatabase() { query(base_, "DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)"); }
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  const std::string& conninfo() const { return conninfo_; }
  const std::string& name() const { return name_; }
  const std::string& error() const { return error_; }  // empty when created

 private:
  static inline std::atomic<int> counter_{0};
  std::string base_, name_, conninfo_, error_;
};

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = test_url();
    if (url_.empty()) GTEST_SKIP() << "TICKGRAPH_TEST_PG_URL is not set (scripts/pg-test.sh)";
    prefix_ = unique_prefix();
  }

  std::unique_ptr<Store> open(const std::string& conninfo) {
    Result<std::unique_ptr<Store>> s = open_postgres_store(conninfo);
    EXPECT_TRUE(s.ok()) << s.message();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  Asset add_asset(Store& store, const std::string& symbol) {
    Asset a;
    a.symbol = prefix_ + symbol;
    Result<Asset> r = store.upsert_asset(a);
    EXPECT_TRUE(r.ok()) << r.message();
    return r.ok() ? *r : a;
  }

  std::string url_;
  std::string prefix_;
};

TEST_F(PostgresStoreTest, AFreshDatabaseGetsTheSchemaOnceAtTheCurrentVersion) {
  // Opening an empty database creates the schema at the current version, recording each
  // migration once; opening again adds nothing.
  ScratchDatabase db(url_);
  ASSERT_EQ(db.error(), "");
  ASSERT_NE(open(db.conninfo()), nullptr);
  EXPECT_EQ(query(db.conninfo(), "SELECT max(version) FROM schema_version"), kVersion);
  ASSERT_NE(open(db.conninfo()), nullptr);
  EXPECT_EQ(query(db.conninfo(), "SELECT count(*) FROM schema_version"), kVersion);
  EXPECT_EQ(query(db.conninfo(), "SELECT count(*) FROM candles"), "0");
}

TEST_F(PostgresStoreTest, ConcurrentOpensOfAnEmptyDatabaseMigrateItOnce) {
  // Processes starting together against a new database do not trip over each other's DDL.
  ScratchDatabase db(url_);
  ASSERT_EQ(db.error(), "");
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      if (!open_postgres_store(db.conninfo()).ok()) ++failures;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(query(db.conninfo(), "SELECT count(*) FROM schema_version"), kVersion);
}

TEST_F(PostgresStoreTest, ANewerSchemaIsRefusedNamingBothVersionsAndTheServer) {
  // A database migrated by a newer tickgraph is not touched by this one.
  ScratchDatabase db(url_);
  ASSERT_EQ(db.error(), "");
  ASSERT_NE(open(db.conninfo()), nullptr);
  ASSERT_EQ(query(db.conninfo(), "INSERT INTO schema_version (version) VALUES (7)"), "");
  const Result<std::unique_ptr<Store>> s = open_postgres_store(db.conninfo());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("schema version 7"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("version " + kVersion), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("/" + db.name()), std::string::npos) << s.message();
  EXPECT_EQ(query(db.conninfo(), "SELECT count(*) FROM schema_version"),
            std::to_string(pg::kSchemaVersion + 1));
}

TEST_F(PostgresStoreTest, AVersionOneDatabaseIsMigratedKeepingItsData) {
  // A database written before credentials existed (schema version 1) is migrated when opened:
  // it keeps its data and then stores credentials and the signing key.
  ScratchDatabase db(url_);
  ASSERT_EQ(db.error(), "");
  std::int64_t asset_id = 0;
  {
    std::unique_ptr<Store> store = open(db.conninfo());
    ASSERT_NE(store, nullptr);
    asset_id = add_asset(*store, "OLD").id;
    ASSERT_TRUE(store->set_offset("src", "0", 5).ok());
  }
  // Back to what a version-1 build left: migration 2 only added these two tables.
  ASSERT_EQ(query(db.conninfo(),
                  "DROP TABLE credentials, signing_keys; "
                  "DELETE FROM schema_version WHERE version >= 2"),
            "");
  ASSERT_EQ(query(db.conninfo(), "SELECT max(version) FROM schema_version"), "1");

  std::unique_ptr<Store> store = open(db.conninfo());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(query(db.conninfo(), "SELECT max(version) FROM schema_version"), kVersion);
  EXPECT_EQ(query(db.conninfo(),
                  "SELECT count(*) FROM pg_tables WHERE tablename IN ('credentials', "
                  "'signing_keys')"),
            "2");
  const Result<std::optional<Asset>> asset = store->find_asset(prefix_ + "OLD");
  ASSERT_TRUE(asset.ok() && asset->has_value()) << asset.message();
  EXPECT_EQ((*asset)->id, asset_id);
  EXPECT_EQ(*store->get_offset("src", "0"), std::optional<std::int64_t>(5));

  expect_credentials_work_after_migration(*store, prefix_ + "client", kDay0);
}

TEST_F(PostgresStoreTest, OneSigningKeyIsStoredWhenServersStartTogether) {
  // In an empty database, stores racing for the first signing key (as servers starting at once
  // would, each on its own connections) store exactly one of their candidates and all get it.
  ScratchDatabase db(url_);
  ASSERT_EQ(db.error(), "");
  constexpr int kStores = 6;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kStores; ++i) {
    stores.push_back(open(db.conninfo()));
    ASSERT_NE(stores.back(), nullptr);
  }
  std::vector<std::string> kids(kStores);
  std::atomic<int> ready{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores; ++i) {
    threads.emplace_back([&, i] {
      const SigningKey candidate{"kid-" + std::to_string(i), "ES256", "pem-" + std::to_string(i),
                                 kDay0 + i};
      ++ready;
      while (ready.load() < kStores) std::this_thread::yield();
      const Result<SigningKey> key = stores[i]->signing_key(candidate);
      if (!key.ok() || key->private_pem != "pem-" + key->kid.substr(4)) {
        ++failures;
      } else {
        kids[i] = key->kid;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  for (int i = 1; i < kStores; ++i) EXPECT_EQ(kids[i], kids[0]) << "store " << i;
  EXPECT_EQ(query(db.conninfo(), "SELECT count(*) FROM signing_keys"), "1");
  EXPECT_EQ(query(db.conninfo(), "SELECT kid FROM signing_keys"), kids[0]);
}

TEST_F(PostgresStoreTest, ConnectionErrorsNameTheServerButNeverThePassword) {
  // A bad database or a closed port fails with libpq's reason, host:port/db, and no password.
  const std::string server = pg::describe_server(url_);  // host:port/db
  const std::string host_port = server.substr(0, server.find('/'));
  const std::string bad_db =
      "postgresql://postgres:s3cret-pw@" + host_port + "/tickgraph_no_such_db";
  const Result<std::unique_ptr<Store>> r1 = open_store(bad_db);
  ASSERT_FALSE(r1.ok());
  EXPECT_NE(r1.message().find(host_port + "/tickgraph_no_such_db"), std::string::npos)
      << r1.message();
  EXPECT_NE(r1.message().find("does not exist"), std::string::npos) << r1.message();
  EXPECT_EQ(r1.message().find("s3cret-pw"), std::string::npos) << r1.message();

  // Port 1 on loopback: nothing listens there.
  const Result<std::unique_ptr<Store>> r2 =
      open_store("postgresql://u:s3cret-pw@127.0.0.1:1/db?connect_timeout=5");
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.message().find("127.0.0.1:1/db"), std::string::npos) << r2.message();
  EXPECT_NE(r2.message().find("cannot connect"), std::string::npos) << r2.message();
  EXPECT_EQ(r2.message().find("s3cret-pw"), std::string::npos) << r2.message();
}

TEST_F(PostgresStoreTest, CallErrorsNameTheOperationTheServerAndPostgresMessage) {
  // A failed call says what it was doing, on which server, and what PostgreSQL answered.
  std::unique_ptr<Store> store = open(url_);
  ASSERT_NE(store, nullptr);
  const std::string server = pg::describe_server(url_);
  const Result<WriteStats> w =
      store->write_candles(std::numeric_limits<std::int64_t>::max() - 3, Interval::k1d,
                           std::vector<Candle>{{kDay0, 1, 1, 1, 1, 1}});
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.message().find("write_candles"), std::string::npos) << w.message();
  EXPECT_NE(w.message().find(server), std::string::npos) << w.message();

  Asset bad;
  bad.symbol = prefix_ + "UTF";
  bad.name = "\xff\xfe not UTF-8";
  const Result<Asset> a = store->upsert_asset(bad);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.message().find("upsert_asset"), std::string::npos) << a.message();
  EXPECT_NE(a.message().find(server), std::string::npos) << a.message();
  EXPECT_NE(a.message().find("UTF8"), std::string::npos) << a.message();  // PostgreSQL's words
  EXPECT_EQ(a.message().find('\n'), std::string::npos) << a.message();
}

TEST_F(PostgresStoreTest, CallsSucceedAfterTheServerDropsEveryConnection) {
  // Pooled sessions killed by the server (restart, idle timeout) are replaced transparently.
  ScratchDatabase db(url_);
  ASSERT_EQ(db.error(), "");
  std::unique_ptr<Store> store = open(db.conninfo());
  ASSERT_NE(store, nullptr);
  const Asset a = add_asset(*store, "KILL");
  std::vector<Candle> bars;
  for (int i = 0; i < 100; ++i) bars.push_back({kDay0 + i * kDay, 1.0 + i, 2.0 + i, 0.5, 1.5, 10});
  ASSERT_TRUE(store->write_candles(a.id, Interval::k1d, bars).ok());
  // Several connections in the pool.
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      for (int k = 0; k < 20; ++k) EXPECT_TRUE(store->count_candles(a.id, Interval::k1d).ok());
    });
  }
  for (std::thread& t : readers) t.join();

  const std::string killed = query(
      url_, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '" +
                db.name() + "'");
  EXPECT_NE(killed, "0");
  // Both a stage-table write (session state rebuilt) and a read work at once.
  bars[3].close += 1.0;
  const Result<WriteStats> w = store->write_candles(a.id, Interval::k1d, bars);
  ASSERT_TRUE(w.ok()) << w.message();
  EXPECT_EQ(w->replaced, 1);
  const Result<std::int64_t> n = store->count_candles(a.id, Interval::k1d);
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(*n, 100);
}

TEST_F(PostgresStoreTest, ManyThreadsShareTheSmallPool) {
  // More threads than pooled connections: every call waits its turn and succeeds.
  std::unique_ptr<Store> store = open(url_);
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 12;
  std::vector<Asset> assets;
  for (int t = 0; t < kThreads; ++t)
    assets.push_back(add_asset(*store, "POOL" + std::to_string(t)));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 10; ++k) {
        std::vector<Candle> bars;
        for (int i = 0; i < 50; ++i) {
          bars.push_back({kDay0 + (k * 50 + i) * kMinute, 1.0 * t, 2.0, 0.5, 1.0 + i, 1});
        }
        if (!store->write_candles(assets[t].id, Interval::k1m, bars).ok()) ++failures;
        if (!store->read_candles(assets[t].id, Interval::k1m, {}).ok()) ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (const Asset& a : assets) {
    const Result<std::int64_t> n = store->count_candles(a.id, Interval::k1m);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n, 500);
  }
}

TEST_F(PostgresStoreTest, NaNAnalyticsAreStoredAsNull) {
  // NaN (warm-up) values are SQL NULLs in the table, readable as such by other SQL clients.
  std::unique_ptr<Store> store = open(url_);
  ASSERT_NE(store, nullptr);
  const Asset a = add_asset(*store, "NULLS");
  const Result<GraphVersion> g = store->put_graph(prefix_ + "g", "spec");
  ASSERT_TRUE(g.ok());
  const AnalyticsSeries s{"rsi", {kDay0, kDay0 + kDay, kDay0 + 2 * kDay}, {kNaN, kNaN, 55.5}};
  ASSERT_TRUE(store->write_analytics(a.id, g->graph_id, g->version, {&s, 1}).ok());
  const std::string where = " FROM analytics WHERE graph_id = " + std::to_string(g->graph_id) +
                            " AND asset_id = " + std::to_string(a.id);
  EXPECT_EQ(query(url_, "SELECT count(*)" + where + " AND value IS NULL"), "2");
  EXPECT_EQ(query(url_, "SELECT count(*)" + where + " AND value = 'NaN'"), "0");
  EXPECT_EQ(query(url_, "SELECT value" + where + " AND value IS NOT NULL"), "55.5");
}

// --- the bulk paths against the SQLite store ------------------------------------------------

// A bar whose values depend only on (k, variant): rewriting the same k with the same variant is
// unchanged, with another variant a replacement.
Candle bar(int k, int variant) {
  const double c = 100.0 + 0.25 * k + 0.5 * variant;
  return {kDay0 + k * kMinute, c - 0.1, c + 0.3, c - 0.4, c, 1000.0 + variant};
}

std::vector<Candle> rows_of(const CandleSeries& s) {
  std::vector<Candle> out;
  for (std::size_t i = 0; i < s.size(); ++i) out.push_back(s.at(i));
  return out;
}

TEST_F(PostgresStoreTest, BulkWritesClassifyAndStoreExactlyAsTheSqliteStore) {
  // Random batches (appends, overlaps, repeated keys, out of order, some large enough for many
  // COPY chunks) give the same WriteStats, bars, ticks and surviving analytics as SQLite.
  std::unique_ptr<Store> pg = open(url_);
  ASSERT_NE(pg, nullptr);
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("tickgraph-pg-oracle-" + prefix_);
  std::filesystem::create_directories(dir);
  Result<std::unique_ptr<Store>> opened = open_store("sqlite:" + (dir / "oracle.db").string());
  ASSERT_TRUE(opened.ok()) << opened.message();
  std::unique_ptr<Store> lite = std::move(opened).value();

  struct Side {
    Store* store;
    Asset asset;
    GraphVersion graph;
  };
  Side sides[2] = {{pg.get(), {}, {}}, {lite.get(), {}, {}}};
  for (Side& s : sides) {
    s.asset = add_asset(*s.store, "BULK");
    Result<GraphVersion> g = s.store->put_graph(prefix_ + "g", "spec");
    ASSERT_TRUE(g.ok());
    s.graph = *g;
  }

  std::mt19937 rng(20240611);
  constexpr int kWindow = 4000;
  int appended = 0;  // bars 0 … appended-1 were written by appends
  for (int step = 0; step < 40; ++step) {
    std::vector<Candle> batch;
    const int kind = step < 2 ? 0 : static_cast<int>(rng() % 4);
    if (kind == 0) {
      // Appends after everything stored (the direct COPY path); large at first.
      const int n = step == 0 ? 150'000 : 1 + static_cast<int>(rng() % 3000);
      for (int i = 0; i < n; ++i) batch.push_back(bar(kWindow * 50 + appended + i, 0));
      appended += n;
    } else {
      // Random keys in a window: overlaps, repeats and disorder (the stage + upsert path).
      const int n = 1 + static_cast<int>(rng() % (kind == 3 ? 20 : 3000));
      for (int i = 0; i < n; ++i) {
        batch.push_back(
            bar(static_cast<int>(rng() % (kind == 3 ? 10 : kWindow)), static_cast<int>(rng() % 2)));
      }
      if (kind == 1) {
        std::sort(batch.begin(), batch.end(),
                  [](const Candle& x, const Candle& y) { return x.time < y.time; });
      }
    }
    if (step == 1) {
      // Analytics over the window and the first appends, to see which ones survive.
      AnalyticsSeries s{"out", {}, {}};
      for (int k = 0; k < kWindow * 51; k += 7) {
        s.time.push_back(kDay0 + k * kMinute);
        s.values.push_back(k % 3 == 0 ? kNaN : k * 0.5);
      }
      for (Side& side : sides) {
        ASSERT_TRUE(
            side.store
                ->write_analytics(side.asset.id, side.graph.graph_id, side.graph.version, {&s, 1})
                .ok());
      }
    }
    Result<WriteStats> got[2] = {
        sides[0].store->write_candles(sides[0].asset.id, Interval::k1m, batch),
        sides[1].store->write_candles(sides[1].asset.id, Interval::k1m, batch)};
    ASSERT_TRUE(got[0].ok()) << got[0].message();
    ASSERT_TRUE(got[1].ok()) << got[1].message();
    EXPECT_EQ(got[0]->inserted, got[1]->inserted) << "step " << step << " kind " << kind;
    EXPECT_EQ(got[0]->replaced, got[1]->replaced) << "step " << step << " kind " << kind;
    EXPECT_EQ(got[0]->unchanged, got[1]->unchanged) << "step " << step << " kind " << kind;

    if (step % 8 == 7 || step == 39) {
      Result<CandleSeries> bars[2] = {
          sides[0].store->read_candles(sides[0].asset.id, Interval::k1m, {}),
          sides[1].store->read_candles(sides[1].asset.id, Interval::k1m, {})};
      ASSERT_TRUE(bars[0].ok() && bars[1].ok());
      EXPECT_EQ(rows_of(*bars[0]), rows_of(*bars[1])) << "step " << step;
      std::vector<Timestamp> kept[2];
      for (int i = 0; i < 2; ++i) {
        Result<AnalyticsSeries> an = sides[i].store->read_analytics(
            sides[i].asset.id, sides[i].graph.graph_id, sides[i].graph.version, "out", {});
        ASSERT_TRUE(an.ok()) << an.message();
        kept[i] = an->time;
      }
      EXPECT_EQ(kept[0], kept[1]) << "step " << step;
    }
  }

  // Ticks, with repeated (time, seq) keys in one batch.
  std::vector<StoredTick> ticks;
  for (int i = 0; i < 5000; ++i) {
    const int k = static_cast<int>(rng() % 700);
    ticks.push_back({kDay0 + (k / 3) * kSecond, k % 3, 10.0 + static_cast<double>(rng() % 3), 1.0});
  }
  for (int round = 0; round < 3; ++round) {
    Result<WriteStats> got[2] = {sides[0].store->write_ticks(sides[0].asset.id, ticks),
                                 sides[1].store->write_ticks(sides[1].asset.id, ticks)};
    ASSERT_TRUE(got[0].ok() && got[1].ok()) << got[0].message() << got[1].message();
    EXPECT_EQ(got[0]->inserted, got[1]->inserted);
    EXPECT_EQ(got[0]->replaced, got[1]->replaced);
    EXPECT_EQ(got[0]->unchanged, got[1]->unchanged);
    for (StoredTick& t : ticks) t.price += static_cast<double>(rng() % 2);
  }
  Result<std::vector<StoredTick>> read[2] = {sides[0].store->read_ticks(sides[0].asset.id, {}),
                                             sides[1].store->read_ticks(sides[1].asset.id, {})};
  ASSERT_TRUE(read[0].ok() && read[1].ok());
  ASSERT_EQ(read[0]->size(), read[1]->size());
  for (std::size_t i = 0; i < read[0]->size(); ++i) {
    EXPECT_EQ((*read[0])[i].time, (*read[1])[i].time);
    EXPECT_EQ((*read[0])[i].seq, (*read[1])[i].seq);
    EXPECT_EQ((*read[0])[i].price, (*read[1])[i].price);
  }

  lite.reset();
  std::filesystem::remove_all(dir);
}

TEST_F(PostgresStoreTest, RepeatedAnalyticsKeysKeepTheLastValue) {
  // Within one write, a repeated (output, time) keeps its last value, on both write paths.
  std::unique_ptr<Store> store = open(url_);
  ASSERT_NE(store, nullptr);
  const Asset a = add_asset(*store, "AREP");
  const Result<GraphVersion> g = store->put_graph(prefix_ + "g", "spec");
  ASSERT_TRUE(g.ok());
  const std::vector<AnalyticsSeries> first = {{"x", {kDay0 + 2, kDay0, kDay0 + 2}, {1, 2, 3}},
                                              {"x", {kDay0}, {kNaN}}};
  ASSERT_TRUE(store->write_analytics(a.id, g->graph_id, g->version, first).ok());
  Result<AnalyticsSeries> back = store->read_analytics(a.id, g->graph_id, g->version, "x", {});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->time, (std::vector<Timestamp>{kDay0, kDay0 + 2}));
  ASSERT_EQ(back->values.size(), 2u);
  EXPECT_TRUE(std::isnan(back->values[0]));
  EXPECT_EQ(back->values[1], 3.0);

  const std::vector<AnalyticsSeries> second = {{"x", {kDay0 + 2, kDay0 + 2}, {4, 5}}};
  ASSERT_TRUE(store->write_analytics(a.id, g->graph_id, g->version, second).ok());
  back = store->read_analytics(a.id, g->graph_id, g->version, "x", {});
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->values.back(), 5.0);
}

}  // namespace
}  // namespace tickgraph::store
