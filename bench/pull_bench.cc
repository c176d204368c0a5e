// The one-day analytics pull on a long history against the same pull on a short one, through the
// pull facade (live/pull.h: what GET /v1/assets/{symbol}/analytics, `tickgraph compute` and the
// live warm-up call), and against the reference run in the same process: the former REST path,
// which read every stored bar up to `to` and let the executor skip the early ones.
//
//   LONG:  1,000,000 stored 1m bars; SHORT: 20,000. Both end on the same day, with the same
//          prices over that day. The pull: the 8-node chain (examples/chain.yaml) over the last
//          day (1,440 bars), its warm-up loaded before it.
//   Target: LONG <= 2x SHORT (the cost follows the range, not the history).
//   Derived bars (store/bar_reader.h): the last week at 1h pulled from LONG, which stores 1m bars
//   only (each hour aggregated on read), against the same week from HOURS, which stores LONG's
//   hours (resampled and written at load); the two tables are checked equal bit for bit.
//
// On SQLite (a temp file) always, and on PostgreSQL when TICKGRAPH_BENCH_PG_URL is set (run it as
// scripts/pg-test.sh -- build/bin/pull_bench). After loading PostgreSQL it runs ANALYZE, as
// PostgreSQL's manual advises after a bulk load and as autovacuum does within a minute: on the
// statistics of an empty table the planner reads the latest bars by sorting the whole asset
// (about 1 s for 1M bars) instead of walking the key's index backwards. Prints the median of
// TICKGRAPH_BENCH_ROUNDS runs (default 15) of each; it reports and never fails: timings are not
// tests. Both versions of a run are checked to give the same table, bit for bit.
//
// run: build/bin/pull_bench
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "core/resampler.h"
#include "graph/pull_executor.h"
#include "live/pull.h"
#include "store/store.h"

namespace {

using namespace tickgraph;

constexpr std::size_t kLongBars = 1'000'000;
constexpr std::size_t kShortBars = 20'000;
constexpr std::size_t kDayBars = 1'440;
constexpr Timestamp kLastBar = 1'800'000'000 * kSecond;  // fixed, on a minute

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "pull_bench: %s\n", what.c_str());
  std::exit(1);
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::max(1, std::atoi(v)) : fallback;
}

// n 1m bars ending at kLastBar, a random walk; the last bars are the same for every n (the walk
// is generated backwards from the last bar).
std::vector<Candle> bars(std::size_t n) {
  std::vector<Candle> out(n);
  double price = 100;
  std::uint64_t x = 42;
  for (std::size_t k = 0; k < n; ++k) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const double step = static_cast<double>(x >> 40) / static_cast<double>(1ULL << 24) - 0.5;
    const double close = price;
    price /= 1 + 0.001 * step;
    const Timestamp t = kLastBar - static_cast<Timestamp>(k) * kMinute;
    out[n - 1 - k] = {
        t, price, std::max(price, close) * 1.0005, std::min(price, close) * 0.9995, close, 100.0};
  }
  return out;
}

