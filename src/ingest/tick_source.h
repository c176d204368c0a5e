// What the streaming tick sources (kafka_source.h, nats_source.h) share: the wire format of one
// message, its decoding, and the sink the ticks go to.
//
// A message is one tickgraph.v1.Tick: protobuf binary by default, or the protobuf JSON mapping of
// the same message ({"symbol": "SPX", "time": "1700000000000000000", "price": 4500.25,
// "size": 3}). A message that cannot become a tick the sink takes is poison: the source sends it
// to its dead-letter destination with the reason, counts it, and goes on with the next one.
//
// Delivery is at least once: a source acknowledges a message (commits its offset, acks it) only
// after TickSink::apply() returned OK for it, and a sink's writes are idempotent, so a message
// delivered again (after a crash or a rebalance) changes nothing.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/candle.h"
#include "core/result.h"

namespace tickgraph::ingest {

enum class TickFormat { kProtobuf, kJson };

// "protobuf" or "json"; an error naming the value otherwise.
Result<TickFormat> parse_tick_format(std::string_view name);
std::string_view tick_format_name(TickFormat format);

struct TickRecord {
  std::string symbol;
  Tick tick;
};

// Decodes one message payload. The error says why ("not a tickgraph.v1.Tick: …", "symbol:
// missing"); it does not judge values (see check_tick_values).
Result<TickRecord> decode_tick(std::string_view payload, TickFormat format);
// Encodes a tick as `format` (producers, tests, benchmarks).
std::string encode_tick(const TickRecord& tick, TickFormat format);

// OK when a tick's values can be ingested; else invalid_argument naming the field ("price",
// "size" or "time") in its details and message ("price: must be a finite number > 0, got nan").
// `now` bounds the time: at most an hour ahead of it.
Status check_tick_values(const Tick& tick, Timestamp now);

// Where a source's ticks go: the store and the push engine (the CLI wires a LiveMarket).
class TickSink {
 public:
  virtual ~TickSink() = default;
  // Whether the sink can take ticks of `symbol`: OK when it can (it may create the asset);
  // not_found or invalid_argument with the reason ("unknown asset 'XYZ'") when it never will,
  // which makes the message poison; any other code (unavailable: its store does not answer) when
  // it cannot tell now: the source must not decide either, but waits and asks again, so that
  // neither a good tick nor a poison message is lost. Called once per message before apply().
  virtual Status check_symbol(std::string_view symbol) = 0;
  // Stores the ticks (in order; every one passed check_symbol and check_tick_values) and applies
  // them to the live bars. OK means durably stored: the source may acknowledge them. An error
  // means nothing may be acknowledged; the source retries the same ticks later (writes are
  // idempotent, so what was partly written is not written twice).
  virtual Status apply(std::span<const TickRecord> ticks) = 0;
  // A pipelining source (Kafka) splits apply() in two, so that the next batch is applied and
  // published while this one is written: stage() applies the ticks to the live state at once
  // (an error means nothing was applied: stage the same ticks again later); flush() stores
  // everything staged so far, and OK means the source may acknowledge it (an error: flush again
  // later). Staging ticks again that were staged before and not acknowledged changes nothing.
  // The defaults do it all in stage().
  virtual Status stage(std::span<const TickRecord> ticks) { return apply(ticks); }
  virtual Status flush() { return {}; }
  // The source no longer owns these symbols (a partition was revoked): forget their in-memory
  // state, so that taking them back later starts again from the store.
  virtual void release(std::span<const std::string> symbols) { (void)symbols; }
  // Nothing arrived for a while and the source has caught up: close the bars whose end is <= now.
  virtual void idle(Timestamp now) { (void)now; }
};

}  // namespace tickgraph::ingest
