// The PostgreSQL store against raw libpq, in the same run on the same server.
//
// Writes: 1,000,000 one-minute candles (10 assets x 100,000) through Store::write_candles, next to
// a raw libpq text COPY (PQputCopyData, doubles formatted with std::to_chars) of the same rows into
// a table of the same kind (CREATE TABLE … (LIKE candles INCLUDING ALL): same columns, key and
// collation), one transaction per asset in both. Three store cases: a first import (nothing
// stored: the direct COPY path), a re-import of identical bars (the stage table + upsert path,
// all unchanged) and a re-import with every close changed (the same path, all replaced).
// Reads: a 100,000-bar range through Store::read_candles, next to a raw libpq text SELECT of the
// same rows parsed into vectors with std::from_chars. Live writes: one bar per call, appended or
// replacing the forming bar, as a push pipeline writes them (latency per call, not a target).
//
// Prices are rounded to cents and volumes are whole numbers, as quotes are: short text keeps the
// raw text COPY as fast as it can be. Each measurement is the best of kRepeats runs; the first
// imports and the raw COPYs alternate asset by asset, so that both see the same machine load.
//
// Run: scripts/pg-test.sh -- build/bin/pg_store_bench   (reads TICKGRAPH_BENCH_PG_URL)
// Rows written to the store are deleted at the end; the raw table is dropped.
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "store/postgres/postgres_store.h"

namespace {

using namespace tickgraph;
using SteadyClock = std::chrono::steady_clock;

constexpr int kAssets = 10;
constexpr int kBarsPerAsset = 100'000;
constexpr int kRepeats = 3;
constexpr int kReadRepeats = 15;
constexpr double kWriteTarget = 1.0;  // store rows/s over raw text COPY rows/s
constexpr double kReadTarget = 1e6;   // bars/s

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "pg_store_bench: %s\n", what.c_str());
  std::exit(1);
}

std::vector<Candle> random_walk(int n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> step(0.0, 0.001);
  std::uniform_int_distribution<int> volume(100, 100'000);
  const auto cents = [](double x) { return std::round(x * 100.0) / 100.0; };
  std::vector<Candle> bars;
  bars.reserve(static_cast<std::size_t>(n));
  double p = 100.0;
  const Timestamp t0 = 1'577'836'800 * kSecond;
  for (int i = 0; i < n; ++i) {
    const double open = p;
    p *= std::exp(step(rng));
    const double high = std::max(open, p) * (1.0 + std::abs(step(rng)));
    const double low = std::min(open, p) * (1.0 - std::abs(step(rng)));
    bars.push_back({t0 + static_cast<Timestamp>(i) * kMinute, cents(open), cents(high), cents(low),
                    cents(p), static_cast<double>(volume(rng))});
  }
  return bars;
}

// --- raw libpq --------------------------------------------------------------------------------

void exec_or_die(PGconn* conn, const std::string& sql) {
  PGresult* r = PQexec(conn, sql.c_str());
  const ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const std::string message = PQresultErrorMessage(r);
    PQclear(r);
    die(sql + ": " + message);
  }
  PQclear(r);
}

void append_double(std::string& out, double v) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

// One asset's bars by text COPY in one transaction, the way a careful libpq client writes them.
void raw_text_copy(PGconn* conn, const std::string& table, std::int64_t asset_id,
                   const std::vector<Candle>& bars) {
  exec_or_die(conn, "BEGIN");
  PGresult* r = PQexec(conn, ("COPY " + table +
                              " (asset_id, interval, time, open, high, low, close, volume) "
                              "FROM STDIN")
                                 .c_str());
  if (PQresultStatus(r) != PGRES_COPY_IN) die(std::string("COPY: ") + PQresultErrorMessage(r));
  PQclear(r);
  std::string chunk;
  chunk.reserve(1 << 17);
  for (const Candle& c : bars) {
    append_int(chunk, asset_id);
    chunk += "\t1m\t";
    append_int(chunk, c.time);
    for (const double v : {c.open, c.high, c.low, c.close, c.volume}) {
      chunk += '\t';
      append_double(chunk, v);
    }
    chunk += '\n';
    if (chunk.size() >= (1 << 17) - 256) {
      if (PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) != 1) {
        die(std::string("PQputCopyData: ") + PQerrorMessage(conn));
      }
      chunk.clear();
    }
  }
  if (!chunk.empty() && PQputCopyData(conn, chunk.data(), static_cast<int>(chunk.size())) != 1) {
    die(std::string("PQputCopyData: ") + PQerrorMessage(conn));
  }
  if (PQputCopyEnd(conn, nullptr) != 1) die(std::string("PQputCopyEnd: ") + PQerrorMessage(conn));
  r = PQgetResult(conn);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) die(std::string("COPY: ") + PQresultErrorMessage(r));
  PQclear(r);
  while ((r = PQgetResult(conn)) != nullptr) PQclear(r);
  exec_or_die(conn, "COMMIT");
}

