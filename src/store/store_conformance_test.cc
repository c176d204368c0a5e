// The conformance suite: what every Store implementation must do, written against store.h only.
//
// Backends. Every test runs against a fresh SQLite file ("sqlite:<new temp dir>/test.db", removed
// after the test) and, when TICKGRAPH_TEST_PG_URL is set, against that PostgreSQL database
// (scripts/pg-test.sh -- build/bin/store_tests starts a throw-away server and sets it).
//
// Isolation without cleanup. The suite knows nothing but store.h, so it never empties a
// database. Instead each test names everything it creates (symbols, graph names, offset sources)
// with a prefix unique to that test and process (sym(), graph_name(), source()), and looks only at
// its own rows: list results are filtered to the prefix (mine()), and every other read is keyed
// by an asset id, graph or source the test created itself. So tests may share one PostgreSQL
// database, with each other and with rows left over from earlier runs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "store/store.h"

namespace tickgraph {
// Readable failure messages for bars.
void PrintTo(const Candle& c, std::ostream* os) {
  *os << "{t=" << c.time << " o=" << c.open << " h=" << c.high << " l=" << c.low << " c=" << c.close
      << " v=" << c.volume << "}";
}
}  // namespace tickgraph

namespace tickgraph::store {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr Timestamp kDay0 = 1'577'836'800 * kSecond;  // 2020-01-01
constexpr std::int64_t kNoSuchAsset = std::numeric_limits<std::int64_t>::max() - 7;

// MUST(call): the value of a Result that must hold one (or nothing, for a Status). Otherwise fails
// the test at the caller's line and stops it (gtest reports the exception).
#define MUST(...) must_at(__FILE__, __LINE__, __VA_ARGS__)

[[noreturn]] void stop_test(const char* file, int line, const std::string& message) {
  ADD_FAILURE_AT(file, line) << message;
  throw std::runtime_error("stopping the test: " + message);
}

template <class T>
T must_at(const char* file, int line, Result<T> r) {
  if (!r.ok()) stop_test(file, line, r.message());
  return std::move(r).value();
}

void must_at(const char* file, int line, const Status& s) {
  if (!s.ok()) stop_test(file, line, s.message());
}

// n daily bars from `start` with distinct, unround values.
std::vector<Candle> daily_bars(int n, Timestamp start = kDay0, double base = 100.0) {
  std::vector<Candle> bars;
  for (int i = 0; i < n; ++i) {
    const double c = base + 0.37 * i + 0.01 * (i % 7);
    bars.push_back(Candle{start + i * kDay, c - 0.11, c + 0.53, c - 0.71, c, 1000.0 + 17.0 * i});
  }
  return bars;
}

std::vector<Candle> rows_of(const CandleSeries& s) {
  std::vector<Candle> out;
  for (std::size_t i = 0; i < s.size(); ++i) out.push_back(s.at(i));
  return out;
}

bool same_series(const CandleSeries& a, const CandleSeries& b) {
  return a.time == b.time && a.open == b.open && a.high == b.high && a.low == b.low &&
         a.close == b.close && a.volume == b.volume;
}

bool same_values(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i]) || (!std::isnan(a[i]) && a[i] != b[i])) return false;
  }
  return true;
}

bool same_ticks(const std::vector<StoredTick>& a, const std::vector<StoredTick>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].time != b[i].time || a[i].seq != b[i].seq || a[i].price != b[i].price ||
        a[i].size != b[i].size) {
      return false;
    }
  }
  return true;
}

// Every field of a credential or key, so that a mismatch shows which one differs.
std::string fields(const Credential& c) {
  std::string out = "{id=" + c.id + " kind=" + c.kind + " name=" + c.name + " scopes=[";
  for (std::size_t i = 0; i < c.scopes.size(); ++i) out += (i ? "," : "") + c.scopes[i];
  out += "] secret_hash=" + c.secret_hash + " created=" + std::to_string(c.created) +
         " revoked=" + (c.revoked ? std::to_string(*c.revoked) : "none") + "}";
  return out;
}

std::string fields(const SigningKey& k) {
  return "{kid=" + k.kid + " algorithm=" + k.algorithm + " created=" + std::to_string(k.created) +
         " pem=" + k.private_pem + "}";
}

// A signing key whose every field depends on `tag`.
SigningKey test_key(const std::string& tag, Timestamp created) {
  return SigningKey{"kid-" + tag, "ES256",
                    "-----BEGIN PRIVATE KEY-----\nMIGH" + tag + "\n-----END PRIVATE KEY-----\n",
                    created};
}

struct Backend {
  std::string name;  // "sqlite" or "postgres"
  std::string url;   // empty for sqlite: each test makes its own file
};

void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

std::vector<Backend> backends() {
  std::vector<Backend> out{{"sqlite", ""}};
  if (const char* pg = std::getenv("TICKGRAPH_TEST_PG_URL"); pg && *pg) {
    out.push_back({"postgres", pg});
  }
  return out;
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::random_device rd;
    const std::uint64_t token =
        (static_cast<std::uint64_t>(rd()) << 32) ^ static_cast<std::uint64_t>(::getpid()) ^
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(token));
    prefix_ = "T" + std::string(hex, 8) + "-";

    if (GetParam().name == "sqlite") {
      std::string dir_template =
          (std::filesystem::temp_directory_path() / "tickgraph-store-XXXXXX").string();
      ASSERT_NE(::mkdtemp(dir_template.data()), nullptr);
      dir_ = dir_template;
      url_ = "sqlite:" + dir_ + "/test.db";
    } else {
      url_ = GetParam().url;
    }
    store_ = MUST(open_store(url_));
  }

  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string sym(std::string_view s) const { return prefix_ + std::string(s); }
  std::string graph_name(std::string_view s) const { return prefix_ + std::string(s); }
  std::string source(std::string_view s) const { return prefix_ + std::string(s); }

  std::vector<Asset> mine(const std::vector<Asset>& assets) const {
    std::vector<Asset> out;
    for (const Asset& a : assets) {
      if (a.symbol.starts_with(prefix_)) out.push_back(a);
    }
    return out;
  }
  std::vector<std::string> symbols(const std::vector<Asset>& assets) const {
    std::vector<std::string> out;
    for (const Asset& a : mine(assets)) out.push_back(a.symbol.substr(prefix_.size()));
    return out;
  }

  Asset add_asset(std::string_view symbol, std::string name = "",
                  AssetClass c = AssetClass::kEquity, std::string exchange = "XNAS") {
    Asset a;
    a.symbol = sym(symbol);
    a.name = std::move(name);
    a.asset_class = c;
    a.currency = "USD";
    a.exchange = std::move(exchange);
    return MUST(store_->upsert_asset(a));
  }

  // A credential id unique to this test.
  std::string cred_id(std::string_view s) const { return prefix_ + std::string(s); }
  Credential credential(std::string_view id, std::string kind, Timestamp created,
                        std::vector<std::string> scopes = {"read"}) const {
    Credential c;
    c.id = cred_id(id);
    c.kind = std::move(kind);
    c.name = "label of " + std::string(id);
    c.scopes = std::move(scopes);
    c.secret_hash = "sha256:" + std::string(64, 'a');
    c.created = created;
    return c;
  }
  // The ids (without the prefix) of this test's credentials, in the order listed.
  std::vector<std::string> ids(const std::vector<Credential>& credentials) const {
    std::vector<std::string> out;
    for (const Credential& c : credentials) {
      if (c.id.starts_with(prefix_)) out.push_back(c.id.substr(prefix_.size()));
    }
    return out;
  }
  // The stored credential with this (full) id; stops the test when there is none.
  Credential found(const std::string& id) {
    std::optional<Credential> c = MUST(store_->find_credential(id));
    if (!c) stop_test(__FILE__, __LINE__, "no credential '" + id + "'");
    return std::move(*c);
  }
  // True when the database starts empty for each test (a new SQLite file). The PostgreSQL
  // database is shared, so another test or run may already have stored the signing key.
  bool fresh_database() const { return GetParam().name == "sqlite"; }

  CandleSeries all_candles(std::int64_t asset, Interval interval = Interval::k1d) {
    return MUST(store_->read_candles(asset, interval, TimeRange{}));
  }

  std::string prefix_;
  std::string dir_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreConformance, AssetsUpsertFindAndListWithFilters) {
  // Assets are stored with all their fields, updated by symbol, and listed by each filter.
  Asset aapl;
  aapl.symbol = sym("AAPL");
  aapl.name = "Apple Inc.";
  aapl.asset_class = AssetClass::kEquity;
  aapl.currency = "USD";
  aapl.exchange = "XNAS";
  aapl.attributes = {{"sector", "Technology"}, {"isin", "US0378331005"}, {"note", "quote \" ü"}};
  const Asset stored = MUST(store_->upsert_asset(aapl));
  EXPECT_GT(stored.id, 0);
  EXPECT_EQ(stored.symbol, aapl.symbol);

  const Asset msft = add_asset("MSFT", "Microsoft Corporation");
  const Asset spy = add_asset("SPY", "SPDR S&P 500 ETF Trust", AssetClass::kEtf, "ARCX");
  const Asset btc = add_asset("BTC-USD", "Bitcoin", AssetClass::kCrypto, "");
  EXPECT_NE(msft.id, stored.id);
  EXPECT_NE(spy.id, msft.id);
  EXPECT_NE(btc.id, spy.id);

  const std::optional<Asset> found = MUST(store_->find_asset(aapl.symbol));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, stored.id);
  EXPECT_EQ(found->name, "Apple Inc.");
  EXPECT_EQ(found->asset_class, AssetClass::kEquity);
  EXPECT_EQ(found->currency, "USD");
  EXPECT_EQ(found->exchange, "XNAS");
  EXPECT_EQ(found->attributes, aapl.attributes);
  EXPECT_FALSE(MUST(store_->find_asset(sym("NOPE"))).has_value());

  // An upsert of a known symbol keeps its id and replaces every descriptive field.
  Asset renamed = aapl;
  renamed.name = "Apple";
  renamed.exchange = "XNGS";
  renamed.attributes = {{"sector", "IT"}};
  EXPECT_EQ(MUST(store_->upsert_asset(renamed)).id, stored.id);
  const Asset again = *MUST(store_->find_asset(aapl.symbol));
  EXPECT_EQ(again.name, "Apple");
  EXPECT_EQ(again.exchange, "XNGS");
  EXPECT_EQ(again.attributes, renamed.attributes);

  using V = std::vector<std::string>;
  EXPECT_EQ(symbols(MUST(store_->list_assets())), (V{"AAPL", "BTC-USD", "MSFT", "SPY"}));
  // Text: a case-insensitive substring of the symbol or the name.
  EXPECT_EQ(symbols(MUST(store_->list_assets({.text = "aPPLE"}))), (V{"AAPL"}));
  EXPECT_EQ(symbols(MUST(store_->list_assets({.text = "btc"}))), (V{"BTC-USD"}));
  EXPECT_EQ(symbols(MUST(store_->list_assets({.text = "CORPOR"}))), (V{"MSFT"}));
  EXPECT_EQ(symbols(MUST(store_->list_assets({.asset_class = AssetClass::kEtf}))), (V{"SPY"}));
  EXPECT_EQ(symbols(MUST(store_->list_assets({.exchange = "ARCX"}))), (V{"SPY"}));
  EXPECT_EQ(symbols(MUST(store_->list_assets(
                {.text = "s", .asset_class = AssetClass::kEquity, .exchange = "XNAS"}))),
            (V{"MSFT"}));
  EXPECT_TRUE(symbols(MUST(store_->list_assets({.text = "zzzz"}))).empty());
}