std::int64_t add_asset(store::Store& db, const std::string& symbol, std::size_t n) {
  Asset a;
  a.symbol = symbol;
  auto stored = db.upsert_asset(a);
  if (!stored) die(stored.message());
  if (auto count = db.count_candles(stored->id, Interval::k1m); count && *count == std::int64_t(n))
    return stored->id;  // already there (a PostgreSQL database kept between runs)
  const std::vector<Candle> all = bars(n);
  for (std::size_t i = 0; i < all.size(); i += 50'000) {
    const std::size_t end = std::min(all.size(), i + 50'000);
    auto written =
        db.write_candles(stored->id, Interval::k1m, std::span<const Candle>(&all[i], end - i));
    if (!written) die(written.message());
  }
  return stored->id;
}

// The 1h bars of n 1m bars, stored at 1h.
void add_hours(store::Store& db, const std::string& symbol, std::size_t n) {
  Asset a;
  a.symbol = symbol;
  auto stored = db.upsert_asset(a);
  if (!stored) die(stored.message());
  CandleSeries minutes;
  for (const Candle& c : bars(n)) minutes.push_back(c);
  auto hours = resample(minutes, Interval::k1m, Interval::k1h);
  if (!hours) die(hours.message());
  if (auto count = db.count_candles(stored->id, Interval::k1h);
      count && *count == std::int64_t(hours->size()))
    return;
  std::vector<Candle> rows;
  for (std::size_t i = 0; i < hours->size(); ++i) rows.push_back(hours->at(i));
  auto written = db.write_candles(stored->id, Interval::k1h, rows);
  if (!written) die(written.message());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Equal bit for bit (NaN included).
bool same_bits(std::span<const double> a, std::span<const double> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

bool same_bits(const graph::Table& a, const graph::Table& b) {
  if (a.time != b.time || a.columns != b.columns || a.values.size() != b.values.size()) {
    return false;
  }
  for (std::size_t c = 0; c < a.values.size(); ++c) {
    if (!same_bits(a.values[c], b.values[c])) return false;
  }
  return true;
}

void run_on(const std::string& label, store::Store& db, int rounds,
            const std::function<void()>& after_load = {}) {
  std::printf("%s: writing %zu and %zu 1m bars...\n", label.c_str(), kLongBars, kShortBars);
  std::fflush(stdout);
  add_asset(db, "LONG", kLongBars);
  add_asset(db, "SHORT", kShortBars);
  add_hours(db, "HOURS", kLongBars);
  if (after_load) after_load();

  std::ifstream file(TICKGRAPH_CHAIN_SPEC);
  std::stringstream text;
  text << file.rdbuf();
  auto graph = live::prepare_graph(db, text.str(), TICKGRAPH_CHAIN_SPEC);
  if (!graph) die(graph.message());
  const graph::TimeRange day{kLastBar - static_cast<Timestamp>(kDayBars - 1) * kMinute, kLastBar};

  // The former REST path: every bar up to `to`, the executor skipping what it does not need.
  auto whole = [&](const std::string& symbol) {
    auto asset = db.find_asset(symbol);
    auto all = db.read_candles((*asset)->id, Interval::k1m,
                               {std::numeric_limits<Timestamp>::min(), day.to});
    if (!all) die(all.message());
    graph::MarketData data;
    data.emplace(symbol, std::move(*all));
    auto table = graph::run_pull(*graph, symbol, data, day);
    if (!table) die(table.message());
    return std::move(*table);
  };
  auto facade = [&](const std::string& symbol) {
    auto table = live::run(db, *graph, symbol, Interval::k1m, day);
    if (!table) die(table.message());
    return std::move(*table);
  };
  const graph::TimeRange week{kLastBar - 7 * kDay, kLastBar};
  const ManualClock after(kLastBar + kDay);  // the bars are dated ahead of today's clock
  auto hourly = [&](const std::string& symbol) {
    auto table = live::run(db, *graph, symbol, Interval::k1h, week, live::Mode::kPull, after);
    if (!table) die(table.message());
    return std::move(*table);
  };

  const graph::Table reference = whole("LONG");
  if (reference.rows() != kDayBars)
    die("the day has " + std::to_string(reference.rows()) + " rows");
  if (!same_bits(facade("LONG"), reference) || !same_bits(facade("SHORT"), whole("SHORT")))
    die("the facade's table differs from the whole-history run");
  if (const graph::Table derived = hourly("LONG");
      derived.rows() < std::size_t{168} || !same_bits(derived, hourly("HOURS")))
    die("the week at 1h (168 bars) from derived bars differs from the one from stored bars");

  struct Case {
    const char* name;
    std::function<void()> run;
  };
  const std::vector<Case> cases = {
      {"facade, 1,000,000 bars", [&] { facade("LONG"); }},
      {"facade,    20,000 bars", [&] { facade("SHORT"); }},
      {"whole history (reference), 1,000,000 bars", [&] { whole("LONG"); }},
      {"whole history (reference),    20,000 bars", [&] { whole("SHORT"); }},
      {"a week at 1h, derived from 1m bars", [&] { hourly("LONG"); }},
      {"a week at 1h, stored", [&] { hourly("HOURS"); }},
  };
  std::vector<double> medians;
  for (const Case& c : cases) {
    std::vector<double> times;
    // The whole-history reads of 1M bars take ~1 s each; fewer rounds of them.
    const int n = std::strstr(c.name, "whole") && std::strstr(c.name, "1,000,000")
                      ? std::max(3, rounds / 5)
                      : rounds;
    for (int r = 0; r < n; ++r) times.push_back(seconds_of(c.run));
    medians.push_back(median(times));
    std::printf("  %-44s median %8.2f ms  (%d runs)\n", c.name, medians.back() * 1e3, n);
  }
  std::printf("  one day on 1,000,000 bars / on 20,000 bars: %.2fx (target <= 2x)\n",
              medians[0] / medians[1]);
  std::printf("  facade / whole history on 1,000,000 bars:   %.3fx (%.0fx faster)\n",
              medians[0] / medians[2], medians[2] / medians[0]);
  std::printf("  a week at 1h, derived / stored:              %.2fx (60 1m bars read per 1h bar)\n",
              medians[4] / medians[5]);
}

}  // namespace

int main() {
  const int rounds = env_int("TICKGRAPH_BENCH_ROUNDS", 15);
  std::string dir = (std::filesystem::temp_directory_path() / "tickgraph-pull-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) die("cannot create a temp dir");
  {
    auto db = store::open_store("sqlite:" + dir + "/pull.db");
    if (!db) die(db.message());
    run_on("SQLite", **db, rounds);
  }
  std::filesystem::remove_all(dir);
  if (const char* pg = std::getenv("TICKGRAPH_BENCH_PG_URL"); pg != nullptr && *pg != '\0') {
    auto db = store::open_store(pg);
    if (!db) die(db.message());
    run_on("PostgreSQL", **db, rounds, [pg] {
      PGconn* conn = PQconnectdb(pg);
      PGresult* r = PQexec(conn, "ANALYZE candles");
      const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      const std::string error = PQerrorMessage(conn);
      PQclear(r);
      PQfinish(conn);
      if (!ok) die("ANALYZE candles: " + error);
    });
  }
  return 0;
}