template <class T>
T parse_or_die(const char* text, int length) {
  T v{};
  const auto res = std::from_chars(text, text + length, v);
  if (res.ec != std::errc()) die(std::string("cannot parse '") + text + "'");
  return v;
}

// A range read with a plain text SELECT, parsed into columns.
CandleSeries raw_select(PGconn* conn, std::int64_t asset_id, Timestamp from, Timestamp to) {
  const std::string sql =
      "SELECT time, open, high, low, close, volume FROM candles WHERE asset_id = " +
      std::to_string(asset_id) + " AND interval = '1m' AND time >= " + std::to_string(from) +
      " AND time <= " + std::to_string(to) + " ORDER BY time";
  PGresult* r = PQexec(conn, sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) die(std::string("SELECT: ") + PQresultErrorMessage(r));
  const int n = PQntuples(r);
  CandleSeries s;
  s.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    s.time.push_back(parse_or_die<std::int64_t>(PQgetvalue(r, i, 0), PQgetlength(r, i, 0)));
    s.open.push_back(parse_or_die<double>(PQgetvalue(r, i, 1), PQgetlength(r, i, 1)));
    s.high.push_back(parse_or_die<double>(PQgetvalue(r, i, 2), PQgetlength(r, i, 2)));
    s.low.push_back(parse_or_die<double>(PQgetvalue(r, i, 3), PQgetlength(r, i, 3)));
    s.close.push_back(parse_or_die<double>(PQgetvalue(r, i, 4), PQgetlength(r, i, 4)));
    s.volume.push_back(parse_or_die<double>(PQgetvalue(r, i, 5), PQgetlength(r, i, 5)));
  }
  PQclear(r);
  return s;
}

// --- the run ----------------------------------------------------------------------------------

struct Best {
  double seconds = 1e300;
  void add(double s) { seconds = std::min(seconds, s); }
};

double rate(double rows, const Best& b) { return rows / b.seconds; }

const char* verdict(bool ok) { return ok ? "meets target" : "BELOW TARGET"; }

}  // namespace