TEST_P(StoreConformance, InvalidSymbolIsRefused) {
  // An asset whose symbol breaks the symbol rules is refused with a message, and not stored.
  Asset bad;
  bad.symbol = prefix_ + "has space";
  const Result<Asset> r = store_->upsert_asset(bad);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.message().empty());
  EXPECT_FALSE(MUST(store_->find_asset(bad.symbol)).has_value());
}

TEST_P(StoreConformance, CandlesRoundTripExactly) {
  // Bars come back bit for bit: awkward doubles, nanosecond and pre-1970 times, in time order.
  const Asset a = add_asset("RT");
  std::vector<Candle> bars = {
      {-86'400 * kSecond + 1, 0.1 + 0.2, 1e-300, -37.63, 123456.789012345, 0.0},
      {0, 1.0 / 3.0, 2.0 / 3.0, 5e-324, 1.7976931348623157e308, 1e15 + 0.5},
      {kDay0 + 123'456'789, 99.99, 100.01, 99.5, 100.0, 12345678901.0},
      {kDay0 + kDay, -0.5, 3.14159265358979, 2.718281828459045, 1e-9, 42.0},
  };
  const std::vector<Candle> in_order = bars;
  std::swap(bars[0], bars[3]);  // written out of order, read back sorted
  const WriteStats st = MUST(store_->write_candles(a.id, Interval::k1d, bars));
  EXPECT_EQ(st.inserted, 4);
  EXPECT_EQ(st.replaced, 0);
  EXPECT_EQ(st.unchanged, 0);
  EXPECT_EQ(rows_of(all_candles(a.id)), in_order);
  EXPECT_EQ(MUST(store_->count_candles(a.id, Interval::k1d)), 4);
  // An asset without bars reads empty; so does an id no asset has.
  const Asset empty = add_asset("EMPTY");
  EXPECT_TRUE(all_candles(empty.id).empty());
  EXPECT_TRUE(all_candles(kNoSuchAsset).empty());
  EXPECT_EQ(MUST(store_->count_candles(empty.id, Interval::k1d)), 0);
}

TEST_P(StoreConformance, RangeReadsIncludeBothBounds) {
  // read_candles returns exactly the bars with from <= time <= to.
  const Asset a = add_asset("RANGE");
  const std::vector<Candle> bars = daily_bars(10);
  MUST(store_->write_candles(a.id, Interval::k1d, bars));
  auto read = [&](Timestamp from, Timestamp to) {
    return rows_of(MUST(store_->read_candles(a.id, Interval::k1d, TimeRange{from, to})));
  };
  const auto sub = [&](std::size_t b, std::size_t e) {
    return std::vector<Candle>(bars.begin() + static_cast<std::ptrdiff_t>(b),
                               bars.begin() + static_cast<std::ptrdiff_t>(e));
  };
  EXPECT_EQ(read(bars[2].time, bars[5].time), sub(2, 6));
  EXPECT_EQ(read(bars[2].time + 1, bars[5].time - 1), sub(3, 5));
  EXPECT_EQ(read(bars[4].time, bars[4].time), sub(4, 5));
  EXPECT_EQ(read(INT64_MIN, bars[0].time), sub(0, 1));
  EXPECT_EQ(read(bars[9].time, INT64_MAX), sub(9, 10));
  EXPECT_EQ(read(INT64_MIN, INT64_MAX), bars);
  EXPECT_TRUE(read(bars[5].time, bars[2].time).empty());
  EXPECT_TRUE(read(bars[9].time + 1, INT64_MAX).empty());
  EXPECT_TRUE(read(INT64_MIN, bars[0].time - 1).empty());
}

TEST_P(StoreConformance, LimitKeepsTheFirstBars) {
  // A limit returns the first `limit` bars of the range; 0 means no limit.
  const Asset a = add_asset("LIMIT");
  const std::vector<Candle> bars = daily_bars(10);
  MUST(store_->write_candles(a.id, Interval::k1d, bars));
  const TimeRange from3{bars[3].time, INT64_MAX};
  EXPECT_EQ(rows_of(MUST(store_->read_candles(a.id, Interval::k1d, from3, 2))),
            (std::vector<Candle>{bars[3], bars[4]}));
  EXPECT_EQ(MUST(store_->read_candles(a.id, Interval::k1d, TimeRange{}, 1)).size(), 1u);
  EXPECT_EQ(MUST(store_->read_candles(a.id, Interval::k1d, TimeRange{}, 100)).size(), 10u);
  EXPECT_EQ(MUST(store_->read_candles(a.id, Interval::k1d, TimeRange{}, 0)).size(), 10u);
}

TEST_P(StoreConformance, LatestCandlesBeforeATime) {
  // latest_candles gives the last n bars at or before `before`, in ascending order.
  const Asset a = add_asset("LATEST");
  const std::vector<Candle> bars = daily_bars(10);
  MUST(store_->write_candles(a.id, Interval::k1d, bars));
  auto latest = [&](std::size_t n, Timestamp before) {
    return rows_of(MUST(store_->latest_candles(a.id, Interval::k1d, n, before)));
  };
  EXPECT_EQ(latest(3, INT64_MAX), (std::vector<Candle>{bars[7], bars[8], bars[9]}));
  EXPECT_EQ(rows_of(MUST(store_->latest_candles(a.id, Interval::k1d, 2))),
            (std::vector<Candle>{bars[8], bars[9]}));
  EXPECT_EQ(latest(3, bars[5].time), (std::vector<Candle>{bars[3], bars[4], bars[5]}));
  EXPECT_EQ(latest(2, bars[5].time - 1), (std::vector<Candle>{bars[3], bars[4]}));
  EXPECT_EQ(latest(100, bars[1].time), (std::vector<Candle>{bars[0], bars[1]}));
  EXPECT_EQ(latest(100, INT64_MAX), bars);
  EXPECT_TRUE(latest(3, bars[0].time - 1).empty());
  EXPECT_TRUE(latest(0, INT64_MAX).empty());
}

TEST_P(StoreConformance, IntervalsAreSeparate) {
  // Bars of one interval never show up in another, even at equal times.
  const Asset a = add_asset("IV");
  const std::vector<Candle> days = daily_bars(5, kDay0, 100.0);
  const std::vector<Candle> hours = daily_bars(3, kDay0, 200.0);  // same times, other values
  MUST(store_->write_candles(a.id, Interval::k1d, days));
  const WriteStats st = MUST(store_->write_candles(a.id, Interval::k1h, hours));
  EXPECT_EQ(st.inserted, 3);  // not "replaced": another interval's bars are other keys
  EXPECT_EQ(rows_of(all_candles(a.id, Interval::k1d)), days);
  EXPECT_EQ(rows_of(all_candles(a.id, Interval::k1h)), hours);
  EXPECT_TRUE(all_candles(a.id, Interval::k1m).empty());
  EXPECT_EQ(MUST(store_->count_candles(a.id, Interval::k1d)), 5);
  EXPECT_EQ(MUST(store_->count_candles(a.id, Interval::k1h)), 3);
  EXPECT_EQ(MUST(store_->count_candles(a.id, Interval::k1w)), 0);
}

TEST_P(StoreConformance, RewritingTheSameBarsChangesNothing) {
  // A re-import of identical bars counts them unchanged and leaves bars and analytics alone.
  const Asset a = add_asset("SAME");
  const std::vector<Candle> bars = daily_bars(20);
  MUST(store_->write_candles(a.id, Interval::k1d, bars));
  const GraphVersion g = MUST(store_->put_graph(graph_name("g"), "nodes: [sma]"));
  AnalyticsSeries sma{"sma", {}, {}};
  for (const Candle& b : bars) {
    sma.time.push_back(b.time);
    sma.values.push_back(b.close / 2);
  }
  MUST(store_->write_analytics(a.id, g.graph_id, g.version, {&sma, 1}));

  const WriteStats st = MUST(store_->write_candles(a.id, Interval::k1d, bars));
  EXPECT_EQ(st.inserted, 0);
  EXPECT_EQ(st.replaced, 0);
  EXPECT_EQ(st.unchanged, 20);
  EXPECT_EQ(rows_of(all_candles(a.id)), bars);
  EXPECT_EQ(MUST(store_->count_candles(a.id, Interval::k1d)), 20);
  const AnalyticsSeries back =
      MUST(store_->read_analytics(a.id, g.graph_id, g.version, "sma", TimeRange{}));
  EXPECT_EQ(back.time, sma.time);
  EXPECT_TRUE(same_values(back.values, sma.values));

  // A subset re-sent in another order is just as unchanged.
  const std::vector<Candle> some = {bars[7], bars[3], bars[19]};
  const WriteStats st2 = MUST(store_->write_candles(a.id, Interval::k1d, some));
  EXPECT_EQ(st2.unchanged, 3);
  EXPECT_EQ(st2.inserted + st2.replaced, 0);
}

TEST_P(StoreConformance, CorrectedBarReplacesAndInvalidatesLaterAnalytics) {
  // A changed bar replaces the stored one and deletes that asset's analytics from its time on,
  // for every graph and version; earlier analytics and other assets' analytics stay.
  const Asset a = add_asset("FIX");
  const Asset other = add_asset("OTHER");
  const std::vector<Candle> bars = daily_bars(10);
  MUST(store_->write_candles(a.id, Interval::k1d, bars));
  MUST(store_->write_candles(other.id, Interval::k1d, bars));
  const GraphVersion g1 = MUST(store_->put_graph(graph_name("g"), "v: 1"));
  const GraphVersion g2 = MUST(store_->put_graph(graph_name("g"), "v: 2"));
  const GraphVersion h1 = MUST(store_->put_graph(graph_name("h"), "v: 1"));
  std::vector<AnalyticsSeries> series = {{"sma", {}, {}}, {"bb.upper", {}, {}}};
  for (const Candle& b : bars) {
    for (AnalyticsSeries& s : series) {
      s.time.push_back(b.time);
      s.values.push_back(b.close + static_cast<double>(s.output.size()));
    }
  }
  for (const GraphVersion& g : {g1, g2, h1}) {
    for (const Asset& x : {a, other})
      MUST(store_->write_analytics(x.id, g.graph_id, g.version, series));
  }

  std::vector<Candle> fixed = bars;
  fixed[6].close += 0.25;
  fixed.push_back(daily_bars(12)[10]);
  fixed.push_back(daily_bars(12)[11]);
  const WriteStats st = MUST(store_->write_candles(a.id, Interval::k1d, fixed));
  EXPECT_EQ(st.inserted, 2);
  EXPECT_EQ(st.replaced, 1);
  EXPECT_EQ(st.unchanged, 9);
  EXPECT_EQ(rows_of(all_candles(a.id)), fixed);

  for (const GraphVersion& g : {g1, g2, h1}) {
    for (const AnalyticsSeries& s : series) {
      const AnalyticsSeries kept =
          MUST(store_->read_analytics(a.id, g.graph_id, g.version, s.output, TimeRange{}));
      EXPECT_EQ(kept.time, std::vector<Timestamp>(s.time.begin(), s.time.begin() + 6))
          << g.name << " v" << g.version << " " << s.output;
      const AnalyticsSeries untouched =
          MUST(store_->read_analytics(other.id, g.graph_id, g.version, s.output, TimeRange{}));
      EXPECT_EQ(untouched.time, s.time);
    }
  }
  EXPECT_EQ(rows_of(all_candles(other.id)), bars);
}

TEST_P(StoreConformance, BackfilledBarInvalidatesLaterAnalytics) {
  // A bar added inside the stored history (a gap filled) changes every window holding it, so the
  // asset's analytics from its time on are deleted, as for a corrected bar; earlier ones stay.
  const Asset a = add_asset("GAP");
  std::vector<Candle> bars = daily_bars(10);
  const Candle missing = bars[4];
  bars.erase(bars.begin() + 4);
  MUST(store_->write_candles(a.id, Interval::k1d, bars));
  const GraphVersion g = MUST(store_->put_graph(graph_name("g"), "v: 1"));
  AnalyticsSeries sma{"sma", {}, {}};
  for (const Candle& b : bars) {
    sma.time.push_back(b.time);
    sma.values.push_back(b.close);
  }
  MUST(store_->write_analytics(a.id, g.graph_id, g.version, {&sma, 1}));

  const WriteStats st = MUST(store_->write_candles(a.id, Interval::k1d, {&missing, 1}));
  EXPECT_EQ(st.inserted, 1);
  const AnalyticsSeries kept =
      MUST(store_->read_analytics(a.id, g.graph_id, g.version, "sma", TimeRange{}));
  EXPECT_EQ(kept.time, std::vector<Timestamp>(sma.time.begin(), sma.time.begin() + 4));
}

TEST_P(StoreConformance, AppendedBarsKeepAnalytics) {
  // A live engine appends bars of every interval while it materialises a graph on one of them:
  // an appended bar (after the latest of its interval) cannot change a stored value, so the
  // minute analytics stay when a new hourly bar that starts before them is written.
  const Asset a = add_asset("APPEND");
  std::vector<Candle> minutes;
  for (int i = 0; i < 90; ++i) {
    const double p = 100 + i;
    minutes.push_back({kDay0 + i * kMinute, p, p + 1, p - 1, p, 10});
  }
  MUST(store_->write_candles(a.id, Interval::k1m, std::span<const Candle>(minutes).first(60)));
  MUST(store_->write_candles(a.id, Interval::k1h, std::span<const Candle>(&minutes[0], 1)));
  const GraphVersion g = MUST(store_->put_graph(graph_name("g"), "v: 1"));
  AnalyticsSeries sma{"sma", {}, {}};
  for (std::size_t i = 0; i < 60; ++i) {
    sma.time.push_back(minutes[i].time);
    sma.values.push_back(minutes[i].close);
  }
  MUST(store_->write_analytics(a.id, g.graph_id, g.version, {&sma, 1}));

  // The next hour's bar and more minutes: appended, nothing deleted.
  const Candle hour{kDay0 + 60 * kMinute, 160, 170, 150, 165, 600};
  EXPECT_EQ(MUST(store_->write_candles(a.id, Interval::k1h, {&hour, 1})).inserted, 1);
  MUST(store_->write_candles(a.id, Interval::k1m, std::span<const Candle>(minutes).subspan(60)));
  EXPECT_EQ(MUST(store_->read_analytics(a.id, g.graph_id, g.version, "sma", TimeRange{})).time,
            sma.time);
  // A corrected hourly bar still deletes from its time on.
  Candle corrected = hour;
  corrected.close = 166;
  EXPECT_EQ(MUST(store_->write_candles(a.id, Interval::k1h, {&corrected, 1})).replaced, 1);
  EXPECT_EQ(MUST(store_->read_analytics(a.id, g.graph_id, g.version, "sma", TimeRange{})).time,
            sma.time);  // every stored value is before the corrected bar
  Candle first_hour = minutes[0];
  first_hour.close = 1;
  MUST(store_->write_candles(a.id, Interval::k1h, {&first_hour, 1}));
  EXPECT_TRUE(
      MUST(store_->read_analytics(a.id, g.graph_id, g.version, "sma", TimeRange{})).time.empty());
}

TEST_P(StoreConformance, FailedWriteLeavesTheStoreAsItWas) {
  // A write that fails part-way (NaN price, unknown asset or graph) changes nothing at all.
  const Asset a = add_asset("FAIL");
  const std::vector<Candle> bars = daily_bars(10);
  MUST(store_->write_candles(a.id, Interval::k1d, bars));
  const std::vector<StoredTick> ticks = {{kDay0, 0, 10.0, 1.0}, {kDay0 + 1, 0, 10.5, 2.0}};
  MUST(store_->write_ticks(a.id, ticks));
  const GraphVersion g = MUST(store_->put_graph(graph_name("g"), "x"));
  AnalyticsSeries sma{"sma", {}, {}};
  for (const Candle& b : bars) {
    sma.time.push_back(b.time);
    sma.values.push_back(b.close);
  }
  MUST(store_->write_analytics(a.id, g.graph_id, g.version, {&sma, 1}));

  const CandleSeries candles_before = all_candles(a.id);
  const auto ticks_before = MUST(store_->read_ticks(a.id, TimeRange{}));
  auto analytics_now = [&] {
    return MUST(store_->read_analytics(a.id, g.graph_id, g.version, "sma", TimeRange{}));
  };
  const AnalyticsSeries analytics_before = analytics_now();
  auto expect_unchanged = [&](const char* what) {
    EXPECT_TRUE(same_series(all_candles(a.id), candles_before)) << what;
    EXPECT_EQ(MUST(store_->count_candles(a.id, Interval::k1d)), 10) << what;
    EXPECT_TRUE(same_ticks(MUST(store_->read_ticks(a.id, TimeRange{})), ticks_before)) << what;
    const AnalyticsSeries now = analytics_now();
    EXPECT_EQ(now.time, analytics_before.time) << what;
    EXPECT_TRUE(same_values(now.values, analytics_before.values)) << what;
  };

  // New bars, a correction (which would delete analytics), then a NaN: all or nothing.
  std::vector<Candle> bad = daily_bars(13);
  bad[4].close += 1.0;
  bad[12].close = kNaN;
  const Result<WriteStats> r1 = store_->write_candles(a.id, Interval::k1d, bad);
  EXPECT_FALSE(r1.ok());
  EXPECT_FALSE(r1.message().empty());
  expect_unchanged("after a NaN close");

  bad[12].close = 1.0;
  bad[12].volume = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(store_->write_candles(a.id, Interval::k1d, bad).ok());
  expect_unchanged("after an infinite volume");

  const Result<WriteStats> r2 = store_->write_candles(kNoSuchAsset, Interval::k1d, bars);
  EXPECT_FALSE(r2.ok());
  EXPECT_FALSE(r2.message().empty());
  EXPECT_TRUE(all_candles(kNoSuchAsset).empty());
  expect_unchanged("after an unknown asset");

  const std::vector<StoredTick> bad_ticks = {{kDay0 + 2, 0, 11.0, 1.0}, {kDay0 + 3, 0, kNaN, 1.0}};
  EXPECT_FALSE(store_->write_ticks(a.id, bad_ticks).ok());
  EXPECT_FALSE(store_->write_ticks(kNoSuchAsset, ticks).ok());
  expect_unchanged("after bad ticks");

  AnalyticsSeries more = sma;
  for (double& v : more.values) v += 1.0;
  EXPECT_FALSE(store_->write_analytics(a.id, g.graph_id, g.version + 1, {&more, 1}).ok());
  EXPECT_FALSE(store_->write_analytics(kNoSuchAsset, g.graph_id, g.version, {&more, 1}).ok());
  AnalyticsSeries ragged = more;
  ragged.values.pop_back();
  const std::vector<AnalyticsSeries> mixed = {more, ragged};
  EXPECT_FALSE(store_->write_analytics(a.id, g.graph_id, g.version, mixed).ok());
  expect_unchanged("after bad analytics");
}

TEST_P(StoreConformance, TicksAreIdempotentOnAssetTimeAndSeq) {
  // Ticks are keyed by (asset, time, seq): re-sent ones are unchanged, changed ones replaced.
  const Asset a = add_asset("TICK");
  const Asset b = add_asset("TOCK");
  const std::vector<StoredTick> ticks = {{kDay0 + 5, 1, 10.25, 3.0},
                                         {kDay0, 0, 10.0, 1.0},
                                         {kDay0 + 5, 0, 10.5, 2.0},
                                         {kDay0 + 9, 0, 10.75, 0.5}};
  WriteStats st = MUST(store_->write_ticks(a.id, ticks));
  EXPECT_EQ(st.inserted, 4);
  MUST(store_->write_ticks(b.id, {ticks.data(), 1}));

  const std::vector<StoredTick> sorted = {ticks[1], ticks[2], ticks[0], ticks[3]};
  EXPECT_TRUE(same_ticks(MUST(store_->read_ticks(a.id, TimeRange{})), sorted));

  st = MUST(store_->write_ticks(a.id, ticks));
  EXPECT_EQ(st.inserted, 0);
  EXPECT_EQ(st.replaced, 0);
  EXPECT_EQ(st.unchanged, 4);

  std::vector<StoredTick> changed = {ticks[0], {kDay0 + 5, 2, 10.3, 1.0}};
  changed[0].size = 4.0;
  st = MUST(store_->write_ticks(a.id, changed));
  EXPECT_EQ(st.inserted, 1);
  EXPECT_EQ(st.replaced, 1);
  EXPECT_EQ(st.unchanged, 0);
  const std::vector<StoredTick> now = MUST(store_->read_ticks(a.id, TimeRange{}));
  ASSERT_EQ(now.size(), 5u);
  EXPECT_EQ(now[2].seq, 1);
  EXPECT_EQ(now[2].size, 4.0);
  EXPECT_EQ(now[3].seq, 2);

  const std::vector<StoredTick> mid = MUST(store_->read_ticks(a.id, {kDay0 + 5, kDay0 + 5}));
  EXPECT_EQ(mid.size(), 3u);
  const std::vector<StoredTick> first2 = MUST(store_->read_ticks(a.id, TimeRange{}, 2));
  ASSERT_EQ(first2.size(), 2u);
  EXPECT_EQ(first2[1].time, kDay0 + 5);
  EXPECT_EQ(first2[1].seq, 0);
  EXPECT_EQ(MUST(store_->read_ticks(b.id, TimeRange{})).size(), 1u);
}

TEST_P(StoreConformance, GraphsAreVersionedByTheirText) {
  // Same text keeps the version, changed text makes version + 1; get, list and delete by name.
  const std::string name = graph_name("momentum");
  const GraphVersion v1 = MUST(store_->put_graph(name, "nodes: [a]"));
  EXPECT_EQ(v1.name, name);
  EXPECT_EQ(v1.version, 1);
  EXPECT_EQ(v1.spec, "nodes: [a]");
  const GraphVersion same = MUST(store_->put_graph(name, "nodes: [a]"));
  EXPECT_EQ(same.version, 1);
  EXPECT_EQ(same.graph_id, v1.graph_id);
  EXPECT_EQ(same.created, v1.created);

  const GraphVersion v2 = MUST(store_->put_graph(name, "nodes: [a, b]"));
  EXPECT_EQ(v2.version, 2);
  EXPECT_EQ(MUST(store_->put_graph(name, "nodes: [a, b]")).version, 2);
  // Going back to an older text is a change too.
  const GraphVersion v3 = MUST(store_->put_graph(name, "nodes: [a]"));
  EXPECT_EQ(v3.version, 3);

  const std::optional<GraphVersion> latest = MUST(store_->get_graph(name));
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->version, 3);
  EXPECT_EQ(latest->graph_id, v3.graph_id);
  const std::optional<GraphVersion> second = MUST(store_->get_graph(name, 2));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->spec, "nodes: [a, b]");
  EXPECT_EQ(second->graph_id, v2.graph_id);
  EXPECT_FALSE(MUST(store_->get_graph(name, 4)).has_value());
  EXPECT_FALSE(MUST(store_->get_graph(graph_name("absent"))).has_value());

  const GraphVersion other = MUST(store_->put_graph(graph_name("carry"), "{\"nodes\": []}"));
  std::vector<std::pair<std::string, std::int64_t>> listed;
  for (const GraphVersion& g : MUST(store_->list_graphs())) {
    if (g.name.starts_with(prefix_)) listed.emplace_back(g.name, g.version);
  }
  EXPECT_EQ(listed,
            (std::vector<std::pair<std::string, std::int64_t>>{{other.name, 1}, {name, 3}}));

  // Deleting removes every version and its analytics.
  const Asset a = add_asset("G");
  MUST(store_->write_candles(a.id, Interval::k1d, daily_bars(3)));
  const AnalyticsSeries s{"x", {kDay0}, {1.0}};
  MUST(store_->write_analytics(a.id, v1.graph_id, v1.version, {&s, 1}));
  MUST(store_->write_analytics(a.id, v3.graph_id, v3.version, {&s, 1}));
  MUST(store_->delete_graph(name));
  EXPECT_FALSE(MUST(store_->get_graph(name)).has_value());
  EXPECT_FALSE(MUST(store_->get_graph(name, 1)).has_value());
  for (const GraphVersion& g : MUST(store_->list_graphs())) EXPECT_NE(g.name, name);
  EXPECT_TRUE(MUST(store_->get_graph(other.name)).has_value());
  for (const GraphVersion& g : {v1, v3}) {
    EXPECT_TRUE(MUST(store_->read_analytics(a.id, g.graph_id, g.version, "x", {})).time.empty());
  }
  EXPECT_FALSE(store_->delete_graph(name).ok());  // nothing left to delete
  // A name put again after deletion starts over.
  EXPECT_EQ(MUST(store_->put_graph(name, "nodes: [c]")).version, 1);
}

