// Decoding of tick messages (tickgraph.v1.TickBatch, or one Tick): the protobuf binary form the
// Kafka and NATS feeds will carry (ParseFromArray) and the protobuf-JSON body of POST /v1/ticks
// (server/convert.h from_json), then what the server does with a decoded batch: the conversion
// into core Ticks (api.cc post_ticks), the batch check of LiveMarket::ingest (restated here with a
// fixed clock: it lives behind the store), and the CandleAggregator of every interval fed the
// accepted ticks.
// No reusable decode function exists yet; when the feeds add one, call it here instead.
// Checks, besides no crash, UB or leak:
//   - a decoded batch re-encodes to the same message, in binary and through to_json/from_json
//     (to_json() must not throw on anything the decoders accept);
//   - a JSON error names the body;
//   - bars built from accepted ticks: 0 < low <= open, close <= high, finite prices, volume >= 0
//     and not NaN (it can reach +inf: sizes are only checked to be finite), stamped with their
//     interval's open time; a bar a tick closes precedes the tick's bar; every tick is reported
//     in the bar of its own interval.
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/message_differencer.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/candle_aggregator.h"
#include "core/interval.h"
#include "fuzz_check.h"
#include "server/convert.h"
#include "server/live_market.h"

namespace {

using namespace tickgraph;

// LiveMarket::ingest refuses ticks after its clock plus an hour; the fuzz clock is fixed so that
// a crash reproduces.
constexpr Timestamp kNow = 4'102'444'800 * kSecond;  // 2100-01-01
constexpr Timestamp kMaxFutureSkew = kHour;

// Field by field, NaN equal to NaN. A proto3 field without presence that holds its default's value
// is the same as an absent one: a price of -0.0 is "set" in binary (its bits are not zero), printed
// as -0 in JSON, and protobuf's JSON parser reads the number -0 back as +0.0, which is absent.
bool same_message(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  differencer.set_message_field_comparison(google::protobuf::util::MessageDifferencer::EQUIVALENT);
  return differencer.Compare(a, b);
}

void check_round_trips(const v1::TickBatch& batch) {
  v1::TickBatch binary;
  FUZZ_CHECK(binary.ParseFromString(batch.SerializeAsString()), "binary re-encoding parses");
  FUZZ_CHECK(same_message(batch, binary), "binary round trip");
  // JSON has no unknown fields (a binary message may carry some: a field of another version).
  v1::TickBatch known = batch;
  known.DiscardUnknownFields();
  v1::TickBatch json;
  const Status s = server::from_json(server::to_json(batch), json, "to_json output");
  if (!s.ok()) std::fprintf(stderr, "%s\n", s.message().c_str());
  FUZZ_CHECK(s.ok(), "to_json output parses");
  FUZZ_CHECK(same_message(known, json), "JSON round trip");
}

void check_candle(const Candle& c, Interval interval) {
  FUZZ_CHECK(std::isfinite(c.open) && std::isfinite(c.high) && std::isfinite(c.low) &&
                 std::isfinite(c.close),
             "finite prices");
  FUZZ_CHECK(c.low > 0 && c.low <= c.open && c.open <= c.high, "open inside [low, high]");
  FUZZ_CHECK(c.low <= c.close && c.close <= c.high, "close inside [low, high]");
  FUZZ_CHECK(!std::isnan(c.volume) && c.volume >= 0, "volume >= 0");
  FUZZ_CHECK(bar_open_time(c.time, interval) == c.time, "stamped with an interval open time");
}

// What LiveMarket::ingest checks before anything is stored; true when the batch would be taken.
bool ingest_accepts(const std::vector<server::TickInput>& ticks) {
  for (const server::TickInput& t : ticks) {
    if (!std::isfinite(t.tick.price) || t.tick.price <= 0) return false;
    if (!std::isfinite(t.tick.size) || t.tick.size < 0) return false;
    if (t.symbol.empty()) return false;
    if (t.tick.time <= 0 || t.tick.time > kNow + kMaxFutureSkew) return false;
  }
  return !ticks.empty();
}

void aggregate(const std::vector<server::TickInput>& ticks) {
  for (const Interval interval : kAllIntervals) {
    std::map<std::string, CandleAggregator> by_symbol;
    for (const server::TickInput& t : ticks) {
      auto it = by_symbol.find(t.symbol);
      if (it == by_symbol.end()) {
        auto created = CandleAggregator::create(BarRule::time(interval));
        FUZZ_CHECK(created.ok(), "a time-bar aggregator is created");
        it = by_symbol.emplace(t.symbol, std::move(*created)).first;
      }
      const TickOutcome out = it->second.on_tick(t.tick);
      FUZZ_CHECK(out.verdict != TickVerdict::kInvalid, "a checked tick is valid");
      FUZZ_CHECK(out.bar_time == bar_open_time(t.tick.time, interval),
                 "a tick is reported in its interval's bar");
      if (out.closed) {
        check_candle(*out.closed, interval);
        FUZZ_CHECK(out.closed->time < *out.bar_time, "a closed bar precedes the new one");
      }
      if (auto forming = it->second.forming()) {
        check_candle(*forming, interval);
        if (out.accepted()) FUZZ_CHECK(forming->time == *out.bar_time, "the tick's bar forms");
      }
    }
    for (auto& [symbol, aggregator] : by_symbol) {
      if (auto last = aggregator.flush()) check_candle(*last, interval);
      const AggregatorStats stats = aggregator.stats();
      FUZZ_CHECK(stats.invalid_ticks == 0, "no invalid tick counted");
    }
  }
}

void check_batch(const v1::TickBatch& batch) {
  check_round_trips(batch);
  // api.cc post_ticks: the contract's ticks as core values.
  std::vector<server::TickInput> ticks;
  ticks.reserve(static_cast<std::size_t>(batch.ticks_size()));
  for (const auto& t : batch.ticks())
    ticks.push_back({t.symbol(), {t.time(), t.price(), t.size()}});
  if (ingest_accepts(ticks)) aggregate(ticks);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Invalid UTF-8 in a string field is a parse failure, which protobuf also logs every time.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  v1::TickBatch binary;
  if (binary.ParseFromArray(data, static_cast<int>(size))) check_batch(binary);

  // A single Tick as a feed message (one tick per Kafka record).
  v1::Tick one;
  if (one.ParseFromArray(data, static_cast<int>(size))) {
    v1::TickBatch batch;
    *batch.add_ticks() = one;
    check_batch(batch);
  }

  v1::TickBatch json;
  const Status s = server::from_json(fuzz::as_text(data, size), json, "request body");
  if (s.ok()) {
    check_batch(json);
  } else {
    FUZZ_CHECK(s.message().starts_with("request body"), "a JSON error names the body");
  }
  return 0;
}
