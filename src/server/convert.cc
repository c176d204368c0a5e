#include "server/convert.h"

#include <google/protobuf/util/json_util.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>

#include "core/number_format.h"

namespace tickgraph::server {

namespace pbutil = google::protobuf::util;

std::string to_json(const google::protobuf::Message& message) {
  std::string out;
  pbutil::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  // Printing a well-formed message cannot fail; a failure is a programming error.
  if (!pbutil::MessageToJsonString(message, &out, options).ok()) {
    throw std::logic_error("cannot print " + message.GetTypeName() + " as JSON");
  }
  return out;
}

Status from_json(std::string_view json, google::protobuf::Message& message, std::string_view what) {
  const auto status = pbutil::JsonStringToMessage(json, &message);
  if (status.ok()) return {};
  return Status::invalid_argument(std::string(what) + " is not a valid " + message.GetTypeName() +
                                  ": " + std::string(status.message()));
}

v1::Interval to_proto(Interval interval) {
  return static_cast<v1::Interval>(static_cast<int>(interval) + 1);
}

Result<Interval> from_proto(v1::Interval interval, std::string_view field) {
  const int i = static_cast<int>(interval) - 1;
  if (i < 0 || i >= static_cast<int>(kAllIntervals.size())) {
    return Status::invalid_argument(std::string(field) +
                                    ": an interval is required (INTERVAL_1S … INTERVAL_1W)");
  }
  return kAllIntervals[static_cast<std::size_t>(i)];
}

v1::AssetClass to_proto(AssetClass c) {
  return static_cast<v1::AssetClass>(static_cast<int>(c) + 1);
}

void to_proto(const Asset& asset, v1::Asset& out) {
  out.set_id(asset.id);
  out.set_symbol(asset.symbol);
  out.set_name(asset.name);
  out.set_asset_class(to_proto(asset.asset_class));
  out.set_currency(asset.currency);
  out.set_exchange(asset.exchange);
  for (const auto& [key, value] : asset.attributes) (*out.mutable_attributes())[key] = value;
}

Result<Asset> from_proto(const v1::Asset& in) {
  if (auto s = validate_symbol(in.symbol()); !s) return s.with_prefix("symbol: ");
  Asset asset;
  asset.symbol = in.symbol();
  asset.name = in.name();
  asset.asset_class = in.asset_class() == v1::ASSET_CLASS_UNSPECIFIED
                          ? AssetClass::kOther
                          : static_cast<AssetClass>(static_cast<int>(in.asset_class()) - 1);
  asset.currency = in.currency();
  asset.exchange = in.exchange();
  for (const auto& [key, value] : in.attributes()) asset.attributes[key] = value;
  return asset;
}

void to_proto(const Candle& candle, v1::Candle& out) {
  out.set_time(candle.time);
  out.set_open(candle.open);
  out.set_high(candle.high);
  out.set_low(candle.low);
  out.set_close(candle.close);
  out.set_volume(candle.volume);
}

Candle from_proto(const v1::Candle& c) {
  return {c.time(), c.open(), c.high(), c.low(), c.close(), c.volume()};
}

void to_proto(std::string_view symbol, Interval interval, const CandleSeries& series,
              v1::CandleSeries& out) {
  out.set_symbol(std::string(symbol));
  out.set_interval(to_proto(interval));
  out.mutable_ts()->Add(series.time.begin(), series.time.end());
  out.mutable_open()->Add(series.open.begin(), series.open.end());
  out.mutable_high()->Add(series.high.begin(), series.high.end());
  out.mutable_low()->Add(series.low.begin(), series.low.end());
  out.mutable_close()->Add(series.close.begin(), series.close.end());
  out.mutable_volume()->Add(series.volume.begin(), series.volume.end());
}

void to_proto(std::string_view name, std::span<const double> values, v1::Series& out) {
  out.set_name(std::string(name));
  auto* list = out.mutable_values();
  list->mutable_values()->Reserve(static_cast<int>(values.size()));
  for (const double v : values) {
    auto* value = list->add_values();
    if (std::isfinite(v)) {
      value->set_number_value(v);
    } else {
      value->set_null_value(google::protobuf::NULL_VALUE);
    }
  }
}

void to_proto(const graph::Table& table, v1::AnalyticsResult& out) {
  out.mutable_ts()->Add(table.time.begin(), table.time.end());
  for (std::size_t c = 0; c < table.columns.size(); ++c) {
    to_proto(table.columns[c], table.values[c], *out.add_series());
  }
}

Result<graph::GraphSpec> from_proto(const v1::GraphSpec& in, std::string_view source) {
  graph::GraphSpec spec;
  spec.name = in.name();
  spec.source = std::string(source);
  for (int i = 0; i < in.nodes_size(); ++i) {
    const v1::NodeSpec& n = in.nodes(i);
    graph::NodeSpec node;
    node.id = n.id();
    node.fn = n.fn();
    const std::string where =
        std::string(source) + ": nodes[" + std::to_string(i) + "] ('" + n.id() + "')";
    if (node.id.empty()) {
      return Status::invalid_argument(where + ": id is empty")
          .with_field("nodes[" + std::to_string(i) + "].id");
    }
    if (node.fn.empty()) {
      return Status::invalid_argument(where + ": fn is empty").with_detail("node", node.id);
    }
    node.inputs.assign(n.inputs().begin(), n.inputs().end());
    // Parameters in name order (protobuf maps have none of their own), so the stored YAML and
    // the graph's version do not depend on the order a client wrote them in.
    std::map<std::string, std::string> params;
    for (const auto& [name, value] : n.params()) {
      if (value.kind_case() == google::protobuf::Value::kNumberValue) {
        params[name] = format_number(value.number_value());
      } else if (value.kind_case() == google::protobuf::Value::kStringValue) {
        params[name] = value.string_value();
      } else {
        return Status::invalid_argument(where + ": parameter '" + name +
                                        "' must be a number or a string")
            .with_detail("node", node.id)
            .with_parameter(name);
      }
    }
    for (auto& [name, text] : params) node.params.push_back({name, std::move(text)});
    spec.nodes.push_back(std::move(node));
  }
  return spec;
}

void to_proto(const graph::GraphSpec& spec, v1::GraphSpec& out) {
  out.set_name(spec.name);
  for (const graph::NodeSpec& n : spec.nodes) {
    auto* node = out.add_nodes();
    node->set_id(n.id);
    node->set_fn(n.fn);
    for (const auto& input : n.inputs) node->add_inputs(input);
    for (const auto& p : n.params) {
      google::protobuf::Value value;
      char* end = nullptr;
      const double number = std::strtod(p.text.c_str(), &end);
      if (!p.text.empty() && end == p.text.c_str() + p.text.size() && std::isfinite(number)) {
        value.set_number_value(number);
      } else {
        value.set_string_value(p.text);
      }
      (*node->mutable_params())[p.name] = value;
    }
  }
}

namespace {

v1::Unit unit_to_proto(analytics::UnitKind kind) {
  using analytics::UnitKind;
  switch (kind) {
    case UnitKind::kSameAsInput:
      return v1::UNIT_SAME_AS_INPUT;
    case UnitKind::kSameUnitsAsInput:
      return v1::UNIT_SAME_UNITS_AS_INPUT;
    case UnitKind::kSquareOfInput:
      return v1::UNIT_SQUARE_OF_INPUT;
    case UnitKind::kBounded:
      return v1::UNIT_BOUNDED;
    case UnitKind::kPercent:
      return v1::UNIT_PERCENT;
    case UnitKind::kRatio:
      return v1::UNIT_RATIO;
    case UnitKind::kUnbounded:
      return v1::UNIT_UNBOUNDED;
  }
  return v1::UNIT_UNSPECIFIED;
}

}  // namespace

void to_proto(const analytics::FunctionSpec& fn, v1::Function& out) {
  out.set_name(fn.name);
  out.set_summary(fn.summary);
  for (const auto& input : fn.inputs) out.add_inputs(input);
  for (const auto& output : fn.outputs) out.add_outputs(output);
  out.set_accepts_window(fn.accepts_window);
  for (std::size_t j = 0; j < fn.units.size(); ++j) {
    const analytics::Unit& unit = fn.units[j];
    auto* o = out.add_output_units();
    if (j < fn.outputs.size()) o->set_name(fn.outputs[j]);
    o->set_unit(unit_to_proto(unit.kind));
    if (unit.follows_input()) o->set_input(unit.input);
    if (unit.kind == analytics::UnitKind::kBounded) {
      o->set_min(unit.min);
      o->set_max(unit.max);
    }
  }
  for (const auto& p : fn.params) {
    auto* param = out.add_params();
    param->set_name(p.name);
    param->set_type(p.type == analytics::ParamType::kInt ? "int" : "double");
    param->set_default_value(p.default_value);
    param->set_min(p.min);
    param->set_max(p.max);
    param->set_help(p.help);
  }
}

namespace {

void append_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (const char c : text) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out.append(buf);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

// int64 as a JSON string, as the mapping requires.
void append_times(std::string& out, std::span<const Timestamp> ts) {
  out.push_back('[');
  char buf[24];
  for (std::size_t i = 0; i < ts.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, ts[i]);
    out.append(buf, end);
    out.push_back('"');
  }
  out.push_back(']');
}

void append_numbers(std::string& out, std::span<const double> values) {
  out.push_back('[');
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (std::isfinite(values[i])) {
      append_number(out, values[i]);
    } else {
      out.append("null");
    }
  }
  out.push_back(']');
}

