// The function registry: the single list of every indicator tickgraph knows, with its inputs,
// parameters (type, default, valid range), outputs and lookback. The graph compiler validates
// node specs against it; `tickgraph functions` prints it; the server serves it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "analytics/kernel.h"
#include "core/result.h"
#include "core/time.h"

namespace tickgraph::analytics {

enum class ParamType { kInt, kReal };

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::kInt;
  double default_value = 0;
  double min = 0;  // inclusive
  double max = 0;  // inclusive
  std::string help;
};

// Parameter values after validation: every ParamSpec of the function has a value (given or
// default), plus the optional time window.
class Params {
 public:
  void set(std::string name, double value);
  bool has(std::string_view name) const;
  double get(std::string_view name) const;  // asserts the name is present
  int get_int(std::string_view name) const { return static_cast<int>(get(name)); }
  // Time window in ns when the node uses `window: DURATION` in place of `period`; 0 otherwise.
  Duration window = 0;

  const std::vector<std::pair<std::string, double>>& values() const { return values_; }

 private:
  std::vector<std::pair<std::string, double>> values_;
};

// How much history a function needs before its first valid output.
struct Lookback {
  std::int64_t bars = 0;  // the first valid output is at bar index `bars` (TA-Lib's lookback)
  Duration time = 0;      // for time windows: the first valid output is `time` after the first bar
  // Extra bars after which a recursive function (EMA family, Wilder smoothing) has forgotten its
  // seed to about 1e-6 relative. The pull executor loads them too when the store has them, so a
  // value does not depend on where the asked range starts.
  std::int64_t settle = 0;

  Lookback then(const Lookback& next) const {  // this function feeding `next`
    return {bars + next.bars, time + next.time, settle + next.settle};
  }
};

struct FunctionSpec {
  std::string name;
  std::string summary;
  // Names of the inputs in order, e.g. {"input"}, {"high", "low", "close"}, {"a", "b"}.
  std::vector<std::string> inputs;
  // When true and a node names no inputs, input k reads the bar field named inputs[k].
  bool inputs_default_to_fields = false;
  // When non-empty, the name of a parameter that, if given, replaces the last input by a
  // constant (`{fn: mul, input: ret, value: 100}`).
  std::string constant_param;
  std::vector<ParamSpec> params;
  // Output names; empty means one output, named after the node.
  std::vector<std::string> outputs;
  // True when `window: DURATION` may replace `period` (a time-based rolling window).
  bool accepts_window = false;
  std::function<Lookback(const Params&)> lookback;
  std::function<std::unique_ptr<Kernel>(const Params&)> make;
  // Optional check of constraints between parameters (e.g. macd's fast < slow), run by
  // bind_params after each value passed its own range check. The message names the parameters.
  std::function<Status(const Params&)> check;

  std::size_t output_count() const { return outputs.empty() ? 1 : outputs.size(); }
  // Number of series inputs a node with these params reads.
  std::size_t input_count(const Params& p) const {
    return !constant_param.empty() && p.has(constant_param) ? inputs.size() - 1 : inputs.size();
  }
};

// A parameter as written in a spec: its name, its text, and where it came from for messages.
struct RawParam {
  std::string name;
  std::string text;
};

// Validates raw parameters against the function: unknown names, non-numbers, non-integers for
// integer parameters, values out of range, `window` given where not accepted or together with
// `period`. The message names the parameter, its value and the valid range.
Result<Params> bind_params(const FunctionSpec& fn, const std::vector<RawParam>& raw);

class Registry {
 public:
  explicit Registry(std::vector<FunctionSpec> functions);
  const FunctionSpec* find(std::string_view name) const;            // nullptr when unknown
  std::span<const FunctionSpec> all() const { return functions_; }  // ordered by name

 private:
  std::vector<FunctionSpec> functions_;
};

// The registry of every built-in function. Built once; safe to read from any thread.
const Registry& registry();

}  // namespace tickgraph::analytics
