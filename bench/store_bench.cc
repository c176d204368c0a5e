// The SQLite store against a minimal raw SQLite C API program doing the same work, in one run:
//
//   write: 10 assets x 100,000 daily-spaced bars (1M rows), one transaction per 10,000 rows.
//          Raw: a prepared INSERT into a table with the store's key (asset_id, interval, time),
//          WITHOUT ROWID, WAL. Store: write_candles() with 10,000-bar batches.
//   read:  one asset's 100,000 bars as a range read. Raw: sqlite3_step() into six vectors.
//          Store: read_candles() into a CandleSeries. Both read the store's file.
//
// Targets: store write >= 0.85x raw (raw with synchronous=NORMAL, the cheaper setting; the store
// runs its own, FULL); store read >= 2.5M bars/s. It reports and never fails: timings are not
// tests. Each measurement is the best of TICKGRAPH_BENCH_ROUNDS rounds (default 3); the machine
// is shared, so the best round is the least disturbed one.
//
// run: build/bin/store_bench [DIR]   (DIR: where the files go; default a new temp dir, removed)
//      TICKGRAPH_BENCH_BARS=20000 build/bin/store_bench   (bars per asset, for a quick run)
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "store/store.h"

namespace {

using tickgraph::Candle;
using tickgraph::CandleSeries;
using tickgraph::Interval;
using tickgraph::kDay;
using tickgraph::Timestamp;
namespace store = tickgraph::store;

constexpr int kAssets = 10;
constexpr int kRowsPerTransaction = 10'000;
constexpr int kReadRepeats = 10;  // reads per round: one 100k-bar read is only ~30 ms
constexpr Timestamp kFirstBar = -50'000 * kDay;  // 1833: 100k days end in 2106, inside int64 ns

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::max(1, std::atoi(v)) : fallback;
}

// Wall-clock and CPU seconds of this (single) thread. CPU time leaves out both waiting for the disk
// and time other processes took the core, so its ratios stay steady on a busy machine.
struct Timing {
  double wall = 1e300;
  double cpu = 1e300;
  void keep_best(const Timing& t) {
    wall = std::min(wall, t.wall);
    cpu = std::min(cpu, t.cpu);
  }
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

Timing time_of(const std::function<void()>& f) {
  const double c0 = thread_cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return Timing{std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                thread_cpu_seconds() - c0};
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "store_bench: %s\n", what.c_str());
  std::exit(1);
}

std::vector<Candle> random_walk(int n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> step(0.0, 1.0);
  std::vector<Candle> bars(static_cast<std::size_t>(n));
  double close = 100.0;
  for (int i = 0; i < n; ++i) {
    const double open = close;
    close = std::max(1.0, close + step(rng));
    bars[static_cast<std::size_t>(i)] =
        Candle{kFirstBar + i * kDay,        open,  std::max(open, close) + 0.5,
               std::min(open, close) - 0.5, close, 1e6 + 1000.0 * (i % 977)};
  }
  return bars;
}

// --- the raw program ---

sqlite3* raw_open(const std::string& path, const char* synchronous) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) die("cannot open " + path);
  const std::string pragmas =
      std::string("PRAGMA journal_mode = WAL; PRAGMA synchronous = ") + synchronous + ";";
  if (sqlite3_exec(db, pragmas.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    die(sqlite3_errmsg(db));
  }
  return db;
}

void raw_exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) die(sqlite3_errmsg(db));
}

// Time to insert every asset's bars into a new file, committing every `per_transaction` rows.
Timing raw_write(const std::string& path, const char* synchronous,
                 const std::vector<std::vector<Candle>>& assets,
                 std::size_t per_transaction = kRowsPerTransaction) {
  std::filesystem::remove(path);
  sqlite3* db = raw_open(path, synchronous);
  raw_exec(db,
           "CREATE TABLE candles (asset_id INTEGER NOT NULL, interval TEXT NOT NULL, "
           "time INTEGER NOT NULL, open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, "
           "close REAL NOT NULL, volume REAL NOT NULL, PRIMARY KEY (asset_id, interval, time)) "
           "WITHOUT ROWID");
  sqlite3_stmt* insert = nullptr;
  if (sqlite3_prepare_v2(db, "INSERT INTO candles VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1,
                         &insert, nullptr) != SQLITE_OK) {
    die(sqlite3_errmsg(db));
  }
  const Timing t = time_of([&] {
    for (std::size_t a = 0; a < assets.size(); ++a) {
      const std::vector<Candle>& bars = assets[a];
      for (std::size_t i = 0; i < bars.size(); ++i) {
        if (i % per_transaction == 0) raw_exec(db, "BEGIN");
        const Candle& b = bars[i];
        sqlite3_bind_int64(insert, 1, static_cast<sqlite3_int64>(a) + 1);
        sqlite3_bind_text(insert, 2, "1d", 2, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 3, b.time);
        sqlite3_bind_double(insert, 4, b.open);
        sqlite3_bind_double(insert, 5, b.high);
        sqlite3_bind_double(insert, 6, b.low);
        sqlite3_bind_double(insert, 7, b.close);
        sqlite3_bind_double(insert, 8, b.volume);
        if (sqlite3_step(insert) != SQLITE_DONE) die(sqlite3_errmsg(db));
        sqlite3_reset(insert);
        if ((i + 1) % per_transaction == 0 || i + 1 == bars.size()) raw_exec(db, "COMMIT");
      }
    }
  });
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return t;
}