TEST_P(StoreConformance, AnalyticsRoundTripWithNaN) {
  // Analytics come back per output and range, NaN (warm-up) included, and upsert on their key.
  const Asset a = add_asset("AN");
  const GraphVersion g = MUST(store_->put_graph(graph_name("g"), "spec"));
  const std::vector<AnalyticsSeries> series = {
      {"bb.upper",
       {kDay0, kDay0 + kDay, kDay0 + 2 * kDay, kDay0 + 3 * kDay},
       {kNaN, kNaN, 101.25, 1.0 / 3.0}},
      {"bb.lower", {kDay0 + 2 * kDay, kDay0 + 3 * kDay}, {-0.0001, 99.0}},
  };
  MUST(store_->write_analytics(a.id, g.graph_id, g.version, series));
  for (const AnalyticsSeries& s : series) {
    const AnalyticsSeries back =
        MUST(store_->read_analytics(a.id, g.graph_id, g.version, s.output, TimeRange{}));
    EXPECT_EQ(back.output, s.output);
    EXPECT_EQ(back.time, s.time);
    EXPECT_TRUE(same_values(back.values, s.values)) << s.output;
  }
  const AnalyticsSeries mid = MUST(store_->read_analytics(a.id, g.graph_id, g.version, "bb.upper",
                                                          {kDay0 + kDay, kDay0 + 2 * kDay}));
  EXPECT_EQ(mid.time, (std::vector<Timestamp>{kDay0 + kDay, kDay0 + 2 * kDay}));
  EXPECT_TRUE(std::isnan(mid.values[0]));
  EXPECT_EQ(mid.values[1], 101.25);
  EXPECT_TRUE(
      MUST(store_->read_analytics(a.id, g.graph_id, g.version, "bb.middle", {})).time.empty());

  // Re-writing a point replaces its value (a NaN can become a number and back).
  const AnalyticsSeries update{"bb.upper", {kDay0 + kDay, kDay0 + 2 * kDay}, {7.5, kNaN}};
  MUST(store_->write_analytics(a.id, g.graph_id, g.version, {&update, 1}));
  const AnalyticsSeries now =
      MUST(store_->read_analytics(a.id, g.graph_id, g.version, "bb.upper", TimeRange{}));
  EXPECT_TRUE(same_values(now.values, (std::vector<double>{kNaN, 7.5, kNaN, 1.0 / 3.0})));
}

