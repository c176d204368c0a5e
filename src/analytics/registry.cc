#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>

#include "analytics/function.h"
#include "analytics/kernel_util.h"
#include "core/number_format.h"

namespace tickgraph::analytics {

void Params::set(std::string name, double value) {
  for (auto& [n, v] : values_) {
    if (n == name) {
      v = value;
      return;
    }
  }
  values_.emplace_back(std::move(name), value);
}

bool Params::has(std::string_view name) const {
  return std::any_of(values_.begin(), values_.end(),
                     [&](const auto& p) { return p.first == name; });
}

double Params::get(std::string_view name) const {
  for (const auto& [n, v] : values_) {
    if (n == name) return v;
  }
  assert(false && "parameter not bound");
  return kNaN;
}

std::string_view unit_name(UnitKind kind) {
  switch (kind) {
    case UnitKind::kSameAsInput:
      return "same_as_input";
    case UnitKind::kSameUnitsAsInput:
      return "same_units_as_input";
    case UnitKind::kSquareOfInput:
      return "square_of_input";
    case UnitKind::kBounded:
      return "bounded";
    case UnitKind::kPercent:
      return "percent";
    case UnitKind::kRatio:
      return "ratio";
    case UnitKind::kUnbounded:
      return "unbounded";
  }
  return "unbounded";
}

std::string describe_unit(const FunctionSpec& fn, std::size_t j) {
  const Unit& u = fn.units[j];
  const std::string input =
      u.follows_input() && static_cast<std::size_t>(u.input) < fn.inputs.size()
          ? "input '" + fn.inputs[static_cast<std::size_t>(u.input)] + "'"
          : "input " + std::to_string(u.input);
  switch (u.kind) {
    case UnitKind::kSameAsInput:
      return "same units and level as " + input;
    case UnitKind::kSameUnitsAsInput:
      return "same units as " + input + ", not its level";
    case UnitKind::kSquareOfInput:
      return "square of the units of " + input;
    case UnitKind::kBounded:
      return "bounded " + format_number(u.min) + ".." + format_number(u.max);
    case UnitKind::kPercent:
      return "percent (1 = 1 %)";
    case UnitKind::kRatio:
      return "ratio (0.01 = 1 %)";
    case UnitKind::kUnbounded:
      return "unbounded, no units of its own";
  }
  return "unbounded, no units of its own";
}

ParamSpec period_param(double default_value, double min, double max) {
  return {"period", ParamType::kInt, default_value, min, max, "window length in bars"};
}

Result<Params> bind_params(const FunctionSpec& fn, const std::vector<RawParam>& raw) {
  Params out;
  bool has_period = false;
  for (const RawParam& r : raw) {
    if (r.name == "window") {
      if (!fn.accepts_window) {
        return Status::invalid_argument("parameter 'window': " + fn.name +
                                        " takes no time window (use period)")
            .with_parameter("window");
      }
      auto d = parse_duration(r.text);
      if (!d) return d.status().with_prefix("parameter 'window': ").with_parameter("window");
      out.window = *d;
      continue;
    }
    auto spec = std::find_if(fn.params.begin(), fn.params.end(),
                             [&](const ParamSpec& p) { return p.name == r.name; });
    if (spec == fn.params.end()) {
      std::string known;
      for (const auto& p : fn.params) known += (known.empty() ? "" : ", ") + p.name;
      if (fn.accepts_window) known += (known.empty() ? "" : ", ") + std::string("window");
      return Status::invalid_argument(
                 "unknown parameter '" + r.name + "' for " + fn.name +
                 (known.empty() ? " (it takes none)" : " (expected " + known + ")"))
          .with_parameter(r.name);
    }
    double v = 0;
    const char* end = r.text.data() + r.text.size();
    auto [p, ec] = std::from_chars(r.text.data(), end, v);
    if (ec != std::errc() || p != end || !std::isfinite(v)) {
      return Status::invalid_argument("parameter '" + r.name + "': '" + r.text +
                                      "' is not a number")
          .with_parameter(r.name);
    }
    if (spec->type == ParamType::kInt && v != std::floor(v)) {
      return Status::invalid_argument("parameter '" + r.name + "': '" + r.text +
                                      "' is not an integer")
          .with_parameter(r.name);
    }
    if (v < spec->min || v > spec->max) {
      return Status::invalid_argument("parameter '" + r.name + "' = " + r.text +
                                      " is out of range [" + format_number(spec->min) + ", " +
                                      format_number(spec->max) + "]")
          .with_parameter(r.name);
    }
    if (r.name == "period") has_period = true;
    out.set(r.name, v);
  }
  if (out.window != 0 && has_period) {
    return Status::invalid_argument("parameters 'period' and 'window' exclude each other")
        .with_parameter("period");
  }
  for (const ParamSpec& p : fn.params) {
    if (!out.has(p.name) && !(p.name == fn.constant_param)) out.set(p.name, p.default_value);
  }
  if (fn.check) {
    if (Status s = fn.check(out); !s.ok()) return s;
  }
  return out;
}

Registry::Registry(std::vector<FunctionSpec> functions) : functions_(std::move(functions)) {
  std::sort(functions_.begin(), functions_.end(),
            [](const FunctionSpec& a, const FunctionSpec& b) { return a.name < b.name; });
}

const FunctionSpec* Registry::find(std::string_view name) const {
  auto it = std::lower_bound(functions_.begin(), functions_.end(), name,
                             [](const FunctionSpec& f, std::string_view n) { return f.name < n; });
  return it != functions_.end() && it->name == name ? &*it : nullptr;
}

const Registry& registry() {
  static const Registry kRegistry = [] {
    std::vector<FunctionSpec> all;
    add_moving_averages(all);
    add_deviation(all);
    add_momentum(all);
    add_range(all);
    add_extremes(all);
    add_volume(all);
    add_pairs(all);
    add_arithmetic(all);
    return Registry(std::move(all));
  }();
  return kRegistry;
}

}  // namespace tickgraph::analytics
