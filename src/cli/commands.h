// The `tickgraph` subcommands. Each registers itself on the CLI11 app and runs when chosen; its
// exit code comes from cli/exit_code.h (the one table from a Status code to an exit code).
#pragma once

#include <functional>

#include "cli/exit_code.h"

namespace CLI {
class App;
}

namespace tickgraph::cli {

// Each returns the action to run once parsing succeeded; it returns the exit code.
using Action = std::function<int()>;
void add_compute_command(CLI::App& app, Action& action);
void add_functions_command(CLI::App& app, Action& action);
void add_graph_command(CLI::App& app, Action& action);
void add_import_command(CLI::App& app, Action& action);
void add_query_command(CLI::App& app, Action& action);
void add_fetch_command(CLI::App& app, Action& action);
void add_serve_command(CLI::App& app, Action& action);
void add_auth_command(CLI::App& app, Action& action);
void add_ingest_command(CLI::App& app, Action& action);

}  // namespace tickgraph::cli
