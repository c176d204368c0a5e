// tickgraph graph validate SPEC [--assets A,B,…]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "cli/commands.h"
#include "core/time.h"
#include "graph/compiled_graph.h"

namespace tickgraph::cli {

namespace {

int validate(const std::string& path, const std::vector<std::string>& assets) {
  auto spec = graph::load_spec_file(path);
  if (!spec) {
    std::cerr << "tickgraph: " << spec.message() << "\n";
    return kExitBadInput;
  }
  graph::CompileOptions options;
  if (!assets.empty()) {
    options.asset_exists = [&](std::string_view s) {
      return std::find(assets.begin(), assets.end(), s) != assets.end();
    };
  }
  auto compiled = graph::compile(*spec, options);
  if (!compiled) {
    std::cerr << "tickgraph: invalid graph:\n" << compiled.message() << "\n";
    return kExitBadInput;
  }
  const auto& g = **compiled;
  std::cout << path << ": ok, " << g.nodes().size() << " nodes\n  order:";
  for (const auto& n : g.nodes()) std::cout << ' ' << n.id;
  std::cout << "\n  outputs:";
  for (const auto& c : g.outputs()) std::cout << ' ' << c.name;
  std::cout << "\n  lookback: " << g.lookback().bars << " bars";
  if (g.lookback().time) std::cout << " + " << format_duration(g.lookback().time);
  if (g.lookback().settle) std::cout << " (+" << g.lookback().settle << " to settle)";
  std::cout << "\n";
  if (!g.referenced_symbols().empty()) {
    std::cout << "  other assets:";
    for (const auto& s : g.referenced_symbols()) std::cout << ' ' << s;
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_graph_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("graph", "Work with graph specs");
  cmd->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  auto assets = std::make_shared<std::vector<std::string>>();
  CLI::App* v = cmd->add_subcommand("validate", "Check a spec and print its order and outputs");
  v->add_option("spec", *path, "Graph spec (YAML or JSON)")->required();
  v->add_option("--assets", *assets, "Assets that exist (checks SYMBOL:name references)")
      ->delimiter(',');
  v->callback(
      [&action, path, assets] { action = [path, assets] { return validate(*path, *assets); }; });
}

}  // namespace tickgraph::cli