TEST_P(StoreConformance, OffsetsSetGetAndOverwrite) {
  // Offsets are kept per (source, partition) and the last one set wins.
  const std::string src = source("kafka:ticks");
  EXPECT_FALSE(MUST(store_->get_offset(src, "0")).has_value());
  MUST(store_->set_offset(src, "0", 41));
  MUST(store_->set_offset(src, "1", 7));
  MUST(store_->set_offset(source("nats"), "0", -1));
  EXPECT_EQ(MUST(store_->get_offset(src, "0")), std::optional<std::int64_t>(41));
  MUST(store_->set_offset(src, "0", 1'234'567'890'123));
  EXPECT_EQ(MUST(store_->get_offset(src, "0")), std::optional<std::int64_t>(1'234'567'890'123));
  MUST(store_->set_offset(src, "0", 3));  // no monotonic rule: the caller decides
  EXPECT_EQ(MUST(store_->get_offset(src, "0")), std::optional<std::int64_t>(3));
  EXPECT_EQ(MUST(store_->get_offset(src, "1")), std::optional<std::int64_t>(7));
  EXPECT_EQ(MUST(store_->get_offset(source("nats"), "0")), std::optional<std::int64_t>(-1));
  EXPECT_FALSE(MUST(store_->get_offset(source("nats"), "1")).has_value());
}

