#include "cli/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/log.h"
#include "core/time.h"

namespace tickgraph::cli {

namespace {

// A JSON string, with invalid UTF-8 replaced (messages may quote any input).
std::string json_string(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

spdlog::level::level_enum spdlog_level(log::Level level) {
  switch (level) {
    case log::Level::kDebug:
      return spdlog::level::debug;
    case log::Level::kInfo:
      return spdlog::level::info;
    case log::Level::kWarn:
      return spdlog::level::warn;
    case log::Level::kError:
      return spdlog::level::err;
    case log::Level::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

// core/log.h's name of a level ("warn", not spdlog's "warning").
std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    default:
      return "error";
  }
}

// Wraps the payload, the event's "msg" and fields as JSON members, into one JSON object line
// with the time and level in front.
class JsonLineFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(msg.time.time_since_epoch()).count();
    // Microseconds, always shown, so that lines sort and parse alike.
    const Timestamp us = ns - ns % kMicrosecond;
    std::string ts = format_timestamp(us - us % kSecond, false);
    ts.pop_back();  // the 'Z'
    const auto micros = std::to_string(1'000'000 + (us % kSecond) / kMicrosecond).substr(1);
    ts.append(".").append(micros).append("Z");
    std::string head = R"({"ts":")" + ts + R"(","level":")";
    head.append(level_name(msg.level)).append("\",");
    dest.append(head.data(), head.data() + head.size());
    dest.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    dest.push_back('}');
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>();
  }
};

class SpdlogSink final : public log::Sink {
 public:
  SpdlogSink(std::shared_ptr<spdlog::logger> logger, bool json)
      : logger_(std::move(logger)), json_(json) {}

  void write(log::Level level, std::string_view message,
             std::span<const log::Field> fields) override {
    const auto l = spdlog_level(level);
    if (!json_) {
      logger_->log(l, "{}", message);
      return;
    }
    std::string payload = "\"msg\":" + json_string(message);
    for (const log::Field& f : fields) {
      payload.append(",").append(json_string(f.key)).append(":");
      std::visit(
          [&](const auto& v) {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, std::string>) {
              payload.append(json_string(v));
            } else if constexpr (std::is_same_v<V, bool>) {
              payload.append(v ? "true" : "false");
            } else {
              payload.append(nlohmann::json(v).dump());
            }
          },
          f.value);
    }
    logger_->log(l, "{}", payload);
  }

 private:
  std::shared_ptr<spdlog::logger> logger_;
  bool json_;
};

}  // namespace

void add_logging_options(CLI::App& cmd, std::string& format, std::string& level) {
  cmd.add_option("--log-format", format, "Log lines on stderr: text, or json (one object a line)")
      ->capture_default_str();
  cmd.add_option("--log-level", level, "Least severe log event written: debug info warn error off")
      ->capture_default_str();
}

Status configure_logging(std::string_view format, std::string_view level) {
  if (format != "text" && format != "json") {
    return Status::invalid_argument("--log-format: expected text or json, got '" +
                                    std::string(format) + "'")
        .with_parameter("log-format");
  }
  auto parsed = log::parse_level(level);
  if (!parsed) return parsed.status().with_prefix("--log-level: ").with_parameter("log-level");
  auto logger = std::make_shared<spdlog::logger>("tickgraph",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  const bool json = format == "json";
  if (json) {
    logger->set_formatter(std::make_unique<JsonLineFormatter>());
  } else {
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "tickgraph: %v", spdlog::pattern_time_type::utc));
  }
  logger->set_level(spdlog_level(*parsed));
  logger->flush_on(spdlog::level::trace);
  log::set_level(*parsed);
  log::set_sink(std::make_shared<SpdlogSink>(std::move(logger), json));
  return {};
}

}  // namespace tickgraph::cli
