#include "ingest/tick_source.h"

#include <google/protobuf/util/json_util.h>

#include <cmath>

#include "core/number_format.h"
#include "tickgraph/v1/market.pb.h"

namespace tickgraph::ingest {

namespace {

// How far ahead of the wall clock a tick may be stamped.
constexpr Duration kMaxFutureSkew = kHour;

}  // namespace

Result<TickFormat> parse_tick_format(std::string_view name) {
  if (name == "protobuf") return TickFormat::kProtobuf;
  if (name == "json") return TickFormat::kJson;
  return Status::invalid_argument("format: expected 'protobuf' or 'json', got '" +
                                  std::string(name) + "'");
}

std::string_view tick_format_name(TickFormat format) {
  return format == TickFormat::kJson ? "json" : "protobuf";
}

Result<TickRecord> decode_tick(std::string_view payload, TickFormat format) {
  v1::Tick message;
  if (format == TickFormat::kProtobuf) {
    // ParseFromArray accepts any bytes that happen to be valid wire format; an empty message is
    // a valid (all-default) Tick and is refused below by its missing symbol.
    if (!message.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
      return Status::invalid_argument("not a protobuf tickgraph.v1.Tick (" +
                                      std::to_string(payload.size()) + " bytes)");
    }
  } else {
    // Unknown fields are ignored, as the binary form ignores them: a producer on a newer
    // contract does not turn every message into poison.
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    const auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(payload.data(), payload.size()), &message, options);
    if (!status.ok()) {
      return Status::invalid_argument("not a tickgraph.v1.Tick in JSON: " +
                                      std::string(status.message()));
    }
  }
  if (message.symbol().empty()) return Status::invalid_argument("symbol: missing");
  return TickRecord{message.symbol(), {message.time(), message.price(), message.size()}};
}

std::string encode_tick(const TickRecord& tick, TickFormat format) {
  v1::Tick message;
  message.set_symbol(tick.symbol);
  message.set_time(tick.tick.time);
  message.set_price(tick.tick.price);
  message.set_size(tick.tick.size);
  std::string out;
  if (format == TickFormat::kProtobuf) {
    message.SerializeToString(&out);
  } else {
    (void)google::protobuf::util::MessageToJsonString(message, &out);
  }
  return out;
}

Status check_tick_values(const Tick& tick, Timestamp now) {
  const auto bad = [](const std::string& field, const std::string& problem) {
    return Status::invalid_argument(field + ": " + problem).with_field(field);
  };
  if (!std::isfinite(tick.price) || tick.price <= 0) {
    return bad("price", "must be a finite number > 0, got " + format_number(tick.price));
  }
  if (!std::isfinite(tick.size) || tick.size < 0) {
    return bad("size", "must be a finite number >= 0, got " + format_number(tick.size));
  }
  // A tick far in the future would open bars the clock never closes and make every later real
  // tick late; one at or before the epoch is a unit mistake (and overflows bar arithmetic).
  if (tick.time <= 0) {
    return bad("time", "must be after 1970-01-01 (ns since the Unix epoch), got " +
                           std::to_string(tick.time));
  }
  if (tick.time > now + kMaxFutureSkew) {
    return bad("time", "more than an hour in the future (" + format_timestamp(tick.time) +
                           "); times are ns since the Unix epoch, UTC");
  }
  return {};
}

}  // namespace tickgraph::ingest
