#include "graph/compiled_graph.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/asset.h"

namespace tickgraph::graph {

namespace {

using analytics::FunctionSpec;
using analytics::Lookback;

constexpr std::pair<std::string_view, Field> kFields[] = {{"open", Field::kOpen},
                                                          {"high", Field::kHigh},
                                                          {"low", Field::kLow},
                                                          {"close", Field::kClose},
                                                          {"volume", Field::kVolume}};

const Field* find_field(std::string_view name) {
  for (const auto& [n, f] : kFields) {
    if (n == name) return &f;
  }
  return nullptr;
}

bool valid_node_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  auto ok_first = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; };
  auto ok = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  return ok_first(id.front()) && std::all_of(id.begin(), id.end(), ok);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string suggest_function(std::string_view name) {
  std::string best;
  std::size_t best_d = 3;  // suggest only close matches
  for (const FunctionSpec& f : analytics::registry().all()) {
    const std::size_t d = edit_distance(name, f.name);
    if (d < best_d) {
      best_d = d;
      best = f.name;
    }
  }
  return best.empty() ? " (see `tickgraph functions`)" : " (did you mean '" + best + "'?)";
}

Lookback max_of(const Lookback& a, const Lookback& b) {
  return {std::max(a.bars, b.bars), std::max(a.time, b.time), std::max(a.settle, b.settle)};
}

}  // namespace

int CompiledGraph::find(std::string_view id) const {
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].id == id) return static_cast<int>(i);
  }
  return -1;
}

