// tickgraph compute --csv [SYMBOL=]FILE ... --spec SPEC [--symbol S] [--mode pull|push]
//                   [--from DATE] [--to DATE] [--out FILE|-]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/table_writer.h"
#include "core/asset.h"
#include "graph/compiled_graph.h"
#include "graph/pull_executor.h"
#include "graph/push_executor.h"
#include "ingest/csv_reader.h"

namespace tickgraph::cli {

namespace {

struct ComputeOptions {
  std::vector<std::string> csv;
  std::string spec;
  std::string symbol;
  std::string mode = "pull";
  std::string from;
  std::string to;
  std::string out = "-";
};

int compute(const ComputeOptions& o) {
  graph::MarketData data;
  std::string first_symbol;
  for (const std::string& arg : o.csv) {
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
      std::cerr << "tickgraph: --csv " << arg << ": " << s.message()
                << "; name it with SYMBOL=FILE\n";
      return kExitBadInput;
    }
    auto series = ingest::read_yahoo_csv_file(path);
    if (!series) {
      std::cerr << "tickgraph: " << series.message() << "\n";
      return kExitBadInput;
    }
    if (data.count(symbol)) {
      std::cerr << "tickgraph: --csv " << arg << ": symbol '" << symbol << "' given twice\n";
      return kExitBadInput;
    }
    if (first_symbol.empty()) first_symbol = symbol;
    data.emplace(symbol, std::move(*series));
  }
  const std::string symbol = o.symbol.empty() ? first_symbol : o.symbol;
  if (!data.count(symbol)) {
    std::cerr << "tickgraph: --symbol " << symbol << ": no --csv file gives that asset\n";
    return kExitBadInput;
  }
  graph::TimeRange range;
  if (!o.from.empty()) {
    auto t = parse_timestamp(o.from);
    if (!t) {
      std::cerr << "tickgraph: --from: " << t.message() << "\n";
      return kExitBadInput;
    }
    range.from = *t;
  }
  if (!o.to.empty()) {
    auto t = parse_timestamp(o.to);
    if (!t) {
      std::cerr << "tickgraph: --to: " << t.message() << "\n";
      return kExitBadInput;
    }
    range.to = *t;
    if (o.to.find('T') == std::string::npos && o.to.find(' ') == std::string::npos) {
      range.to += kDay - 1;  // a date alone includes that whole day
    }
  }
  if (range.from > range.to) {
    std::cerr << "tickgraph: --from " << o.from << " is after --to " << o.to << "\n";
    return kExitBadInput;
  }
  auto spec = graph::load_spec_file(o.spec);
  if (!spec) {
    std::cerr << "tickgraph: " << spec.message() << "\n";
    return kExitBadInput;
  }
  graph::CompileOptions copts;
  copts.asset_exists = [&](std::string_view s) { return data.find(s) != data.end(); };
  auto graph = graph::compile(*spec, copts);
  if (!graph) {
    std::cerr << "tickgraph: invalid graph:\n" << graph.message() << "\n";
    return kExitBadInput;
  }

  graph::Table table;
  if (o.mode == "push") {
    auto result = graph::run_push(*graph, symbol, data, range);
    if (!result) {
      std::cerr << "tickgraph: " << result.message() << "\n";
      return kExitBadInput;
    }
    table = std::move(*result);
  } else {
    auto result = graph::run_pull(*graph, symbol, data, range);
    if (!result) {
      std::cerr << "tickgraph: " << result.message() << "\n";
      return kExitBadInput;
    }
    table = std::move(*result);
  }
  if (o.out == "-") {
    write_csv(table, std::cout);
    std::cout.flush();
    return std::cout ? kExitOk : kExitBadInput;
  }
  std::ofstream out(o.out, std::ios::binary);
  if (!out) {
    std::cerr << "tickgraph: --out " << o.out << ": cannot open for writing\n";
    return kExitBadInput;
  }
  write_csv(table, out);
  out.close();
  if (!out) {
    std::cerr << "tickgraph: --out " << o.out << ": write failed\n";
    return kExitBadInput;
  }
  return kExitOk;
}

}  // namespace

void add_compute_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ComputeOptions>();
  CLI::App* cmd = app.add_subcommand("compute", "Evaluate a graph over bars from CSV files");
  cmd->add_option("--csv", o->csv, "Bars in Yahoo CSV format, as [SYMBOL=]FILE (repeatable)")
      ->required();
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