TEST_P(StoreConformance, CredentialsRoundTripWithEveryField) {
  // A credential comes back with every field as given, scopes in their order, for both kinds.
  Credential client =
      credential("client-1", "client", kDay0 + 123'456'789, {"write", "read", "admin"});
  client.name = "Grafana dashboard \"prod\" ü";
  client.secret_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
  MUST(store_->add_credential(client));
  Credential key = credential("key-1", "api_key", -5 * kSecond, {});
  key.revoked = kDay0 + 7;  // added as revoked (e.g. restored from a backup)
  MUST(store_->add_credential(key));

  const std::optional<Credential> found = MUST(store_->find_credential(client.id));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(fields(*found), fields(client));
  EXPECT_EQ(found->scopes, (std::vector<std::string>{"write", "read", "admin"}));
  EXPECT_FALSE(found->revoked.has_value());
  const std::optional<Credential> found_key = MUST(store_->find_credential(key.id));
  ASSERT_TRUE(found_key.has_value());
  EXPECT_EQ(fields(*found_key), fields(key));
  EXPECT_TRUE(found_key->scopes.empty());
  EXPECT_FALSE(MUST(store_->find_credential(cred_id("nope"))).has_value());
}

TEST_P(StoreConformance, ADuplicateCredentialIdIsRefusedNamingIt) {
  // An id is unique over clients and API keys: adding it again, of either kind, fails naming it
  // and leaves the first credential as it was.
  const Credential first = credential("dup", "client", kDay0);
  MUST(store_->add_credential(first));
  for (const char* kind : {"client", "api_key"}) {
    Credential again = credential("dup", kind, kDay0 + kDay, {"admin"});
    again.secret_hash = "sha256:" + std::string(64, 'b');
    const Status s = store_->add_credential(again);
    ASSERT_FALSE(s.ok()) << kind;
    EXPECT_NE(s.message().find(first.id), std::string::npos) << s.message();
  }
  const std::optional<Credential> stored = MUST(store_->find_credential(first.id));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(fields(*stored), fields(first));
  EXPECT_EQ(ids(MUST(store_->list_credentials())), std::vector<std::string>{"dup"});
}

