// A graph spec as written by a user, in YAML or JSON (same structure):
//
//   nodes:
//     ret:  {fn: pct_change, input: close}
//     vol:  {fn: volatility, input: ret, period: 20}
//     bb:   {fn: bbands, input: close, period: 20, k: 2}
//     beta: {fn: beta, inputs: [ret, "SPY:ret"], period: 60}
//
// Parsing checks only the shape (a `nodes` map of maps, `fn` present, `input` xor `inputs`,
// scalar parameters); meaning is checked by compile() in compiled_graph.h. Every node keeps the
// line it came from so later errors can point at it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "analytics/function.h"
#include "core/result.h"

namespace tickgraph::graph {

struct NodeSpec {
  std::string id;
  std::string fn;
  std::vector<std::string> inputs;          // as written: "close", "ret", "bb.upper", "SPY:ret"
  std::vector<analytics::RawParam> params;  // every other key, in spec order
  int line = 0;                             // 1-based line of the node's key; 0 if unknown
};

struct GraphSpec {
  std::string name;             // optional `name:`
  std::string source;           // where it came from ("spec.yaml", "request body"), for messages
  std::vector<NodeSpec> nodes;  // in spec order
};

// Parses YAML or JSON text. `source` names the origin in messages ("spec.yaml:4: …").
Result<GraphSpec> parse_spec(std::string_view text, std::string_view source);
// Reads and parses a file; the message names the file.
Result<GraphSpec> load_spec_file(const std::string& path);

// Writes the spec back as YAML (flow maps, one node per line), in spec order.
std::string to_yaml(const GraphSpec& spec);

}  // namespace tickgraph::graph