std::string_view interval_enum_name(Interval interval) {
  return v1::Interval_Name(to_proto(interval));
}

}  // namespace

std::string candles_json(std::string_view symbol, Interval interval, const CandleSeries& series) {
  std::string out;
  out.reserve(128 + series.size() * 100);
  out.append("{\"symbol\":");
  append_string(out, symbol);
  out.append(",\"interval\":\"").append(interval_enum_name(interval)).append("\",\"ts\":");
  append_times(out, series.time);
  const std::pair<const char*, const std::vector<double>*> fields[] = {{"open", &series.open},
                                                                       {"high", &series.high},
                                                                       {"low", &series.low},
                                                                       {"close", &series.close},
                                                                       {"volume", &series.volume}};
  for (const auto& [name, values] : fields) {
    out.append(",\"").append(name).append("\":");
    append_numbers(out, *values);
  }
  out.push_back('}');
  return out;
}

std::string analytics_json(std::string_view symbol, Interval interval, std::string_view graph,
                           std::int64_t version, std::span<const Timestamp> ts,
                           std::span<const NamedColumn> columns) {
  std::string out;
  out.reserve(256 + ts.size() * (24 + 20 * columns.size()));
  out.append("{\"symbol\":");
  append_string(out, symbol);
  out.append(",\"interval\":\"").append(interval_enum_name(interval)).append("\",\"graph\":");
  append_string(out, graph);
  out.append(",\"version\":\"").append(std::to_string(version)).append("\",\"ts\":");
  append_times(out, ts);
  out.append(",\"series\":[");
  for (std::size_t c = 0; c < columns.size(); ++c) {
    if (c > 0) out.push_back(',');
    out.append("{\"name\":");
    append_string(out, columns[c].name);
    out.append(",\"values\":");
    append_numbers(out, columns[c].values);
    out.push_back('}');
  }
  out.append("]}");
  return out;
}