Result<std::shared_ptr<const CompiledGraph>> compile(const GraphSpec& spec,
                                                     const CompileOptions& options) {
  // Every problem is reported, one per line; the details name the first one's node, and its
  // parameter or input when it concerns one, so that a form can show it next to that field.
  std::vector<std::string> errors;
  std::vector<StatusDetail> first_details;
  auto error = [&](const NodeSpec& n, const std::string& what,
                   std::vector<StatusDetail> details = {}) {
    if (errors.empty()) {
      first_details = {{"node", n.id}};
      first_details.insert(first_details.end(), details.begin(), details.end());
    }
    errors.push_back(spec.source + ":" + std::to_string(n.line) + ": node '" + n.id + "': " + what);
  };

  // Spec order index. A spec built in code or from JSON (not parsed from YAML, whose parser
  // refuses repeated keys) may repeat an id; refuse it here, naming the first definition.
  std::map<std::string, int, std::less<>> index_by_id;
  for (std::size_t i = 0; i < spec.nodes.size(); ++i) {
    const auto [at, added] = index_by_id.emplace(spec.nodes[i].id, static_cast<int>(i));
    if (!added) {
      error(spec.nodes[i], "defined twice (first as node " + std::to_string(at->second + 1) + ")");
    }
  }

  // Pass 1: functions, parameters and node ids.
  std::vector<CompiledNode> nodes(spec.nodes.size());
  for (std::size_t i = 0; i < spec.nodes.size(); ++i) {
    const NodeSpec& ns = spec.nodes[i];
    CompiledNode& cn = nodes[i];
    cn.id = ns.id;
    cn.line = ns.line;
    if (!valid_node_id(ns.id)) {
      error(ns, "invalid node id (use letters, digits and _, starting with a letter or _)");
    } else if (find_field(ns.id)) {
      error(ns, "'" + ns.id + "' is a bar field and cannot be a node id");
    }
    cn.fn = analytics::registry().find(ns.fn);
    if (!cn.fn) {
      error(ns, "unknown function '" + ns.fn + "'" + suggest_function(ns.fn));
      continue;
    }
    auto params = analytics::bind_params(*cn.fn, ns.params);
    if (!params) {
      std::vector<StatusDetail> details;
      if (auto name = params.status().detail("parameter"); !name.empty()) {
        details.push_back({"parameter", std::string(name)});
      }
      error(ns, params.message(), std::move(details));
      cn.fn = nullptr;
      continue;
    }
    cn.params = std::move(*params);
    cn.lookback = cn.fn->lookback(cn.params);
    if (cn.fn->outputs.empty()) {
      cn.output_names.push_back(cn.id);
    } else {
      for (const auto& o : cn.fn->outputs) cn.output_names.push_back(cn.id + "." + o);
    }
  }

  // Pass 2: inputs.
  std::set<std::string> symbols;
  std::vector<std::vector<int>> deps(nodes.size());
  for (std::size_t i = 0; i < spec.nodes.size(); ++i) {
    const NodeSpec& ns = spec.nodes[i];
    CompiledNode& cn = nodes[i];
    if (!cn.fn) continue;
    const FunctionSpec& fn = *cn.fn;
    const std::size_t wanted = fn.input_count(cn.params);
    std::vector<std::string> texts = ns.inputs;
    if (texts.empty() && fn.inputs_default_to_fields) {
      texts.assign(fn.inputs.begin(), fn.inputs.begin() + static_cast<std::ptrdiff_t>(wanted));
    }
    if (texts.size() != wanted) {
      std::string names;
      for (std::size_t k = 0; k < wanted; ++k) names += (k ? ", " : "") + fn.inputs[k];
      error(ns, fn.name + " takes " + std::to_string(wanted) + " input" + (wanted == 1 ? "" : "s") +
                    " (" + names + "), got " + std::to_string(texts.size()) +
                    (texts.empty() ? "; add 'input: close' or 'inputs: [...]'" : ""));
      continue;
    }
    for (const std::string& text : texts) {
      InputRef ref;
      ref.text = text;
      std::string_view rest = text;
      if (auto colon = rest.find(':'); colon != std::string_view::npos) {
        ref.symbol = std::string(rest.substr(0, colon));
        rest.remove_prefix(colon + 1);
        if (!validate_symbol(ref.symbol).ok()) {
          error(ns, "input '" + text + "': invalid asset symbol '" + ref.symbol + "'",
                {{"input", text}});
          continue;
        }
        if (options.asset_exists && !options.asset_exists(ref.symbol)) {
          error(ns, "input '" + text + "': unknown asset '" + ref.symbol + "'",
                {{"input", text}, {"asset", ref.symbol}});
          continue;
        }
        symbols.insert(ref.symbol);
      }
      std::string_view name = rest, output;
      if (auto dot = rest.find('.'); dot != std::string_view::npos) {
        name = rest.substr(0, dot);
        output = rest.substr(dot + 1);
      }
      if (const Field* f = find_field(name); f && output.empty()) {
        ref.kind = InputRef::Kind::kField;
        ref.field = *f;
        cn.inputs.push_back(ref);
        continue;
      }
      auto it = index_by_id.find(name);
      if (it == index_by_id.end()) {
        error(ns,
              "unknown input '" + text +
                  "' (expected a bar field open, high, low, close, volume or a node id)",
              {{"input", text}});
        continue;
      }
      const CompiledNode& src = nodes[static_cast<std::size_t>(it->second)];
      ref.kind = InputRef::Kind::kNode;
      ref.node = it->second;
      if (src.fn) {
        const auto& outs = src.fn->outputs;
        if (output.empty()) {
          if (outs.size() > 1) {
            std::string names;
            for (const auto& o : outs)
              names += (names.empty() ? "" : ", ") + std::string(name) + "." + o;
            error(ns, "input '" + text + "' has several outputs; name one of " + names,
                  {{"input", text}});
            continue;
          }
        } else {
          auto o = std::find(outs.begin(), outs.end(), output);
          if (o == outs.end()) {
            std::string names = outs.empty() ? std::string(name) : std::string();
            for (const auto& x : outs)
              names += (names.empty() ? "" : ", ") + std::string(name) + "." + x;
            error(ns,
                  "input '" + text + "': node '" + std::string(name) + "' has no output '" +
                      std::string(output) + "' (it has " + names + ")",
                  {{"input", text}});
            continue;
          }
          ref.output = static_cast<int>(o - outs.begin());
        }
      }
      if (ref.node == static_cast<int>(i)) {  // also across assets: SPY:a needs SPY:a
        error(ns, "cycle: " + ns.id + " -> " + ns.id);
        continue;
      }
      deps[i].push_back(ref.node);
      cn.inputs.push_back(ref);
    }
  }

  // Cycles, reported with their path, found by depth-first search over node dependencies.
  std::vector<int> state(nodes.size(), 0);  // 0 new, 1 on stack, 2 done
  std::vector<int> stack;
  std::set<std::set<int>> reported;
  std::function<void(int)> visit = [&](int v) {
    state[static_cast<std::size_t>(v)] = 1;
    stack.push_back(v);
    for (int d : deps[static_cast<std::size_t>(v)]) {
      if (d == v) continue;  // self-reference reported above
      if (state[static_cast<std::size_t>(d)] == 1) {
        auto from = std::find(stack.begin(), stack.end(), d);
        std::set<int> members(from, stack.end());
        if (reported.insert(members).second) {
          std::string path;
          for (auto it = from; it != stack.end(); ++it)
            path += spec.nodes[static_cast<std::size_t>(*it)].id + " -> ";
          path += spec.nodes[static_cast<std::size_t>(d)].id;
          error(spec.nodes[static_cast<std::size_t>(d)], "cycle: " + path);
        }
      } else if (state[static_cast<std::size_t>(d)] == 0) {
        visit(d);
      }
    }
    stack.pop_back();
    state[static_cast<std::size_t>(v)] = 2;
  };
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (state[i] == 0) visit(static_cast<int>(i));
  }

  if (!errors.empty()) {
    std::string message;
    for (const auto& e : errors) message += (message.empty() ? "" : "\n") + e;
    Status failed = Status::invalid_argument(std::move(message));
    for (auto& d : first_details) failed = failed.with_detail(std::move(d.key), std::move(d.value));
    return failed;
  }

  // Topological order: repeatedly take the first node (in spec order) whose inputs are placed.
  std::vector<int> order;
  std::vector<bool> placed(nodes.size(), false);
  while (order.size() < nodes.size()) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (placed[i]) continue;
      const bool ready = std::all_of(deps[i].begin(), deps[i].end(),
                                     [&](int d) { return placed[static_cast<std::size_t>(d)]; });
      if (ready) {
        placed[i] = true;
        order.push_back(static_cast<int>(i));
        break;
      }
    }
  }
  std::vector<int> new_index(nodes.size());
  for (std::size_t k = 0; k < order.size(); ++k)
    new_index[static_cast<std::size_t>(order[k])] = static_cast<int>(k);

  auto graph = std::make_shared<CompiledGraph>();
  graph->name_ = spec.name;
  for (int old : order) {
    CompiledNode cn = std::move(nodes[static_cast<std::size_t>(old)]);
    Lookback upstream;
    for (InputRef& ref : cn.inputs) {
      if (ref.kind == InputRef::Kind::kNode) {
        ref.node = new_index[static_cast<std::size_t>(ref.node)];
        upstream =
            max_of(upstream, graph->nodes_[static_cast<std::size_t>(ref.node)].total_lookback);
      }
    }
    cn.total_lookback = upstream.then(cn.lookback);
    graph->lookback_ = max_of(graph->lookback_, cn.total_lookback);
    graph->nodes_.push_back(std::move(cn));
  }
  for (std::size_t i = 0; i < spec.nodes.size(); ++i) {
    const int n = new_index[i];
    const CompiledNode& cn = graph->nodes_[static_cast<std::size_t>(n)];
    for (std::size_t o = 0; o < cn.output_names.size(); ++o) {
      graph->outputs_.push_back({n, static_cast<int>(o), cn.output_names[o]});
    }
  }
  graph->symbols_.assign(symbols.begin(), symbols.end());
  return std::shared_ptr<const CompiledGraph>(std::move(graph));
}

}  // namespace tickgraph::graph
