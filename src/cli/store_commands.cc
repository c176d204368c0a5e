// tickgraph import csv FILE --symbol S [--interval 1d] [--db URL] [--on-error fail|skip] …
// tickgraph query candles SYMBOL [--interval 1d] [--from] [--to] [--limit N] [--format csv|json]
#include <CLI/CLI.hpp>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/database.h"
#include "cli/exit_code.h"
#include "core/interval.h"
#include "core/log.h"
#include "core/number_format.h"
#include "ingest/csv_reader.h"
#include "store/bar_reader.h"

namespace tickgraph::cli {

namespace {

struct ImportOptions {
  std::string file;
  std::string symbol;
  std::string interval = "1d";
  std::string db;
  std::string on_error = "fail";
  std::string name;
  std::string asset_class = "equity";
  std::string currency;
  std::string exchange;
  std::size_t batch = 50000;
};

// Reads the whole file first: a bad row (with --on-error fail) stops the import before anything
// is written. Then writes in batches, one transaction each, printing "committed N" after each so
// that a caller knows what survives an interruption.
int import_csv(const ImportOptions& o) {
  auto interval = parse_interval(o.interval);
  if (!interval) return fail(interval.status().with_prefix("--interval: "));
  auto asset_class = parse_asset_class(o.asset_class);
  if (!asset_class) return fail(asset_class.status().with_prefix("--asset-class: "));
  if (Status s = validate_symbol(o.symbol); !s.ok()) {
    return fail(s.with_prefix("--symbol: "));
  }
  std::vector<std::string> skipped;
  auto bars =
      ingest::read_yahoo_csv_file(o.file, {.skip_bad_rows = o.on_error == "skip"}, &skipped);
  for (const auto& line : skipped) log::warn("skipped " + line, {{"file", o.file}});
  if (!bars) return fail(Status(bars.code(), bars.message() + "\nnothing was imported"));
  for (std::size_t i = 0; i < bars->size(); ++i) {
    if (bar_open_time(bars->time[i], *interval) != bars->time[i]) {
      return fail(Status::invalid_argument(o.file + ": bar " + format_timestamp(bars->time[i]) +
                                           " is not aligned to the " + o.interval +
                                           " interval (use --interval)\nnothing was imported"));
    }
  }
  auto db = open_database(o.db);
  if (!db) return fail(db.status());
  auto existing = (*db)->find_asset(o.symbol);
  if (!existing) return fail(existing.status());
  Asset asset = existing->value_or(Asset{.symbol = o.symbol});
  if (!existing->has_value() || !o.name.empty()) asset.name = o.name.empty() ? o.symbol : o.name;
  if (!existing->has_value()) asset.asset_class = *asset_class;
  if (!o.currency.empty()) asset.currency = o.currency;
  if (!o.exchange.empty()) asset.exchange = o.exchange;
  auto stored = (*db)->upsert_asset(asset);
  if (!stored) return fail(stored.status());
  store::WriteStats total;
  std::vector<Candle> rows;
  const std::size_t batch = std::max<std::size_t>(o.batch, 1);
  for (std::size_t begin = 0; begin < bars->size(); begin += batch) {
    const std::size_t end = std::min(bars->size(), begin + batch);
    rows.clear();
    for (std::size_t i = begin; i < end; ++i) rows.push_back(bars->at(i));
    auto w = (*db)->write_candles(stored->id, *interval, rows);
    if (!w) {
      return fail(Status(w.code(), w.message() + "\nrows " + std::to_string(begin + 1) + "-" +
                                       std::to_string(end) + " were not imported; " +
                                       std::to_string(begin) + " rows before them were"));
    }
    total.inserted += w->inserted;
    total.replaced += w->replaced;
    total.unchanged += w->unchanged;
    std::cout << "committed " << end << "\n" << std::flush;
  }
  std::cout << "imported " << o.file << " into " << o.symbol << " (" << o.interval
            << "): " << bars->size() << " rows, " << total.inserted << " new, " << total.replaced
            << " replaced, " << total.unchanged << " unchanged";
  if (!skipped.empty()) std::cout << ", " << skipped.size() << " bad rows skipped";
  std::cout << "\n";
  return kExitOk;
}

struct QueryOptions {
  std::string symbol;
  std::string interval = "1d";
  std::string from;
  std::string to;
  std::size_t limit = 0;
  std::string format = "csv";
  std::string db;
};

int query_candles(const QueryOptions& o) {
  auto interval = parse_interval(o.interval);
  if (!interval) return fail(interval.status().with_prefix("--interval: "));
  store::TimeRange range;
  for (auto [text, flag, target] :
       {std::tuple{&o.from, "--from", &range.from}, std::tuple{&o.to, "--to", &range.to}}) {
    if (text->empty()) continue;
    auto t = parse_timestamp(*text);
    if (!t) return fail(t.status().with_prefix(std::string(flag) + ": "));
    *target = *t;
  }
  if (is_date_only(o.to)) range.to = saturating_add(range.to, kDay - 1);  // the whole day
  auto db = open_database(o.db);
  if (!db) return fail(db.status());
  auto asset = (*db)->find_asset(o.symbol);
  if (!asset) return fail(asset.status());
  if (!asset->has_value()) {
    return fail(Status::not_found("unknown asset '" + o.symbol + "' (import it first)"));
  }
  auto bars = store::BarReader(**db).read((*asset)->id, *interval, range, o.limit);
  if (!bars) return fail(bars.status());
  const bool intraday = interval_duration(*interval) < kDay;
  if (o.format == "json") {
    nlohmann::ordered_json j;
    j["symbol"] = o.symbol;
    j["interval"] = o.interval;
    auto& rows = j["candles"] = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < bars->size(); ++i) {
      rows.push_back({{"time", format_timestamp(bars->time[i], !intraday)},
                      {"open", bars->open[i]},
                      {"high", bars->high[i]},
                      {"low", bars->low[i]},
                      {"close", bars->close[i]},
                      {"volume", bars->volume[i]}});
    }
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << "date,open,high,low,close,volume\n";
  for (std::size_t i = 0; i < bars->size(); ++i) {
    std::cout << format_timestamp(bars->time[i], !intraday) << ',' << format_number(bars->open[i])
              << ',' << format_number(bars->high[i]) << ',' << format_number(bars->low[i]) << ','
              << format_number(bars->close[i]) << ',' << format_number(bars->volume[i]) << '\n';
  }
  return kExitOk;
}

}  // namespace

void add_import_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("import", "Import bars into the database");
  cmd->require_subcommand(1);
  auto o = std::make_shared<ImportOptions>();
  CLI::App* csv = cmd->add_subcommand("csv", "Import a Yahoo-format CSV file");
  csv->add_option("file", o->file, "CSV file (Date,Open,High,Low,Close,Adj Close,Volume)")
      ->required();
  csv->add_option("--symbol", o->symbol, "Asset the bars belong to")->required();
  csv->add_option("--interval", o->interval, "Bar interval: 1s 1m 5m 15m 1h 4h 1d 1w");
  csv->add_option("--db", o->db, "sqlite:PATH or postgresql://… (default: the local database)");
  csv->add_option("--on-error", o->on_error, "fail: a bad row imports nothing; skip: skip it")
      ->check(CLI::IsMember({"fail", "skip"}));
  csv->add_option("--name", o->name, "Asset name (new assets default to the symbol)");
  csv->add_option("--asset-class", o->asset_class, "For a new asset: equity, index, etf, …");
  csv->add_option("--currency", o->currency, "ISO 4217 currency");
  csv->add_option("--exchange", o->exchange, "Exchange");
  csv->add_option("--batch", o->batch, "Rows per transaction")->check(CLI::PositiveNumber);
  csv->callback([&action, o] { action = [o] { return import_csv(*o); }; });
}

void add_query_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("query", "Read from the database");
  cmd->require_subcommand(1);
  auto o = std::make_shared<QueryOptions>();
  CLI::App* candles = cmd->add_subcommand("candles", "Bars of an asset over a range");
  candles->add_option("symbol", o->symbol, "Asset")->required();
  candles->add_option("--interval", o->interval, "Bar interval");
  candles->add_option("--from", o->from, "First time (ISO-8601)");
  candles->add_option("--to", o->to, "Last time (ISO-8601, inclusive; a date includes its day)");
  candles->add_option("--limit", o->limit, "At most this many bars from the start");
  candles->add_option("--format", o->format, "csv or json")->check(CLI::IsMember({"csv", "json"}));
  candles->add_option("--db", o->db, "sqlite:PATH or postgresql://…");
  candles->callback([&action, o] { action = [o] { return query_candles(*o); }; });
}

}  // namespace tickgraph::cli