int main() {
  const char* url = std::getenv("TICKGRAPH_BENCH_PG_URL");
  if (url == nullptr || *url == '\0') {
    std::printf(
        "pg_store_bench: TICKGRAPH_BENCH_PG_URL is not set; run it as\n"
        "  scripts/pg-test.sh -- build/bin/pg_store_bench\n");
    return 0;
  }
  Result<std::unique_ptr<store::Store>> opened = store::open_postgres_store(url);
  if (!opened.ok()) die(opened.message());
  store::Store& st = **opened;
  PGconn* raw = PQconnectdb(url);
  if (PQstatus(raw) != CONNECTION_OK) die(std::string("connect: ") + PQerrorMessage(raw));
  exec_or_die(raw, "SET client_min_messages = warning");

  std::vector<std::vector<Candle>> data;
  for (int a = 0; a < kAssets; ++a) data.push_back(random_walk(kBarsPerAsset, 1000 + a));
  std::vector<std::vector<Candle>> changed = data;
  for (auto& bars : changed) {
    for (Candle& c : bars) c.close += 0.01;
  }
  constexpr double kRows = static_cast<double>(kAssets) * kBarsPerAsset;
  const std::string run_tag = std::to_string(::getpid());

  Best raw_copy, store_fresh, store_unchanged, store_replaced;
  std::vector<std::int64_t> bench_assets;
  // Raw text COPY goes to a table shaped like candles that, like candles, keeps the rows of
  // earlier repeats; the two alternate asset by asset so that both see the same machine load.
  const std::string table = "bench_raw_candles_" + run_tag;
  exec_or_die(raw, "DROP TABLE IF EXISTS " + table);
  exec_or_die(raw, "CREATE TABLE " + table + " (LIKE candles INCLUDING ALL)");
  for (int rep = 0; rep < kRepeats; ++rep) {
    // New assets, so that the store's first write finds nothing stored.
    std::vector<std::int64_t> ids;
    for (int a = 0; a < kAssets; ++a) {
      Asset asset;
      asset.symbol = "BENCH" + run_tag + "-" + std::to_string(rep) + "-" + std::to_string(a);
      Result<Asset> added = st.upsert_asset(asset);
      if (!added.ok()) die(added.message());
      ids.push_back(added->id);
      bench_assets.push_back(added->id);
    }
    exec_or_die(raw, "CHECKPOINT");
    double raw_s = 0, store_s = 0;
    const auto store_write = [&](int a) {
      const auto start = SteadyClock::now();
      Result<store::WriteStats> w = st.write_candles(ids[a], Interval::k1m, data[a]);
      store_s += seconds_since(start);
      if (!w.ok()) die(w.message());
      if (w->inserted != kBarsPerAsset) die("a first import did not insert every bar");
    };
    const auto raw_write = [&](int a) {
      const auto start = SteadyClock::now();
      raw_text_copy(raw, table, rep * kAssets + a + 1, data[a]);
      raw_s += seconds_since(start);
    };
    for (int a = 0; a < kAssets; ++a) {
      if (a % 2 == 0) {
        raw_write(a);
        store_write(a);
      } else {
        store_write(a);
        raw_write(a);
      }
    }
    raw_copy.add(raw_s);
    store_fresh.add(store_s);

    // Writes every asset's rows again; each write must classify all its bars as `field`.
    const auto rewrite_all = [&](const std::vector<std::vector<Candle>>& rows,
                                 std::int64_t store::WriteStats::*field, Best& best) {
      const auto start = SteadyClock::now();
      for (int a = 0; a < kAssets; ++a) {
        Result<store::WriteStats> w = st.write_candles(ids[a], Interval::k1m, rows[a]);
        if (!w.ok()) die(w.message());
        if ((*w).*field != kBarsPerAsset) die("a write did not classify its bars as expected");
      }
      best.add(seconds_since(start));
    };
    rewrite_all(data, &store::WriteStats::unchanged, store_unchanged);
    rewrite_all(changed, &store::WriteStats::replaced, store_replaced);
  }
  exec_or_die(raw, "DROP TABLE " + table);

  // Reads: 100k bars of an asset written once (no dead row versions), warmed up by one read.
  std::int64_t read_id = 0;
  {
    Asset asset;
    asset.symbol = "BENCH" + run_tag + "-read";
    Result<Asset> added = st.upsert_asset(asset);
    if (!added.ok()) die(added.message());
    read_id = added->id;
    bench_assets.push_back(read_id);
    if (Result<store::WriteStats> w = st.write_candles(read_id, Interval::k1m, data[0]); !w.ok()) {
      die(w.message());
    }
  }
  const std::vector<Candle>& expected = data[0];
  const store::TimeRange range{expected.front().time, expected.back().time};
  Best store_read, raw_read;
  for (int i = 0; i <= kReadRepeats; ++i) {
    auto t = SteadyClock::now();
    Result<CandleSeries> s = st.read_candles(read_id, Interval::k1m, range);
    const double store_s = seconds_since(t);
    if (!s.ok()) die(s.message());
    t = SteadyClock::now();
    const CandleSeries r = raw_select(raw, read_id, range.from, range.to);
    const double raw_s = seconds_since(t);
    if (s->size() != expected.size() || r.size() != expected.size() || s->close != r.close ||
        s->at(12345) != expected[12345]) {
      die("the reads do not return the written bars");
    }
    if (i == 0) continue;  // warm-up
    store_read.add(store_s);
    raw_read.add(raw_s);
  }

  // Live ingest: one bar per call, appended (the direct COPY path) or replacing the forming bar
  // (the stage + upsert path), as a push pipeline writes them.
  Best append_one, replace_one;
  {
    constexpr int kCalls = 2000;
    const std::vector<Candle> live = random_walk(kCalls, 77);
    const std::int64_t live_id = bench_assets.front();  // holds data[0]: append after it
    const Timestamp after = data[0].back().time;
    auto t = SteadyClock::now();
    for (int i = 0; i < kCalls; ++i) {
      Candle c = live[static_cast<std::size_t>(i)];
      c.time = after + (i + 1) * kMinute;
      if (Result<store::WriteStats> w = st.write_candles(live_id, Interval::k1m, {&c, 1});
          !w.ok() || w->inserted != 1) {
        die("live append failed");
      }
    }
    append_one.add(seconds_since(t));
    Candle forming = live.back();
    forming.time = after + kCalls * kMinute;
    t = SteadyClock::now();
    for (int i = 0; i < kCalls; ++i) {
      forming.close += 0.01;
      if (Result<store::WriteStats> w = st.write_candles(live_id, Interval::k1m, {&forming, 1});
          !w.ok() || w->replaced != 1) {
        die("live replace failed");
      }
    }
    replace_one.add(seconds_since(t));
  }

  // Clean up what the bench wrote to the store.
  std::string ids;
  for (const std::int64_t id : bench_assets) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  exec_or_die(raw, "DELETE FROM candles WHERE asset_id IN (" + ids + ")");
  exec_or_die(raw, "DELETE FROM assets WHERE id IN (" + ids + ")");
  PQfinish(raw);

  const double raw_rate = rate(kRows, raw_copy);
  std::printf("PostgreSQL store vs raw libpq, %d assets x %d one-minute bars, best of %d\n",
              kAssets, kBarsPerAsset, kRepeats);
  std::printf("%-44s %12s %8s\n", "writes", "rows/s", "x raw");
  std::printf("%-44s %12.0f %8.2f\n", "raw libpq text COPY (reference)", raw_rate, 1.0);
  const auto row = [&](const char* name, const Best& b) {
    std::printf("%-44s %12.0f %8.2f\n", name, rate(kRows, b), rate(kRows, b) / raw_rate);
  };
  row("store: first import (binary COPY)", store_fresh);
  row("store: re-import, all unchanged (upsert)", store_unchanged);
  row("store: re-import, all replaced (upsert)", store_replaced);
  std::printf("%-44s %12s %8s\n", "reads (100k-bar range)", "bars/s", "x raw");
  const double raw_read_rate = rate(static_cast<double>(kBarsPerAsset), raw_read);
  const double store_read_rate = rate(static_cast<double>(kBarsPerAsset), store_read);
  std::printf("%-44s %12.0f %8.2f\n", "raw libpq text SELECT + from_chars", raw_read_rate, 1.0);
  std::printf("%-44s %12.0f %8.2f\n", "store: read_candles (binary results)", store_read_rate,
              store_read_rate / raw_read_rate);
  std::printf("%-44s %12s %8s\n", "live writes (one bar per call)", "calls/s", "us/call");
  std::printf("%-44s %12.0f %8.0f\n", "store: append a new bar", 2000 / append_one.seconds,
              append_one.seconds / 2000 * 1e6);
  std::printf("%-44s %12.0f %8.0f\n", "store: replace the forming bar", 2000 / replace_one.seconds,
              replace_one.seconds / 2000 * 1e6);
  const double write_ratio = rate(kRows, store_fresh) / raw_rate;
  std::printf("target: first-import writes >= %.1fx raw text COPY: %.2fx, %s\n", kWriteTarget,
              write_ratio, verdict(write_ratio >= kWriteTarget));
  std::printf("target: range read >= %.0f bars/s: %.0f, %s\n", kReadTarget, store_read_rate,
              verdict(store_read_rate >= kReadTarget));
  return 0;
}
