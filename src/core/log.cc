#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace tickgraph::log {

namespace {

// The default: the text form on stderr, one fwrite per line so lines of threads do not mix.
class StderrSink final : public Sink {
 public:
  void write(Level, std::string_view message, std::span<const Field>) override {
    std::string line = "tickgraph: ";
    line.append(message).push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
};

std::atomic<Level> g_level{Level::kInfo};

std::mutex g_sink_mutex;
std::shared_ptr<Sink> g_sink = std::make_shared<StderrSink>();  // guarded by g_sink_mutex

std::shared_ptr<Sink> current_sink() {
  std::lock_guard lock(g_sink_mutex);
  return g_sink;
}

}  // namespace

std::string_view level_name(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
    case Level::kOff:
      return "off";
  }
  return "info";
}

Result<Level> parse_level(std::string_view text) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff}) {
    if (text == level_name(l)) return l;
  }
  if (text == "warning") return Level::kWarn;
  return Status::invalid_argument("unknown log level '" + std::string(text) +
                                  "' (expected debug, info, warn, error or off)");
}

void set_sink(std::shared_ptr<Sink> sink) {
  std::lock_guard lock(g_sink_mutex);
  g_sink = sink ? std::move(sink) : std::make_shared<StderrSink>();
}

void set_level(Level level) { g_level.store(level, std::memory_order_relaxed); }

Level level() { return g_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  current_sink()->write(level, message, std::span<const Field>(fields.begin(), fields.size()));
}

}  // namespace tickgraph::log
