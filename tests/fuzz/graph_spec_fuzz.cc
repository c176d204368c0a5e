// Graph specs from outside: the YAML/JSON text parser (graph/spec.h; `graph validate`, `compute
// --spec`, POST/PUT /v1/graphs with Content-Type application/yaml) and the protobuf-JSON GraphSpec
// of POST/PUT /v1/graphs (server/convert.h from_json + from_proto). The same bytes go both ways.
// Checks, besides no crash, UB or leak:
//   - every error has a message that names the source;
//   - a spec that compiles (other assets limited to valid symbols, as only those can be stored)
//     survives what the server does with it: /v1/graphs stores to_yaml() of the spec named by its
//     validated id, so parse_spec(to_yaml(spec)) must give the same name and nodes (id, fn,
//     inputs, parameters in order) and compile again to the same output columns. (Not for any
//     name: yaml-cpp reads invalid UTF-8 inside a double-quoted scalar back as U+FFFD, and the
//     server refuses such names with valid_graph_id.)
//   - the product's core promise on it: pull and push over a short series (and one for every
//     other asset the spec names, up to 4) give the same table, bit for bit.
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/asset.h"
#include "fuzz_check.h"
#include "graph/compiled_graph.h"
#include "graph/pull_executor.h"
#include "graph/push_executor.h"
#include "graph/spec.h"
#include "server/convert.h"

namespace {

using namespace tickgraph;

constexpr std::string_view kSource = "fuzz spec";
constexpr std::size_t kMaxAssets = 4;  // more other assets than this: skip the runs

// A deterministic series: `n` one-minute bars from a fixed walk, missing every `gap`th bar so
// that assets' calendars differ.
CandleSeries series(std::size_t n, std::size_t gap, double drift) {
  CandleSeries s;
  double price = 100;
  Timestamp t = 1'600'000'000 * kSecond;
  for (std::size_t i = 0; i < n; ++i) {
    t += kMinute;
    if (gap != 0 && i % gap == gap - 1) continue;
    const double open = price;
    price *= 1 + drift * std::sin(static_cast<double>(i) * 0.7);
    const double wiggle = 1 + 0.002 * static_cast<double>(i % 5);
    s.push_back({t, open, std::max(open, price) * wiggle, std::min(open, price) / wiggle, price,
                 static_cast<double>(100 + (i * 37) % 1000)});
  }
  return s;
}

bool same_bits(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) ||
         std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

bool same_nodes(const graph::GraphSpec& a, const graph::GraphSpec& b) {
  if (a.name != b.name || a.nodes.size() != b.nodes.size()) return false;
  for (std::size_t i = 0; i < a.nodes.size(); ++i) {
    const graph::NodeSpec& x = a.nodes[i];
    const graph::NodeSpec& y = b.nodes[i];
    if (x.id != y.id || x.fn != y.fn || x.inputs != y.inputs || x.params.size() != y.params.size())
      return false;
    for (std::size_t k = 0; k < x.params.size(); ++k) {
      if (x.params[k].name != y.params[k].name || x.params[k].text != y.params[k].text)
        return false;
    }
  }
  return true;
}

graph::CompileOptions compile_options() {
  graph::CompileOptions options;
  options.asset_exists = [](std::string_view symbol) { return validate_symbol(symbol).ok(); };
  return options;
}

void check_spec(graph::GraphSpec spec) {
  auto compiled = graph::compile(spec, compile_options());
  if (!compiled) {
    FUZZ_CHECK(!compiled.message().empty(), "a compile error has a message");
    return;
  }
  const graph::CompiledGraph& g = **compiled;

  // What PUT /v1/graphs stores, read back as GET /v1/graphs and /analytics read it.
  spec.name = "fuzz-graph.1";
  const std::string yaml = graph::to_yaml(spec);
  auto reparsed = graph::parse_spec(yaml, kSource);
  if (!reparsed) std::fprintf(stderr, "to_yaml gave:\n%s\n", yaml.c_str());
  FUZZ_CHECK(reparsed.ok(), "to_yaml() of a compiled spec parses");
  if (!same_nodes(spec, *reparsed)) std::fprintf(stderr, "to_yaml gave:\n%s\n", yaml.c_str());
  FUZZ_CHECK(same_nodes(spec, *reparsed), "to_yaml() round-trips name and nodes");
  auto recompiled = graph::compile(*reparsed, compile_options());
  FUZZ_CHECK(recompiled.ok(), "the stored spec compiles again");
  FUZZ_CHECK((*recompiled)->outputs().size() == g.outputs().size(), "same output columns");
  for (std::size_t i = 0; i < g.outputs().size(); ++i) {
    FUZZ_CHECK((*recompiled)->outputs()[i].name == g.outputs()[i].name, "same output names");
  }

  // Push equals pull, over a short history (some nodes stay in warm-up: NaN on both sides).
  if (g.referenced_symbols().size() > kMaxAssets) return;
  const std::string primary = "FUZZ";
  graph::MarketData data;
  data.emplace(primary, series(60, 0, 0.01));
  std::size_t k = 0;
  for (const std::string& symbol : g.referenced_symbols()) {
    data.emplace(symbol, series(60, 5 + k, 0.02 + 0.01 * static_cast<double>(k)));
    ++k;
  }
  graph::TimeRange range;
  range.from = data[primary].time[20];  // a range that needs warm-up history
  auto pull = graph::run_pull(*compiled, primary, data, range);
  auto push = graph::run_push(*compiled, primary, data, range);
  FUZZ_CHECK(pull.ok() == push.ok(), "pull and push agree on failing");
  if (!pull) return;
  FUZZ_CHECK(pull->time == push->time && pull->columns == push->columns, "same rows and columns");
  for (std::size_t c = 0; c < pull->columns.size(); ++c) {
    FUZZ_CHECK(pull->values[c].size() == pull->rows() && push->values[c].size() == pull->rows(),
               "full columns");
    for (std::size_t r = 0; r < pull->rows(); ++r) {
      if (!same_bits(pull->values[c][r], push->values[c][r])) {
        std::fprintf(stderr, "column %s row %zu: pull %.17g push %.17g\n", pull->columns[c].c_str(),
                     r, pull->values[c][r], push->values[c][r]);
      }
      FUZZ_CHECK(same_bits(pull->values[c][r], push->values[c][r]), "push equals pull");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = tickgraph::fuzz::as_text(data, size);

  auto spec = graph::parse_spec(text, kSource);
  if (spec) {
    FUZZ_CHECK(!spec->nodes.empty(), "a parsed spec has nodes");
    check_spec(*spec);
  } else {
    FUZZ_CHECK(spec.message().starts_with(kSource), "a parse error names the source");
  }

  v1::GraphSpec message;
  if (Status s = server::from_json(text, message, "request body"); !s.ok()) {
    FUZZ_CHECK(s.message().starts_with("request body"), "a JSON error names the body");
    return 0;
  }
  auto from_message = server::from_proto(message, kSource);
  if (!from_message) {
    FUZZ_CHECK(from_message.message().starts_with(kSource), "a GraphSpec error names the source");
    return 0;
  }
  // POST /v1/graphs refuses a spec without nodes before compiling it.
  if (!from_message->nodes.empty()) check_spec(*from_message);
  return 0;
}
