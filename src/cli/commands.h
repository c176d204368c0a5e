// The `tickgraph` subcommands. Each registers itself on the CLI11 app and runs when chosen.
// Exit codes (the one translation table for the CLI): 0 success, 1 bad input (file, spec, data;
// the message names it), 2 bad usage (unknown option, missing argument), 3 a failure outside the
// input (the database, an outside service).
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace tickgraph::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitFailure = 3;

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