// Reads one asset's bars from the store's file, as the store would: columnar, ascending.
CandleSeries raw_read(sqlite3* db, sqlite3_stmt* select, std::int64_t asset_id) {
  CandleSeries out;
  sqlite3_bind_int64(select, 1, asset_id);
  sqlite3_bind_text(select, 2, "1d", 2, SQLITE_STATIC);
  sqlite3_bind_int64(select, 3, INT64_MIN);
  sqlite3_bind_int64(select, 4, INT64_MAX);
  int rc = 0;
  while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
    out.time.push_back(sqlite3_column_int64(select, 0));
    out.open.push_back(sqlite3_column_double(select, 1));
    out.high.push_back(sqlite3_column_double(select, 2));
    out.low.push_back(sqlite3_column_double(select, 3));
    out.close.push_back(sqlite3_column_double(select, 4));
    out.volume.push_back(sqlite3_column_double(select, 5));
  }
  if (rc != SQLITE_DONE) die(sqlite3_errmsg(db));
  sqlite3_reset(select);
  return out;
}

// --- the store ---

// Time for write_candles of every asset's bars in kRowsPerTransaction batches.
Timing store_write(store::Store& s, const std::vector<std::int64_t>& ids,
                   const std::vector<std::vector<Candle>>& assets, std::int64_t* unchanged) {
  std::int64_t same = 0;
  const Timing t = time_of([&] {
    for (std::size_t a = 0; a < assets.size(); ++a) {
      const std::span<const Candle> all(assets[a]);
      for (std::size_t i = 0; i < all.size(); i += kRowsPerTransaction) {
        const auto batch =
            all.subspan(i, std::min<std::size_t>(kRowsPerTransaction, all.size() - i));
        auto r = s.write_candles(ids[a], Interval::k1d, batch);
        if (!r.ok()) die(r.message());
        same += r->unchanged;
      }
    }
  });
  if (unchanged) *unchanged = same;
  return t;
}

std::unique_ptr<store::Store> open_or_die(const std::string& url) {
  auto r = store::open_store(url);
  if (!r.ok()) die(r.message());
  return std::move(*r);
}

void line(const char* what, double per_second, const char* unit) {
  std::printf("  %-50s %11.0f %s\n", what, per_second, unit);
}

