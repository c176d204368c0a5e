#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/exit_code.h"
#include "core/log.h"

int main(int argc, char** argv) {
  using namespace tickgraph::cli;
  CLI::App app{
      "tickgraph: market-data analytics as an explicit graph, pulled over history or "
      "pushed tick by tick"};
  app.set_version_flag("--version", "tickgraph 0.1.0");
  app.require_subcommand(1);
  Action action;
  add_compute_command(app, action);
  add_functions_command(app, action);
  add_graph_command(app, action);
  add_import_command(app, action);
  add_query_command(app, action);
  add_fetch_command(app, action);
  add_serve_command(app, action);
  add_auth_command(app, action);
  add_ingest_command(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  try {
    return action ? action() : kExitUsage;
  } catch (const std::exception& e) {
    tickgraph::log::error(std::string("internal error: ") + e.what(), {{"code", "internal"}});
    return kExitFailure;
  }
}
