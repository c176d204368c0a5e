// Between the engine's types (core, graph, analytics, store) and the Protobuf contract
// (proto/tickgraph/v1), and between contract messages and their JSON mapping.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "analytics/function.h"
#include "core/asset.h"
#include "core/candle.h"
#include "core/interval.h"
#include "core/result.h"
#include "graph/spec.h"
#include "graph/table.h"
#include "live/update_sink.h"
#include "store/store.h"
#include "tickgraph/v1/graph.pb.h"
#include "tickgraph/v1/market.pb.h"
#include "tickgraph/v1/stream.pb.h"

namespace tickgraph::server {

// JSON of a message by the standard mapping, with every field present (zeros included), so a
// client never has to guess a default.
std::string to_json(const google::protobuf::Message& message);
// Parses the JSON mapping into `message`; the error names the problem as protobuf reports it
// ("invalid JSON", an unknown field, a wrong type), prefixed with `what` ("request body").
Status from_json(std::string_view json, google::protobuf::Message& message, std::string_view what);

v1::Interval to_proto(Interval interval);
// INTERVAL_UNSPECIFIED and unknown values fail, naming `field`.
Result<Interval> from_proto(v1::Interval interval, std::string_view field);

v1::AssetClass to_proto(AssetClass c);
void to_proto(const Asset& asset, v1::Asset& out);
// Checks the symbol; an unspecified class is kOther.
Result<Asset> from_proto(const v1::Asset& asset);

void to_proto(const Candle& candle, v1::Candle& out);
Candle from_proto(const v1::Candle& candle);
void to_proto(std::string_view symbol, Interval interval, const CandleSeries& series,
              v1::CandleSeries& out);

// A column of values with NaN as null.
void to_proto(std::string_view name, std::span<const double> values, v1::Series& out);
// A result table's rows and the chosen columns (all when `columns` is empty).
void to_proto(const graph::Table& table, v1::AnalyticsResult& out);

// The engine's spec from the contract's; parameters become raw text ("20", "5m") for
// bind_params. Fails naming the node and parameter when a parameter is not a number or string.
Result<graph::GraphSpec> from_proto(const v1::GraphSpec& spec, std::string_view source);
void to_proto(const graph::GraphSpec& spec, v1::GraphSpec& out);

void to_proto(const analytics::FunctionSpec& fn, v1::Function& out);

// Fast writers for the two large responses, printing exactly what to_json() of the matching
// message would mean (the same fields, names and types; numbers in their shortest round-trip
// form, which protobuf's parser reads back to the same doubles). protobuf's own printer goes
// through reflection and costs ~7 ms per 1,000 candles; these cost ~0.1 ms.
// A tickgraph.v1.CandleSeries.
std::string candles_json(std::string_view symbol, Interval interval, const CandleSeries& series);
// A tickgraph.v1.AnalyticsResult; `columns` are (name, values) with NaN and infinities as null.
struct NamedColumn {
  std::string_view name;
  std::span<const double> values;
};
std::string analytics_json(std::string_view symbol, Interval interval, std::string_view graph,
                           std::int64_t version, std::span<const Timestamp> ts,
                           std::span<const NamedColumn> columns);

// A tickgraph.v1.StreamMessage holding one Update: the live stream's message, written for every
// client topic a batch changes (protobuf's printer would cost most of the engine's time at
// 50,000 ticks/s). `values` are (output, value), NaN and infinities as null; a candles-only
// update has none.
struct NamedValue {
  std::string_view name;
  double value = 0;
};
std::string update_json(std::string_view symbol, Interval interval, const Candle& bar, bool final,
                        std::string_view graph, std::span<const NamedValue> values,
                        Timestamp server_time);

// A live engine's update (live/update_sink.h) with the values of `columns` (indexes into
// update.topic.outputs; every one when empty): as a tickgraph.v1.Update (a non-finite value is
// null), and as StreamMessage JSON written directly by update_json().
void to_proto(const live::Update& update, std::span<const int> columns, v1::Update& out);
std::string update_json(const live::Update& update, std::span<const int> columns);

}  // namespace tickgraph::server