TEST_P(StoreConformance, InvalidCredentialsAreRefusedAndNotStored) {
  // Credentials the store could not give back as given are refused with a message naming them.
  std::vector<Credential> bad(6, credential("bad", "client", kDay0));
  bad[0].kind = "user";
  bad[1].scopes = {"read write"};  // scopes are stored space-separated
  bad[2].scopes = {"read", ""};
  bad[3].secret_hash = "";
  bad[4].name = std::string("nul\0inside", 10);
  bad[5].id = "";
  for (std::size_t i = 0; i < bad.size(); ++i) {
    const Status s = store_->add_credential(bad[i]);
    ASSERT_FALSE(s.ok()) << "case " << i;
    EXPECT_NE(s.message().find("add_credential"), std::string::npos) << s.message();
    if (!bad[i].id.empty()) {
      EXPECT_NE(s.message().find(bad[i].id), std::string::npos) << s.message();
    }
  }
  EXPECT_FALSE(MUST(store_->find_credential(cred_id("bad"))).has_value());
  EXPECT_TRUE(ids(MUST(store_->list_credentials())).empty());
  EXPECT_FALSE(store_->list_credentials("users").ok());
}

TEST_P(StoreConformance, CredentialsAreListedByKindOldestFirst) {
  // Listing gives one kind or both, oldest first with ties by id, revoked ones included.
  MUST(store_->add_credential(credential("k3", "client", kDay0 + 2)));
  MUST(store_->add_credential(credential("k1", "api_key", kDay0 + 1)));
  MUST(store_->add_credential(credential("k2", "client", kDay0 + 1)));
  MUST(store_->add_credential(credential("k0", "api_key", kDay0 + 3)));
  MUST(store_->add_credential(credential("k4", "client", kDay0 - kDay)));
  EXPECT_TRUE(MUST(store_->revoke_credential(cred_id("k2"), kDay0 + kDay)));

  using V = std::vector<std::string>;
  EXPECT_EQ(ids(MUST(store_->list_credentials())), (V{"k4", "k1", "k2", "k3", "k0"}));
  EXPECT_EQ(ids(MUST(store_->list_credentials(""))), (V{"k4", "k1", "k2", "k3", "k0"}));
  EXPECT_EQ(ids(MUST(store_->list_credentials("client"))), (V{"k4", "k2", "k3"}));
  EXPECT_EQ(ids(MUST(store_->list_credentials("api_key"))), (V{"k1", "k0"}));
  for (const Credential& c : MUST(store_->list_credentials("client"))) {
    if (c.id == cred_id("k2")) {
      EXPECT_EQ(c.revoked, std::optional<Timestamp>(kDay0 + kDay));
    } else if (c.id.starts_with(prefix_)) {
      EXPECT_FALSE(c.revoked.has_value()) << c.id;
    }
  }
}

TEST_P(StoreConformance, RevokingKeepsTheFirstTimeAndReportsUnknownIds) {
  // Revoking an unknown id is false; a known one is true, once or again, and keeps the first
  // revocation time; nothing else about the credential changes.
  EXPECT_FALSE(MUST(store_->revoke_credential(cred_id("ghost"), kDay0)));
  EXPECT_FALSE(MUST(store_->find_credential(cred_id("ghost"))).has_value());

  const Credential key = credential("key", "api_key", kDay0, {"read", "write"});
  const Credential other = credential("other", "api_key", kDay0);
  MUST(store_->add_credential(key));
  MUST(store_->add_credential(other));
  EXPECT_TRUE(MUST(store_->revoke_credential(key.id, kDay0 + kDay)));
  Credential expected = key;
  expected.revoked = kDay0 + kDay;
  EXPECT_EQ(fields(found(key.id)), fields(expected));

  EXPECT_TRUE(MUST(store_->revoke_credential(key.id, kDay0 + 2 * kDay)));
  EXPECT_EQ(fields(found(key.id)), fields(expected));
  EXPECT_EQ(fields(found(other.id)), fields(other));
}

TEST_P(StoreConformance, TheSigningKeyIsStoredOnceAndKeptAcrossReopening) {
  // The first call stores its candidate; later calls, with other candidates, through the same
  // Store, another one or after reopening, all get that same key back.
  const SigningKey first_candidate = test_key(prefix_ + "1", kDay0);
  const SigningKey first = MUST(store_->signing_key(first_candidate));
  if (fresh_database()) {
    EXPECT_EQ(fields(first), fields(first_candidate));
  }
  EXPECT_FALSE(first.kid.empty());
  EXPECT_FALSE(first.private_pem.empty());

  // An older candidate does not displace it either.
  EXPECT_EQ(fields(MUST(store_->signing_key(test_key(prefix_ + "2", kDay0 - kDay)))),
            fields(first));
  std::unique_ptr<Store> second = MUST(open_store(url_));
  EXPECT_EQ(fields(MUST(second->signing_key(test_key(prefix_ + "3", kDay0 + kDay)))),
            fields(first));
  second.reset();
  store_.reset();
  store_ = MUST(open_store(url_));
  EXPECT_EQ(fields(MUST(store_->signing_key(test_key(prefix_ + "4", kDay0 + 2 * kDay)))),
            fields(first));

  // A candidate with an empty field is refused, even when a key is stored.
  SigningKey empty = test_key(prefix_ + "5", kDay0);
  empty.private_pem.clear();
  const Result<SigningKey> refused = store_->signing_key(empty);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("signing_key"), std::string::npos) << refused.message();
}

TEST_P(StoreConformance, StoresRacingForTheFirstSigningKeyAllGetTheSameOne) {
  // Servers starting together (here: Stores on one URL, one thread each) store one key between
  // them, and every one of them gets that key.
  constexpr int kStores = 4;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kStores; ++i) stores.push_back(MUST(open_store(url_)));
  std::vector<SigningKey> candidates;
  for (int i = 0; i < kStores; ++i) candidates.push_back(test_key(prefix_ + std::to_string(i), i));
  std::vector<Result<SigningKey>> got(kStores, Status::internal("not run"));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kStores) std::this_thread::yield();
      got[i] = stores[i]->signing_key(candidates[i]);
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kStores; ++i) {
    ASSERT_TRUE(got[i].ok()) << got[i].message();
    EXPECT_EQ(fields(*got[i]), fields(*got[0])) << "store " << i;
  }
  if (fresh_database()) {
    bool is_a_candidate = false;
    for (const SigningKey& c : candidates) is_a_candidate |= fields(c) == fields(*got[0]);
    EXPECT_TRUE(is_a_candidate) << fields(*got[0]);
  }
  EXPECT_EQ(fields(MUST(store_->signing_key(test_key(prefix_ + "late", 0)))), fields(*got[0]));
}

TEST_P(StoreConformance, ReopeningTheSameUrlKeepsEverything) {
  // Everything written is there again after the store is closed and opened anew.
  const Asset a = add_asset("KEEP", "Kept Corp");
  const std::vector<Candle> bars = daily_bars(50);
  MUST(store_->write_candles(a.id, Interval::k1d, bars));
  MUST(store_->write_candles(a.id, Interval::k1w, daily_bars(2)));
  const std::vector<StoredTick> ticks = {{kDay0, 0, 1.5, 2.5}};
  MUST(store_->write_ticks(a.id, ticks));
  const GraphVersion g = MUST(store_->put_graph(graph_name("g"), "text"));
  const AnalyticsSeries s{"out", {kDay0, kDay0 + kDay}, {kNaN, 2.0}};
  MUST(store_->write_analytics(a.id, g.graph_id, g.version, {&s, 1}));
  MUST(store_->set_offset(source("src"), "p", 99));
  const Credential cred = credential("kept", "client", kDay0, {"read", "write"});
  MUST(store_->add_credential(cred));
  MUST(store_->revoke_credential(cred.id, kDay0 + kDay));

  store_.reset();
  store_ = MUST(open_store(url_));

  const std::optional<Asset> back = MUST(store_->find_asset(a.symbol));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->id, a.id);
  EXPECT_EQ(back->name, "Kept Corp");
  EXPECT_EQ(rows_of(all_candles(a.id)), bars);
  EXPECT_EQ(MUST(store_->count_candles(a.id, Interval::k1w)), 2);
  EXPECT_TRUE(same_ticks(MUST(store_->read_ticks(a.id, TimeRange{})), ticks));
  const std::optional<GraphVersion> gb = MUST(store_->get_graph(g.name));
  ASSERT_TRUE(gb.has_value());
  EXPECT_EQ(gb->graph_id, g.graph_id);
  EXPECT_EQ(gb->version, g.version);
  EXPECT_EQ(gb->spec, "text");
  EXPECT_EQ(gb->created, g.created);
  const AnalyticsSeries sb =
      MUST(store_->read_analytics(a.id, g.graph_id, g.version, "out", TimeRange{}));
  EXPECT_EQ(sb.time, s.time);
  EXPECT_TRUE(same_values(sb.values, s.values));
  EXPECT_EQ(MUST(store_->get_offset(source("src"), "p")), std::optional<std::int64_t>(99));
  Credential revoked = cred;
  revoked.revoked = kDay0 + kDay;
  EXPECT_EQ(fields(found(cred.id)), fields(revoked));
  // And writing after the reopen still classifies against what was stored before.
  EXPECT_EQ(MUST(store_->write_candles(a.id, Interval::k1d, bars)).unchanged, 50);
}

