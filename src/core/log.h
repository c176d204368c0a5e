// One structured logger for the whole process. Library code (server, ingest, store…) writes
// events here; the program decides where they go and in which form by installing a Sink at start
// (the `tickgraph` command installs one on spdlog: --log-format text|json, --log-level).
//
// An event is a level, a message for people and fields for machines:
//
//   log::warn("store: database is locked (closed bars kept, written later)",
//             {{"reason", "store_failed"}, {"symbol", symbol}});
//
// The message is the whole sentence a person reads (in text form it is the line, as
// "tickgraph: MESSAGE"); fields repeat what a log search needs (symbol, route, status, reason…)
// and appear in the JSON form only. Never put a secret (a token, a key, a password) in either.
//
// Until a sink is installed, events at or above the level (info by default) are written to
// stderr in the text form, so tests and tools that install nothing see the same lines.
//
// Thread-safety: write() and the level may be used from any thread. set_sink() replaces the
// sink; call it at start, before threads that log exist.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "core/result.h"

namespace tickgraph::log {

enum class Level { kDebug, kInfo, kWarn, kError, kOff };

// "debug", "info", "warn", "error", "off".
std::string_view level_name(Level level);
// Parses one of level_name()'s names (also "warning").
Result<Level> parse_level(std::string_view text);

// A named value of an event. Numbers stay numbers in JSON.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <class I>
  requires std::is_integral_v<I> &&(!std::is_same_v<I, bool>)Field(std::string_view k, I v)
      : key(k), value(static_cast<std::int64_t>(v)) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}

  std::string_view key;
  std::variant<std::string, std::int64_t, double, bool> value;
};

class Sink {
 public:
  virtual ~Sink() = default;
  // Writes one event; called from any thread, so it must be thread-safe.
  virtual void write(Level level, std::string_view message, std::span<const Field> fields) = 0;
};

// Installs the sink (nullptr: back to the default text on stderr).
void set_sink(std::shared_ptr<Sink> sink);
// Events below `level` are dropped before they reach the sink.
void set_level(Level level);
Level level();
inline bool enabled(Level l) { return l >= level() && l != Level::kOff; }

void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void debug(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::kDebug, message, fields);
}
inline void info(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::kInfo, message, fields);
}
inline void warn(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::kWarn, message, fields);
}
inline void error(std::string_view message, std::initializer_list<Field> fields = {}) {
  write(Level::kError, message, fields);
}

}  // namespace tickgraph::log
