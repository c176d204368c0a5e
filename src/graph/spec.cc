#include "graph/spec.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace tickgraph::graph {

namespace {

std::string where(const GraphSpec& spec, const YAML::Mark& mark) {
  if (mark.line < 0) return spec.source;
  return spec.source + ":" + std::to_string(mark.line + 1);
}

// A spec error at `at`; `node` (when given) is the node it concerns, and `parameter` its parameter.
Result<GraphSpec> fail(const GraphSpec& spec, const YAML::Node& at, const std::string& message,
                       const std::string& node = "", const std::string& parameter = "") {
  Status s = Status::invalid_argument(where(spec, at.Mark()) + ": " + message);
  if (!node.empty()) s = s.with_detail("node", node);
  if (!parameter.empty()) s = s.with_parameter(parameter);
  return s;
}

}  // namespace

Result<GraphSpec> parse_spec(std::string_view text, std::string_view source) {
  GraphSpec spec;
  spec.source = std::string(source);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return Status::invalid_argument(spec.source + ":" + std::to_string(e.mark.line + 1) + ":" +
                                    std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) {
    return Status::invalid_argument(spec.source + ": expected a map with a 'nodes' key");
  }
  YAML::Node nodes;
  bool has_nodes = false;
  for (const auto& kv : root) {
    if (!kv.first.IsScalar()) return fail(spec, kv.first, "keys must be plain names");
    const std::string key = kv.first.as<std::string>();
    if (key == "nodes") {
      nodes = kv.second;
      has_nodes = true;
    } else if (key == "name") {
      if (!kv.second.IsScalar()) return fail(spec, kv.second, "'name' must be a string");
      spec.name = kv.second.as<std::string>();
    } else if (key != "description") {
      return fail(spec, kv.first, "unknown key '" + key + "' (expected nodes, name, description)");
    }
  }
  if (!has_nodes) return Status::invalid_argument(spec.source + ": missing 'nodes'");
  if (!nodes.IsMap()) return fail(spec, nodes, "'nodes' must be a map of node id to node");
  for (const auto& kv : nodes) {
    NodeSpec node;
    if (!kv.first.IsScalar()) return fail(spec, kv.first, "node ids must be strings");
    node.id = kv.first.as<std::string>();
    node.line = kv.first.Mark().line + 1;
    const std::string prefix = "node '" + node.id + "': ";
    for (const NodeSpec& other : spec.nodes) {
      if (other.id == node.id) {
        return fail(spec, kv.first,
                    prefix + "defined twice (first on line " + std::to_string(other.line) + ")",
                    node.id);
      }
    }
    const YAML::Node& body = kv.second;
    if (!body.IsMap())
      return fail(spec, body, prefix + "expected a map like {fn: sma, input: close}", node.id);
    bool has_input = false;
    for (const auto& field : body) {
      if (!field.first.IsScalar())
        return fail(spec, field.first, prefix + "keys must be plain names", node.id);
      const std::string key = field.first.as<std::string>();
      const YAML::Node& value = field.second;
      if (key == "fn") {
        if (!value.IsScalar())
          return fail(spec, value, prefix + "'fn' must be a function name", node.id);
        node.fn = value.as<std::string>();
      } else if (key == "input" || key == "inputs") {
        if (has_input)
          return fail(spec, field.first, prefix + "give either 'input' or 'inputs'", node.id);
        has_input = true;
        if (value.IsScalar()) {
          node.inputs.push_back(value.as<std::string>());
        } else if (value.IsSequence()) {
          for (const auto& item : value) {
            if (!item.IsScalar())
              return fail(spec, item, prefix + "each input must be a name", node.id);
            node.inputs.push_back(item.as<std::string>());
          }
          if (node.inputs.empty()) return fail(spec, value, prefix + "'inputs' is empty", node.id);
        } else {
          return fail(spec, value, prefix + "'" + key + "' must be a name or a list of names",
                      node.id);
        }
      } else {
        if (!value.IsScalar()) {
          return fail(spec, value, prefix + "parameter '" + key + "' must be a single value",
                      node.id, key);
        }
        node.params.push_back({key, value.as<std::string>()});
      }
    }
    if (node.fn.empty())
      return fail(spec, body, prefix + "missing 'fn' (the function to apply)", node.id);
    spec.nodes.push_back(std::move(node));
  }
  if (spec.nodes.empty()) return fail(spec, nodes, "'nodes' is empty");
  return spec;
}

Result<GraphSpec> load_spec_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::invalid_argument(path + ": cannot open graph spec");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_spec(buf.str(), path);
}

std::string to_yaml(const GraphSpec& spec) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  if (!spec.name.empty()) out << YAML::Key << "name" << YAML::Value << spec.name;
  out << YAML::Key << "nodes" << YAML::Value << YAML::BeginMap;
  for (const NodeSpec& n : spec.nodes) {
    out << YAML::Key << n.id << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "fn" << YAML::Value << n.fn;
    if (n.inputs.size() == 1) {
      out << YAML::Key << "input" << YAML::Value << n.inputs[0];
    } else if (!n.inputs.empty()) {
      out << YAML::Key << "inputs" << YAML::Value << YAML::Flow << n.inputs;
    }
    for (const auto& p : n.params) out << YAML::Key << p.name << YAML::Value << p.text;
    out << YAML::EndMap;
  }
  out << YAML::EndMap << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace tickgraph::graph
