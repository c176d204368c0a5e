// tickgraph fetch yahoo SYMBOL... [--range 5y] [--interval 1d] [--db URL]
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"
#include "cli/database.h"
#include "cli/exit_code.h"
#include "core/asset.h"
#include "core/interval.h"
#include "core/log.h"
#include "ingest/yahoo_chart.h"
#include "ingest/yahoo_client.h"

namespace tickgraph::cli {

namespace {

struct FetchOptions {
  std::vector<std::string> symbols;
  std::string range = "5y";
  std::string interval = "1d";
  std::string db;
};

AssetClass class_of(const std::string& instrument_type) {
  if (instrument_type == "INDEX") return AssetClass::kIndex;
  if (instrument_type == "ETF") return AssetClass::kEtf;
  if (instrument_type == "FUTURE") return AssetClass::kFuture;
  if (instrument_type == "CURRENCY") return AssetClass::kFx;
  if (instrument_type == "CRYPTOCURRENCY") return AssetClass::kCrypto;
  if (instrument_type == "EQUITY") return AssetClass::kEquity;
  return AssetClass::kOther;
}

// Downloads each symbol and writes its bars (one transaction per symbol). A symbol that fails is
// reported and the others still run; the exit code says whether all succeeded.
int fetch_yahoo(const FetchOptions& o) {
  auto interval = parse_interval(o.interval);
  if (!interval) return fail(interval.status().with_prefix("--interval: "));
  if (!ingest::is_yahoo_range(o.range)) {
    return fail(Status::invalid_argument("--range '" + o.range +
                                         "' (expected 1d 5d 1mo 3mo 6mo 1y 2y 5y 10y ytd max)"));
  }
  if (auto name = ingest::yahoo_interval_name(*interval); !name) {
    return fail(name.status().with_prefix("--interval: "));
  }
  for (const std::string& symbol : o.symbols) {
    if (Status s = validate_symbol(symbol); !s.ok()) {
      return fail(s);
    }
  }
  auto db = open_database(o.db);
  if (!db) return fail(db.status());
  const ingest::YahooClient client;
  int failures = 0;
  for (const std::string& symbol : o.symbols) {
    auto chart = client.fetch(symbol, o.range, *interval);
    if (!chart) {
      // The others still run; any failure makes the exit code 3 (see the top of fetch_yahoo).
      log::error(chart.message(), {{"symbol", symbol}, {"code", status_code_name(chart.code())}});
      ++failures;
      continue;
    }
    for (const auto& s : chart->skipped) {
      log::warn("yahoo: " + symbol + ": skipped bar " + format_timestamp(s.time) + ": " + s.reason,
                {{"symbol", symbol}});
    }
    auto existing = (*db)->find_asset(symbol);
    if (!existing) return fail(existing.status());
    Asset asset = existing->value_or(Asset{.symbol = symbol, .name = symbol});
    if (!existing->has_value()) asset.asset_class = class_of(chart->instrument_type);
    if (asset.currency.empty()) asset.currency = chart->currency;
    if (asset.exchange.empty()) asset.exchange = chart->exchange;
    auto stored = (*db)->upsert_asset(asset);
    if (!stored) return fail(stored.status());
    std::vector<Candle> rows;
    rows.reserve(chart->candles.size());
    for (std::size_t i = 0; i < chart->candles.size(); ++i) rows.push_back(chart->candles.at(i));
    auto w = (*db)->write_candles(stored->id, *interval, rows);
    if (!w) return fail(w.status());
    std::cout << symbol << ": " << rows.size() << " bars (" << o.interval << ", " << o.range
              << "): " << w->inserted << " new, " << w->replaced << " replaced, " << w->unchanged
              << " unchanged";
    if (!chart->skipped.empty()) std::cout << ", " << chart->skipped.size() << " skipped";
    std::cout << "\n";
  }
  return failures == 0 ? kExitOk : kExitFailure;
}

}  // namespace

void add_fetch_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("fetch", "Download bars from an outside source");
  cmd->require_subcommand(1);
  auto o = std::make_shared<FetchOptions>();
  CLI::App* yahoo = cmd->add_subcommand(
      "yahoo", "Yahoo Finance's chart API ($TICKGRAPH_YAHOO_URL overrides its address)");
  yahoo->add_option("symbols", o->symbols, "Symbols, e.g. AAPL ^GSPC EURUSD=X")->required();
  yahoo->add_option("--range", o->range, "1d 5d 1mo 3mo 6mo 1y 2y 5y 10y ytd max");
  yahoo->add_option("--interval", o->interval, "1m 5m 15m 1h 1d 1w");
  yahoo->add_option("--db", o->db, "sqlite:PATH or postgresql://… (default: the local database)");
  yahoo->callback([&action, o] { action = [o] { return fetch_yahoo(*o); }; });
}

}  // namespace tickgraph::cli