// --- the checking layer: the same argument rules on every backend (checks.h) ---

// A NUL byte inside a string (std::string("a\0b") would stop at it).
std::string with_nul(const std::string& before, const std::string& after) {
  return before + std::string(1, '\0') + after;
}

TEST_P(StoreConformance, ABadSymbolIsRefusedWithInvalidArgument) {
  // upsert_asset refuses a symbol that breaks the symbol rules as invalid input, naming the call.
  for (const std::string& symbol : {std::string(), prefix_ + "has space",
                                    with_nul(prefix_ + "NUL", "X"), std::string(40, 'A')}) {
    Asset bad;
    bad.symbol = symbol;
    const Result<Asset> r = store_->upsert_asset(bad);
    ASSERT_FALSE(r.ok()) << "symbol '" << symbol << "'";
    EXPECT_EQ(r.code(), StatusCode::kInvalidArgument) << r.status().to_string();
    EXPECT_NE(r.message().find("upsert_asset"), std::string::npos) << r.message();
  }
  EXPECT_TRUE(symbols(MUST(store_->list_assets())).empty());
}

TEST_P(StoreConformance, ANonFiniteBarIsRefusedNamingItsTimeAndField) {
  // A NaN or infinite price or volume in any bar fails the whole write as invalid input, naming
  // the bar's time and the field, even for an asset id that does not exist (arguments are checked
  // before the database is asked); nothing is stored.
  const Asset a = add_asset("NONFINITE");
  const double kInf = std::numeric_limits<double>::infinity();
  double Candle::*const fields[] = {&Candle::open, &Candle::high, &Candle::low, &Candle::close,
                                    &Candle::volume};
  const char* const names[] = {"open", "high", "low", "close", "volume"};
  for (std::size_t f = 0; f < std::size(fields); ++f) {
    for (const double bad : {kNaN, kInf, -kInf}) {
      std::vector<Candle> bars = daily_bars(5);
      bars[3].*fields[f] = bad;
      for (const std::int64_t id : {a.id, kNoSuchAsset}) {
        const Result<WriteStats> r = store_->write_candles(id, Interval::k1d, bars);
        ASSERT_FALSE(r.ok()) << names[f] << " " << bad;
        EXPECT_EQ(r.code(), StatusCode::kInvalidArgument) << r.status().to_string();
        EXPECT_NE(r.message().find("write_candles"), std::string::npos) << r.message();
        EXPECT_NE(r.message().find(names[f]), std::string::npos) << r.message();
        EXPECT_NE(r.message().find(format_timestamp(bars[3].time)), std::string::npos)
            << r.message();
      }
    }
  }
  EXPECT_TRUE(all_candles(a.id).empty());
}

TEST_P(StoreConformance, ANonFiniteTickIsRefusedNamingItsTimeAndSeq) {
  // A NaN or infinite price or size fails the whole tick write as invalid input, naming the tick;
  // nothing is stored.
  const Asset a = add_asset("BADTICK");
  const double kInf = std::numeric_limits<double>::infinity();
  const std::vector<std::pair<StoredTick, const char*>> cases = {
      {{kDay0 + 1, 7, kNaN, 1.0}, "price"},
      {{kDay0 + 1, 7, -kInf, 1.0}, "price"},
      {{kDay0 + 1, 7, 10.0, kInf}, "size"},
      {{kDay0 + 1, 7, 10.0, kNaN}, "size"},
  };
  for (const auto& [bad, field] : cases) {
    const std::vector<StoredTick> ticks = {{kDay0, 0, 10.0, 1.0}, bad};
    for (const std::int64_t id : {a.id, kNoSuchAsset}) {
      const Result<WriteStats> r = store_->write_ticks(id, ticks);
      ASSERT_FALSE(r.ok()) << field;
      EXPECT_EQ(r.code(), StatusCode::kInvalidArgument) << r.status().to_string();
      EXPECT_NE(r.message().find("write_ticks"), std::string::npos) << r.message();
      EXPECT_NE(r.message().find(field), std::string::npos) << r.message();
      EXPECT_NE(r.message().find("seq 7"), std::string::npos) << r.message();
    }
  }
  EXPECT_TRUE(MUST(store_->read_ticks(a.id, TimeRange{})).empty());
}

TEST_P(StoreConformance, AGraphNameOrSpecWithANulByteIsRefused) {
  // An empty graph name, or a NUL byte in the name or the spec, is invalid input on every backend
  // (PostgreSQL's text would end at the NUL); nothing is stored under any part of the name.
  const std::string name = graph_name("nul");
  const std::pair<std::string, std::string> cases[] = {
      {"", "nodes: []"},
      {with_nul(name, "tail"), "nodes: []"},
      {name, with_nul("nodes: [a]", "b")},
  };
  for (const auto& [n, spec] : cases) {
    const Result<GraphVersion> r = store_->put_graph(n, spec);
    ASSERT_FALSE(r.ok()) << "name of " << n.size() << " bytes";
    EXPECT_EQ(r.code(), StatusCode::kInvalidArgument) << r.status().to_string();
    EXPECT_NE(r.message().find("put_graph"), std::string::npos) << r.message();
  }
  EXPECT_FALSE(MUST(store_->get_graph(name)).has_value());
  for (const GraphVersion& g : MUST(store_->list_graphs())) {
    EXPECT_FALSE(g.name.starts_with(name)) << g.name;
  }
}

TEST_P(StoreConformance, ANegativeGraphVersionIsRefused) {
  // get_graph takes 0 (the latest) or a positive version; a negative one is invalid input rather
  // than another way to ask for the latest.
  const std::string name = graph_name("neg");
  MUST(store_->put_graph(name, "v: 1"));
  for (const std::int64_t version : {std::int64_t{-1}, std::numeric_limits<std::int64_t>::min()}) {
    const Result<std::optional<GraphVersion>> r = store_->get_graph(name, version);
    ASSERT_FALSE(r.ok()) << version;
    EXPECT_EQ(r.code(), StatusCode::kInvalidArgument) << r.status().to_string();
    EXPECT_NE(r.message().find("get_graph"), std::string::npos) << r.message();
  }
  EXPECT_EQ(MUST(store_->get_graph(name, 0))->version, 1);
}

TEST_P(StoreConformance, UnnamedOrRaggedAnalyticsAreRefused) {
  // A series without an output name, or with more times than values (or fewer), fails the whole
  // write as invalid input, before the asset and graph are looked up; nothing is written.
  const Asset a = add_asset("RAGGED");
  const GraphVersion g = MUST(store_->put_graph(graph_name("g"), "x"));
  const AnalyticsSeries good{"sma", {kDay0, kDay0 + kDay}, {1.0, 2.0}};
  const std::vector<AnalyticsSeries> cases[] = {
      {good, {"", {kDay0}, {1.0}}},
      {good, {"short", {kDay0, kDay0 + kDay}, {1.0}}},
      {good, {"long", {kDay0}, {1.0, 2.0}}},
  };
  for (const std::vector<AnalyticsSeries>& series : cases) {
    for (const std::int64_t id : {a.id, kNoSuchAsset}) {
      const Status s = store_->write_analytics(id, g.graph_id, g.version, series);
      ASSERT_FALSE(s.ok()) << series[1].output;
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
      EXPECT_NE(s.message().find("write_analytics"), std::string::npos) << s.message();
    }
  }
  EXPECT_TRUE(
      MUST(store_->read_analytics(a.id, g.graph_id, g.version, "sma", TimeRange{})).time.empty());
}

