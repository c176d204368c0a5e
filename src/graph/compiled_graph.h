// A validated, immutable analytics graph. compile() resolves every function, parameter and input
// of a GraphSpec, rejects what is wrong (naming the node and the problem) and orders the nodes so
// that each comes after its inputs. One CompiledGraph is shared by any number of runs, pull or
// push, on any asset: per-run state lives in the executors.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "analytics/function.h"
#include "core/candle.h"
#include "core/result.h"
#include "graph/spec.h"

namespace tickgraph::graph {

// One resolved input of a node.
struct InputRef {
  enum class Kind { kField, kNode };
  std::string symbol;  // "" = the asset the node is evaluated for; else another asset ("SPY")
  Kind kind = Kind::kField;
  Field field = Field::kClose;  // when kind == kField
  int node = -1;                // when kind == kNode: index into CompiledGraph::nodes()
  int output = 0;               // which output of that node
  std::string text;             // as written in the spec
};

struct CompiledNode {
  std::string id;
  const analytics::FunctionSpec* fn = nullptr;
  analytics::Params params;
  std::vector<InputRef> inputs;           // series inputs, in the function's input order
  std::vector<std::string> output_names;  // "sma20", or "bb.upper", "bb.middle", "bb.lower"
  analytics::Lookback lookback;           // of this function alone
  analytics::Lookback total_lookback;     // including everything upstream
  int line = 0;
};

// One column of the graph's output: output `output` of node `node`.
struct OutputColumn {
  int node = 0;
  int output = 0;
  std::string name;
};

struct CompileOptions {
  // When set, every other asset a spec names must satisfy it ("unknown asset" otherwise).
  std::function<bool(std::string_view symbol)> asset_exists;
};

class CompiledGraph;

// Validates and compiles. On failure the message lists every problem found, one per line, each
// as "SOURCE:LINE: node 'ID': PROBLEM": unknown function (with a suggestion), unknown or
// ambiguous input, wrong number of inputs, parameter errors, a cycle (with its path), an unknown
// asset.
Result<std::shared_ptr<const CompiledGraph>> compile(const GraphSpec& spec,
                                                     const CompileOptions& options = {});

class CompiledGraph {
 public:
  // Nodes in a topological order (inputs first); ties keep spec order.
  const std::vector<CompiledNode>& nodes() const { return nodes_; }
  // Every output of every node, in spec order: the columns of a result table.
  const std::vector<OutputColumn>& outputs() const { return outputs_; }
  // Index of the node with this id, or -1.
  int find(std::string_view id) const;
  // The largest total lookback of any node: how much history a run must load before the first
  // value it reports. Components are maxima taken separately.
  const analytics::Lookback& lookback() const { return lookback_; }
  // Other assets the graph reads ("SPY" in "SPY:ret"), sorted, without duplicates.
  const std::vector<std::string>& referenced_symbols() const { return symbols_; }
  const std::string& name() const { return name_; }

 private:
  friend Result<std::shared_ptr<const CompiledGraph>> compile(const GraphSpec&,
                                                              const CompileOptions&);
  std::string name_;
  std::vector<CompiledNode> nodes_;
  std::vector<OutputColumn> outputs_;
  analytics::Lookback lookback_;
  std::vector<std::string> symbols_;
};

// The maximum number of series inputs any function takes (vwap: high, low, close, volume).
inline constexpr int kMaxInputs = 4;

}  // namespace tickgraph::graph
