// tickgraph graph validate SPEC [--assets A,B,…]
// tickgraph graph put NAME SPEC [--db URL]   (stores a checked spec; a changed one is a new
//                                            version, as PUT /v1/graphs/NAME)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "cli/commands.h"
#include "cli/database.h"
#include "cli/exit_code.h"
#include "core/time.h"
#include "graph/compiled_graph.h"

namespace tickgraph::cli {

namespace {

int validate(const std::string& path, const std::vector<std::string>& assets) {
  auto spec = graph::load_spec_file(path);
  if (!spec) return fail(spec.status());
  graph::CompileOptions options;
  if (!assets.empty()) {
    options.asset_exists = [&](std::string_view s) {
      return std::find(assets.begin(), assets.end(), s) != assets.end();
    };
  }
  auto compiled = graph::compile(*spec, options);
  if (!compiled) return fail(compiled.status().with_prefix("invalid graph:\n"));
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

int put(const std::string& name, const std::string& path, const std::string& db_url) {
  auto spec = graph::load_spec_file(path);
  if (!spec) return fail(spec.status());
  auto db = open_database(db_url);
  if (!db) return fail(db.status());
  graph::CompileOptions options;
  options.asset_exists = [&db](std::string_view s) {
    auto found = (*db)->find_asset(s);
    return found && found->has_value();
  };
  if (auto compiled = graph::compile(*spec, options); !compiled) {
    return fail(compiled.status().with_prefix("invalid graph:\n"));
  }
  spec->name = name;
  auto stored = (*db)->put_graph(name, graph::to_yaml(*spec));
  if (!stored) return fail(stored.status());
  std::cout << "graph " << name << " version " << stored->version << "\n";
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

  auto name = std::make_shared<std::string>();
  auto put_path = std::make_shared<std::string>();
  auto db = std::make_shared<std::string>();
  CLI::App* p = cmd->add_subcommand("put", "Store a graph (a changed spec is a new version)");
  p->add_option("name", *name, "Graph name")->required();
  p->add_option("spec", *put_path, "Graph spec (YAML or JSON)")->required();
  p->add_option("--db", *db, "Database URL (default: the embedded SQLite file)");
  p->callback([&action, name, put_path, db] {
    action = [name, put_path, db] { return put(*name, *put_path, *db); };
  });
}

}  // namespace tickgraph::cli