TEST_P(StoreConformance, InvalidCredentialsKindsAndKeysAreInvalidArguments) {
  // Every credential, kind filter and signing key candidate the stores refuse is refused as
  // invalid input (the client's mistake, not the database's), naming the call.
  std::vector<Credential> bad(9, credential("bad", "client", kDay0));
  bad[0].kind = "user";
  bad[1].scopes = {"read write"};
  bad[2].scopes = {"read", ""};
  bad[3].secret_hash = "";
  bad[4].name = with_nul("nul", "inside");
  bad[5].id = "";
  bad[6].id = with_nul(cred_id("bad"), "x");
  bad[7].scopes = {with_nul("read", "x")};
  bad[8].secret_hash = with_nul("sha256:", "00");
  for (std::size_t i = 0; i < bad.size(); ++i) {
    const Status s = store_->add_credential(bad[i]);
    ASSERT_FALSE(s.ok()) << "case " << i;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "case " << i << ": " << s.to_string();
    EXPECT_NE(s.message().find("add_credential"), std::string::npos) << s.message();
  }
  EXPECT_FALSE(MUST(store_->find_credential(cred_id("bad"))).has_value());

  for (const std::string& kind : {std::string("users"), std::string("Client"), with_nul("", "")}) {
    const Result<std::vector<Credential>> r = store_->list_credentials(kind);
    ASSERT_FALSE(r.ok()) << kind;
    EXPECT_EQ(r.code(), StatusCode::kInvalidArgument) << r.status().to_string();
    EXPECT_NE(r.message().find("list_credentials"), std::string::npos) << r.message();
  }

  std::vector<SigningKey> keys(6, test_key(prefix_ + "bad", kDay0));
  keys[0].kid.clear();
  keys[1].algorithm.clear();
  keys[2].private_pem.clear();
  keys[3].kid = with_nul("kid", "x");
  keys[4].algorithm = with_nul("ES", "256");
  keys[5].private_pem = with_nul("-----BEGIN", "");
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const Result<SigningKey> r = store_->signing_key(keys[i]);
    ASSERT_FALSE(r.ok()) << "key " << i;
    EXPECT_EQ(r.code(), StatusCode::kInvalidArgument) << "key " << i << ": " << r.message();
    EXPECT_NE(r.message().find("signing_key"), std::string::npos) << r.message();
  }
  if (fresh_database()) {
    // None of them was stored: the first valid candidate becomes the key.
    const SigningKey valid = test_key(prefix_ + "good", kDay0);
    EXPECT_EQ(fields(MUST(store_->signing_key(valid))), fields(valid));
  }
}

TEST_P(StoreConformance, FailuresCarryTheirCodesAndNameTheCall) {
  // What the database refuses has its own code: an unknown asset or graph version is not_found,
  // a duplicate credential already_exists; the message starts with the call.
  const Asset a = add_asset("CODES");
  const GraphVersion g = MUST(store_->put_graph(graph_name("g"), "x"));
  const std::vector<Candle> bars = daily_bars(2);
  const std::vector<StoredTick> ticks = {{kDay0, 0, 1.0, 1.0}};
  const AnalyticsSeries series{"out", {kDay0}, {1.0}};
  const auto expect = [](const Status& s, StatusCode code, const std::string& call) {
    EXPECT_EQ(s.code(), code) << s.to_string();
    EXPECT_TRUE(s.message().starts_with(call)) << s.message();
  };
  expect(store_->write_candles(kNoSuchAsset, Interval::k1d, bars).status(), StatusCode::kNotFound,
         "write_candles(asset " + std::to_string(kNoSuchAsset) + ", 1d");
  expect(store_->write_ticks(kNoSuchAsset, ticks).status(), StatusCode::kNotFound,
         "write_ticks(asset " + std::to_string(kNoSuchAsset));
  expect(store_->write_analytics(kNoSuchAsset, g.graph_id, g.version, {&series, 1}),
         StatusCode::kNotFound, "write_analytics(asset " + std::to_string(kNoSuchAsset));
  expect(store_->write_analytics(a.id, g.graph_id, g.version + 1, {&series, 1}),
         StatusCode::kNotFound, "write_analytics(asset " + std::to_string(a.id));
  expect(store_->delete_graph(graph_name("absent")), StatusCode::kNotFound,
         "delete_graph(" + graph_name("absent") + ")");
  const Credential c = credential("twice", "api_key", kDay0);
  MUST(store_->add_credential(c));
  expect(store_->add_credential(c), StatusCode::kAlreadyExists, "add_credential(" + c.id + ")");
}

TEST_P(StoreConformance, NewGraphVersionsAreStampedByTheDatabasesClock) {
  // A store opened with a clock stamps each new graph version with that clock's time; an
  // unchanged put keeps the stamp; the stamp is stored. Opened without one, it uses the system
  // clock.
  ManualClock clock(kDay0 + 12'345);
  std::unique_ptr<Store> timed = MUST(open_store(url_, clock));
  const std::string name = graph_name("timed");
  const GraphVersion v1 = MUST(timed->put_graph(name, "nodes: [a]"));
  EXPECT_EQ(v1.created, kDay0 + 12'345);
  clock.advance(kSecond);
  EXPECT_EQ(MUST(timed->put_graph(name, "nodes: [a]")).created, kDay0 + 12'345);
  const GraphVersion v2 = MUST(timed->put_graph(name, "nodes: [a, b]"));
  EXPECT_EQ(v2.version, 2);
  EXPECT_EQ(v2.created, kDay0 + 12'345 + kSecond);
  timed.reset();
  EXPECT_EQ(MUST(store_->get_graph(name, 1))->created, kDay0 + 12'345);
  EXPECT_EQ(MUST(store_->get_graph(name))->created, kDay0 + 12'345 + kSecond);

  const Timestamp before = system_clock().now();
  const GraphVersion v3 = MUST(store_->put_graph(name, "nodes: [c]"));
  const Timestamp after = system_clock().now();
  EXPECT_GE(v3.created, before);
  EXPECT_LE(v3.created, after);
}

// Two threads each write `calls` batches of `per_call` bars for their own asset through
// store_for(thread); returns the number of failed calls.
int write_concurrently(const std::function<Store&(int)>& store_for, const Asset (&assets)[2],
                       int calls, int per_call) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<Candle> bars = daily_bars(calls * per_call, kDay0, 10.0 * (t + 1));
      for (int c = 0; c < calls; ++c) {
        const std::span<const Candle> batch(bars.data() + static_cast<std::size_t>(c * per_call),
                                            static_cast<std::size_t>(per_call));
        if (!store_for(t).write_candles(assets[t].id, Interval::k1m, batch).ok()) ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  return failures.load();
}

TEST_P(StoreConformance, ConcurrentWritersThroughOneStoreBothLand) {
  // Two threads writing different assets through one Store both get all their bars stored.
  const Asset assets[2] = {add_asset("CW1"), add_asset("CW2")};
  EXPECT_EQ(write_concurrently([&](int) -> Store& { return *store_; }, assets, 40, 250), 0);
  for (int t = 0; t < 2; ++t) {
    EXPECT_EQ(MUST(store_->count_candles(assets[t].id, Interval::k1m)), 10'000);
    EXPECT_EQ(rows_of(all_candles(assets[t].id, Interval::k1m)),
              daily_bars(10'000, kDay0, 10.0 * (t + 1)));
  }
}

TEST_P(StoreConformance, ConcurrentWritersThroughTwoStoresBothLand) {
  // Two Stores opened on the same URL (as two processes would) can write at the same time.
  const Asset assets[2] = {add_asset("CS1"), add_asset("CS2")};
  std::unique_ptr<Store> second = MUST(open_store(url_));
  Store* stores[2] = {store_.get(), second.get()};
  EXPECT_EQ(write_concurrently([&](int t) -> Store& { return *stores[t]; }, assets, 40, 250), 0);
  for (int t = 0; t < 2; ++t) {
    for (Store* s : stores) {
      EXPECT_EQ(MUST(s->count_candles(assets[t].id, Interval::k1m)), 10'000);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformance, ::testing::ValuesIn(backends()),
                         [](const ::testing::TestParamInfo<Backend>& param) {
                           return param.param.name;
                         });

}  // namespace
}  // namespace tickgraph::store