// "store / raw": the store's speed as a fraction of the raw program's, by wall and CPU time.
void ratio(const char* what, const Timing& store_t, const Timing& raw_t, const char* target,
           bool met) {
  std::printf("  %-50s %11.2fx wall, %.2fx CPU", what, raw_t.wall / store_t.wall,
              raw_t.cpu / store_t.cpu);
  if (target) std::printf("  (target %s: %s)", target, met ? "met" : "NOT MET");
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const int bars_per_asset = env_int("TICKGRAPH_BENCH_BARS", 100'000);
  const int rounds = env_int("TICKGRAPH_BENCH_ROUNDS", 3);
  std::string dir;
  bool remove_dir = false;
  if (argc > 1) {
    dir = argv[1];
    std::filesystem::create_directories(dir);
  } else {
    std::string tmpl = (std::filesystem::temp_directory_path() / "store-bench-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) die("cannot create a temp dir");
    dir = tmpl;
    remove_dir = true;
  }
  const double rows = static_cast<double>(kAssets) * bars_per_asset;

  std::vector<std::vector<Candle>> assets;
  for (int a = 0; a < kAssets; ++a) assets.push_back(random_walk(bars_per_asset, 1234U + a));

  std::printf(
      "store_bench: %d assets x %d daily bars = %.0f rows, %d rows per transaction, "
      "best of %d rounds, files in %s\n",
      kAssets, bars_per_asset, rows, kRowsPerTransaction, rounds, dir.c_str());
  std::printf("SQLite %s\n\nwrite\n", sqlite3_libversion());

  // Rounds alternate raw and store so that a slow moment of the machine hits both alike.
  Timing raw_normal, raw_full, store_fresh, store_again;
  std::int64_t unchanged = 0;
  const std::string store_url = "sqlite:" + dir + "/store.db";
  for (int r = 0; r < rounds; ++r) {
    raw_normal.keep_best(raw_write(dir + "/raw.db", "NORMAL", assets));
    raw_full.keep_best(raw_write(dir + "/raw.db", "FULL", assets));
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(dir + "/store.db" + suffix);
    }
    auto s = open_or_die(store_url);
    std::vector<std::int64_t> ids;
    for (int a = 0; a < kAssets; ++a) {
      tickgraph::Asset asset;
      asset.symbol = "BENCH" + std::to_string(a);
      auto up = s->upsert_asset(asset);
      if (!up.ok()) die(up.message());
      ids.push_back(up->id);
    }
    store_fresh.keep_best(store_write(*s, ids, assets, nullptr));
    store_again.keep_best(store_write(*s, ids, assets, &unchanged));
  }
  std::filesystem::remove(dir + "/raw.db");
  line("raw SQLite C API, WAL, synchronous=NORMAL", rows / raw_normal.wall, "rows/s");
  line("raw SQLite C API, WAL, synchronous=FULL", rows / raw_full.wall, "rows/s");
  line("store write_candles (new bars; WAL, FULL)", rows / store_fresh.wall, "rows/s");
  const double write_ratio = raw_normal.wall / store_fresh.wall;
  ratio("  store / raw NORMAL", store_fresh, raw_normal, ">= 0.85x", write_ratio >= 0.85);
  ratio("  store / raw FULL", store_fresh, raw_full, nullptr, false);
  line("store write_candles (re-import, all unchanged)", rows / store_again.wall, "rows/s");
  if (unchanged != static_cast<std::int64_t>(rows)) die("re-import was not all unchanged");

  // One bar per call: what a live feed pays per acknowledged bar (one transaction, so with FULL
  // one fsync, each), next to the raw program committing every row.
  {
    const std::vector<std::vector<Candle>> live = {random_walk(2000, 99)};
    const double n = static_cast<double>(live[0].size());
    std::printf("\none row per transaction (%.0f rows)\n", n);
    line("raw SQLite C API, WAL, synchronous=NORMAL",
         n / raw_write(dir + "/raw.db", "NORMAL", live, 1).wall, "rows/s");
    line("raw SQLite C API, WAL, synchronous=FULL",
         n / raw_write(dir + "/raw.db", "FULL", live, 1).wall, "rows/s");
    std::filesystem::remove(dir + "/raw.db");
    auto s = open_or_die(store_url);
    tickgraph::Asset asset;
    asset.symbol = "LIVE";
    auto up = s->upsert_asset(asset);
    if (!up.ok()) die(up.message());
    const Timing t = time_of([&] {
      for (const Candle& b : live[0]) {
        if (auto r = s->write_candles(up->id, Interval::k1m, {&b, 1}); !r.ok()) die(r.message());
      }
    });
    line("store write_candles, one bar per call (FULL)", n / t.wall, "calls/s");
  }

  std::printf("\nread (one asset's %d bars, full range)\n", bars_per_asset);
  auto s = open_or_die(store_url);
  const std::int64_t asset_id = (*s->find_asset("BENCH3"))->id;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2((dir + "/store.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) !=
      SQLITE_OK) {
    die("cannot open the store's file");
  }
  sqlite3_stmt* select = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT time, open, high, low, close, volume FROM candles WHERE "
                         "asset_id = ?1 AND interval = ?2 AND time >= ?3 AND time <= ?4 "
                         "ORDER BY time",
                         -1, &select, nullptr) != SQLITE_OK) {
    die(sqlite3_errmsg(db));
  }
  std::size_t raw_n = 0, store_n = 0;
  Timing raw_read_t, store_read_t;
  for (int r = 0; r < rounds * kReadRepeats; ++r) {
    raw_read_t.keep_best(time_of([&] { raw_n = raw_read(db, select, asset_id).size(); }));
    store_read_t.keep_best(time_of([&] {
      auto got = s->read_candles(asset_id, Interval::k1d, {});
      if (!got.ok()) die(got.message());
      store_n = got->size();
    }));
  }
  sqlite3_finalize(select);
  sqlite3_close(db);
  if (raw_n != static_cast<std::size_t>(bars_per_asset) || store_n != raw_n) {
    die("reads returned " + std::to_string(raw_n) + " and " + std::to_string(store_n) + " bars");
  }
  const double store_rate = static_cast<double>(store_n) / store_read_t.wall;
  line("raw sqlite3_step into vectors", static_cast<double>(raw_n) / raw_read_t.wall, "bars/s");
  line("store read_candles", store_rate, "bars/s");
  ratio("  store / raw", store_read_t, raw_read_t, ">= 2.5M bars/s", store_rate >= 2.5e6);

  // TICKGRAPH_BENCH_PG_URL: the PostgreSQL store's part goes here (the same 1M-row write and
  // 100k-bar read through open_store(that URL), against its own raw baseline).

  s.reset();
  if (remove_dir) std::filesystem::remove_all(dir);
  return 0;
}
