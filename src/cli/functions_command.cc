// tickgraph functions [--json]: the function registry, as the graph compiler sees it.
#include <CLI/CLI.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "analytics/function.h"
#include "cli/commands.h"
#include "core/number_format.h"

namespace tickgraph::cli {

namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

int print_functions(bool as_json) {
  using analytics::FunctionSpec;
  if (as_json) {
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    for (const FunctionSpec& f : analytics::registry().all()) {
      nlohmann::ordered_json j;
      j["name"] = f.name;
      j["summary"] = f.summary;
      j["inputs"] = f.inputs;
      j["inputs_default_to_fields"] = f.inputs_default_to_fields;
      if (!f.constant_param.empty()) j["constant_param"] = f.constant_param;
      j["params"] = nlohmann::ordered_json::array();
      for (const auto& p : f.params) {
        j["params"].push_back({{"name", p.name},
                               {"type", p.type == analytics::ParamType::kInt ? "int" : "real"},
                               {"default", p.default_value},
                               {"min", p.min},
                               {"max", p.max},
                               {"help", p.help}});
      }
      j["accepts_window"] = f.accepts_window;
      j["outputs"] = f.outputs;
      j["output_units"] = nlohmann::ordered_json::array();
      for (std::size_t o = 0; o < f.units.size(); ++o) {
        const analytics::Unit& u = f.units[o];
        nlohmann::ordered_json unit = {{"name", o < f.outputs.size() ? f.outputs[o] : ""},
                                       {"unit", analytics::unit_name(u.kind)}};
        if (u.follows_input()) unit["input"] = u.input;
        if (u.kind == analytics::UnitKind::kBounded) {
          unit["min"] = u.min;
          unit["max"] = u.max;
        }
        j["output_units"].push_back(unit);
      }
      auto defaults = analytics::bind_params(f, {});
      if (defaults) j["lookback_at_defaults"] = f.lookback(*defaults).bars;
      all.push_back(j);
    }
    std::cout << all.dump(2) << "\n";
    return kExitOk;
  }
  for (const FunctionSpec& f : analytics::registry().all()) {
    std::cout << f.name << " - " << f.summary << "\n";
    std::cout << "  inputs:  " << join(f.inputs, ", ")
              << (f.inputs_default_to_fields ? "  (default: the bar fields of those names)" : "")
              << "\n";
    for (const auto& p : f.params) {
      std::cout << "  param:   " << p.name << " ("
                << (p.type == analytics::ParamType::kInt ? "int" : "real");
      if (p.name == f.constant_param) {
        std::cout << ", replaces the last input by a constant";
      } else {
        std::cout << ", default " << format_number(p.default_value) << ", range "
                  << format_number(p.min) << ".." << format_number(p.max);
      }
      std::cout << ") " << p.help << "\n";
    }
    if (f.accepts_window) {
      std::cout
          << "  param:   window (duration such as 5m, in place of period) time-based window\n";
    }
    for (std::size_t o = 0; o < f.units.size(); ++o) {
      std::cout << "  output:  "
                << (o < f.outputs.size() ? "<node>." + f.outputs[o] : std::string("<node>")) << " ("
                << analytics::describe_unit(f, o) << ")\n";
    }
    if (auto defaults = analytics::bind_params(f, {})) {
      std::cout << "  lookback at defaults: " << f.lookback(*defaults).bars << " bars\n";
    }
  }
  return kExitOk;
}

}  // namespace

void add_functions_command(CLI::App& app, Action& action) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("functions", "List the analytics functions and parameters");
  cmd->add_flag("--json", *as_json, "Print as JSON");
  cmd->callback([&action, as_json] { action = [as_json] { return print_functions(*as_json); }; });
}

}  // namespace tickgraph::cli
