// tickgraph compute --csv [SYMBOL=]FILE ... --spec SPEC [--symbol S] [--mode pull|push]
//                   [--from DATE] [--to DATE] [--out FILE|-]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>

#include "cli/commands.h"
#include "cli/database.h"
#include "cli/exit_code.h"
#include "cli/table_writer.h"
#include "core/asset.h"
#include "graph/compiled_graph.h"
#include "graph/pull_executor.h"
#include "graph/push_executor.h"
#include "ingest/csv_reader.h"
#include "live/pull.h"

namespace tickgraph::cli {

namespace {

struct ComputeOptions {
  std::vector<std::string> csv;
  std::string db;
  std::string interval = "1d";
  std::string spec;
  std::string symbol;
  std::string mode = "pull";
  std::string from;
  std::string to;
  std::string out = "-";
};

// Reads the --csv files into `data`; returns the first file's symbol.
Result<std::string> load_csv_files(const std::vector<std::string>& args, graph::MarketData& data) {
  std::string first_symbol;
  for (const std::string& arg : args) {
    std::string symbol, path = arg;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      symbol = arg.substr(0, eq);
      path = arg.substr(eq + 1);
    } else {
      symbol = std::filesystem::path(path).stem().string();
      std::transform(symbol.begin(), symbol.end(), symbol.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    }
    if (Status s = validate_symbol(symbol); !s.ok()) {
      return Status::invalid_argument("--csv " + arg + ": " + s.message() +
                                      "; name it with SYMBOL=FILE");
    }
    auto series = ingest::read_yahoo_csv_file(path);
    if (!series) return series.status();
    if (data.count(symbol)) {
      return Status::invalid_argument("--csv " + arg + ": symbol '" + symbol + "' given twice");
    }
    if (first_symbol.empty()) first_symbol = symbol;
    data.emplace(symbol, std::move(*series));
  }
  return first_symbol;
}

int compute(const ComputeOptions& o) {
  graph::TimeRange range;
  if (!o.from.empty()) {
    auto t = parse_timestamp(o.from);
    if (!t) return fail(t.status().with_prefix("--from: "));
    range.from = *t;
  }
  if (!o.to.empty()) {
    auto t = parse_timestamp(o.to);
    if (!t) return fail(t.status().with_prefix("--to: "));
    range.to = is_date_only(o.to) ? saturating_add(*t, kDay - 1) : *t;  // a date: the whole day
  }
  if (range.from > range.to) {
    return fail(Status::invalid_argument("--from " + o.from + " is after --to " + o.to));
  }
  auto interval = parse_interval(o.interval);
  if (!interval) return fail(interval.status().with_prefix("--interval: "));
  auto spec = graph::load_spec_file(o.spec);
  if (!spec) return fail(spec.status());

  // Bars come from --csv files, or else from the database (only those the range needs).
  const bool push = o.mode == "push";
  Result<graph::Table> result = graph::Table{};
  if (!o.csv.empty()) {
    graph::MarketData data;
    auto first = load_csv_files(o.csv, data);
    if (!first) return fail(first.status());
    const std::string symbol = o.symbol.empty() ? *first : o.symbol;
    if (!data.count(symbol)) {
      return fail(
          Status::invalid_argument("--symbol " + symbol + ": no --csv file gives that asset"));
    }
    graph::CompileOptions copts;
    copts.asset_exists = [&](std::string_view s) { return data.find(s) != data.end(); };
    auto graph = graph::compile(*spec, copts);
    if (!graph) return fail(graph.status().with_prefix("invalid graph:\n"));
    result = push ? graph::run_push(*graph, symbol, data, range)
                  : graph::run_pull(*graph, symbol, data, range);
  } else {
    if (o.symbol.empty()) {
      return usage_error("--symbol is required when reading from the database");
    }
    auto db = open_database(o.db);
    if (!db) return fail(db.status());
    auto asset = (*db)->find_asset(o.symbol);
    if (!asset) return fail(asset.status());
    if (!asset->has_value()) {
      return fail(Status::not_found("--symbol " + o.symbol + ": unknown asset in the database"));
    }
    auto graph = live::prepare_graph(**db, *spec);
    if (!graph) {
      return fail(graph.code() == StatusCode::kInvalidArgument
                      ? graph.status().with_prefix("invalid graph:\n")
                      : graph.status());
    }
    result = live::run(**db, *graph, o.symbol, *interval, range,
                       push ? live::Mode::kPush : live::Mode::kPull);
  }
  if (!result) return fail(result.status());
  if (o.out == "-") {
    write_csv(*result, std::cout);
    std::cout.flush();
    return std::cout ? kExitOk : kExitFailure;
  }
  std::ofstream out(o.out, std::ios::binary);
  if (!out) {
    return fail(Status::invalid_argument("--out " + o.out + ": cannot open for writing"));
  }
  write_csv(*result, out);
  out.close();
  if (!out) {
    return fail(Status::unavailable("--out " + o.out + ": write failed"));
  }
  return kExitOk;
}

}  // namespace

void add_compute_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ComputeOptions>();
  CLI::App* cmd =
      app.add_subcommand("compute", "Evaluate a graph over bars from CSV files or the database");
  cmd->add_option("--csv", o->csv,
                  "Bars in Yahoo CSV format, as [SYMBOL=]FILE (repeatable); without it, bars "
                  "come from the database");
  cmd->add_option("--db", o->db, "sqlite:PATH or postgresql://… (default: the local database)");
  cmd->add_option("--interval", o->interval, "Bar interval read from the database");
  cmd->add_option("--spec", o->spec, "Graph spec (YAML or JSON)")->required();
  cmd->add_option("--symbol", o->symbol, "Asset to evaluate the graph for (default: first --csv)");
  cmd->add_option("--mode", o->mode, "pull: batch over the range; push: bar by bar")
      ->check(CLI::IsMember({"pull", "push"}));
  cmd->add_option("--from", o->from, "First date to report (ISO-8601)");
  cmd->add_option("--to", o->to, "Last date to report (ISO-8601, inclusive)");
  cmd->add_option("--out", o->out, "Output CSV file, or - for standard output");
  cmd->callback([&action, o] { action = [o] { return compute(*o); }; });
}

}  // namespace tickgraph::cli
