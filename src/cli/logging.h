// Where `tickgraph`'s log events go: spdlog writing to stderr, as text (the form people read:
// "tickgraph: MESSAGE", the lines scripts and tests read unchanged) or as JSON lines for log
// collectors: {"ts": "2026-12-07T00:30:00.123456Z", "level": "warn", "msg": MESSAGE, …fields}.
// See core/log.h for the events themselves.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace CLI {
class App;
}

namespace tickgraph::cli {

// Adds --log-format text|json and --log-level debug|info|warn|error|off to a subcommand.
void add_logging_options(CLI::App& cmd, std::string& format, std::string& level);

// Installs the spdlog sink with `format` ("text" or "json") and `level` (debug, info, warn,
// error, off). An error naming the option when either is unknown; nothing changes then.
Status configure_logging(std::string_view format, std::string_view level);

}  // namespace tickgraph::cli