std::string update_json(std::string_view symbol, Interval interval, const Candle& bar, bool final,
                        std::string_view graph, std::span<const NamedValue> values,
                        Timestamp server_time) {
  std::string out;
  out.reserve(200 + values.size() * 32);
  char buf[24];
  auto int64 = [&](std::int64_t v) {  // int64 as a JSON string, as the mapping requires
    out.push_back('"');
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
    out.push_back('"');
  };
  auto number = [&](double v) {  // a double field: non-finite ones as the mapping's strings
    if (std::isfinite(v)) {
      append_number(out, v);
    } else {
      out.append(std::isnan(v) ? "\"NaN\"" : (v > 0 ? "\"Infinity\"" : "\"-Infinity\""));
    }
  };
  out.append("{\"update\":{\"symbol\":");
  append_string(out, symbol);
  out.append(",\"interval\":\"")
      .append(interval_enum_name(interval))
      .append("\",\"candle\":{\"time\":");
  int64(bar.time);
  const std::pair<const char*, double> fields[] = {{",\"open\":", bar.open},
                                                   {",\"high\":", bar.high},
                                                   {",\"low\":", bar.low},
                                                   {",\"close\":", bar.close},
                                                   {",\"volume\":", bar.volume}};
  for (const auto& [name, value] : fields) {
    out.append(name);
    number(value);
  }
  out.append("},\"final\":").append(final ? "true" : "false").append(",\"graph\":");
  append_string(out, graph);
  out.append(",\"values\":{");
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_string(out, values[i].name);
    out.push_back(':');
    if (std::isfinite(values[i].value)) {
      append_number(out, values[i].value);
    } else {
      out.append("null");
    }
  }
  out.append("},\"serverTime\":");
  int64(server_time);
  out.append("}}");
  return out;
}

namespace {

// Calls put(c) for each chosen column: every one when `columns` is empty.
template <typename Put>
void for_columns(const live::Update& update, std::span<const int> columns, Put put) {
  if (update.values.empty()) return;
  if (columns.empty()) {
    for (std::size_t c = 0; c < update.values.size(); ++c) put(c);
  } else {
    for (const int c : columns) put(static_cast<std::size_t>(c));
  }
}

}  // namespace

void to_proto(const live::Update& update, std::span<const int> columns, v1::Update& out) {
  out.set_symbol(update.topic.symbol);
  out.set_interval(to_proto(update.topic.interval));
  to_proto(update.bar, *out.mutable_candle());
  out.set_final(update.final);
  out.set_graph(update.topic.graph);
  out.set_server_time(update.server_time);
  auto& values = *out.mutable_values();
  for_columns(update, columns, [&](std::size_t c) {
    google::protobuf::Value v;
    if (std::isfinite(update.values[c])) {
      v.set_number_value(update.values[c]);
    } else {
      v.set_null_value(google::protobuf::NULL_VALUE);
    }
    values[update.topic.outputs[c]] = v;
  });
}

std::string update_json(const live::Update& update, std::span<const int> columns) {
  std::vector<NamedValue> values;
  for_columns(update, columns, [&](std::size_t c) {
    values.push_back({update.topic.outputs[c], update.values[c]});
  });
  return update_json(update.topic.symbol, update.topic.interval, update.bar, update.final,
                     update.topic.graph, values, update.server_time);
}

}  // namespace tickgraph::server
