// The function registry: the single list of every indicator tickgraph knows, with its inputs,
// parameters (type, default, valid range), outputs and what each output measures (its unit),
// lookback, and the TA-Lib function it agrees with. The graph compiler validates node specs
// against it; `tickgraph functions` prints it; the server serves it (`GET /v1/functions`), and the
// web UI places every series on the chart from the units it gives.
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

// What an output's values measure: their units and where they lie. A client places a series from
// it (the web UI draws an output on the scale its unit resolves to, following the inputs a node
// reads); a reader learns what to expect. The kinds are a closed list:
enum class UnitKind {
  // The units and level of input `input`: a smoothing, band, extreme or weighted average of it
  // (sma, ema, bbands, rolling_max, vwap). Over a price it is a price, drawn with the candles;
  // over rsi it is on rsi's 0..100 scale.
  kSameAsInput,
  // The units of input `input`, but not its level: a change (mom), a gap between two averages
  // (macd), a spread (stddev, atr, trange, volatility), a signed running total (obv, of volume),
  // a sum or difference (add, sub). Around 0, or small beside input `input`: over a price it is a
  // price difference, never drawn on the price scale.
  kSameUnitsAsInput,
  // The square of input `input`'s units (var: price squared, over prices).
  kSquareOfInput,
  // Within the fixed range [min, max], whatever the input: rsi and stoch 0..100, willr -100..0,
  // correlation -1..1.
  kBounded,
  // A change in percent, whatever the input's units: 1 is 1 % (roc).
  kPercent,
  // A dimensionless fraction, whatever the input's units: 0.01 is 1 % (pct_change, log_return,
  // drawdown).
  kRatio,
  // No units of its own and no fixed range: a dimensionless statistic (zscore, beta, cci), or a
  // product or quotient whose units depend on its operands (mul, div).
  kUnbounded,
};

// One output's unit. Built with the factories, so that `input` is set exactly for the kinds that
// follow an input and `min`/`max` exactly for kBounded.
struct Unit {
  UnitKind kind = UnitKind::kUnbounded;
  int input = -1;  // the kinds that follow an input: its index in FunctionSpec::inputs; else -1
  double min = 0;  // kBounded: the inclusive range; else 0
  double max = 0;

  static constexpr Unit same_as_input(int k) { return {UnitKind::kSameAsInput, k}; }
  static constexpr Unit same_units_as_input(int k) { return {UnitKind::kSameUnitsAsInput, k}; }
  static constexpr Unit square_of_input(int k) { return {UnitKind::kSquareOfInput, k}; }
  static constexpr Unit bounded(double lo, double hi) { return {UnitKind::kBounded, -1, lo, hi}; }
  static constexpr Unit percent() { return {UnitKind::kPercent}; }
  static constexpr Unit ratio() { return {UnitKind::kRatio}; }
  static constexpr Unit unbounded() { return {UnitKind::kUnbounded}; }

  bool follows_input() const { return input >= 0; }
  bool operator==(const Unit&) const = default;
};

// The kind's name as `tickgraph functions --json` prints it: "same_as_input", "bounded", … (the
// proto enum tickgraph.v1.Unit spells them UNIT_SAME_AS_INPUT, UNIT_BOUNDED, …).
std::string_view unit_name(UnitKind kind);

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
  // The TA-Lib function that computes the same numbers ("SMA", "ROCP" for pct_change), or empty
  // when TA-Lib has none. It names the function's oracle: talib_reference_test.cc must have rows
  // for exactly the functions that give one, and reference_test.cc a naive reference for each of
  // the others.
  std::string talib;
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
  // What each output measures, in the order of `outputs` (one entry when `outputs` is empty).
  // Every function gives them; registry_test checks that none is missing.
  std::vector<Unit> units;
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

// The unit of output j of `fn` for people: "same units and level as input 'close'", "bounded
// 0..100", "ratio (0.01 = 1 %)". Precondition: j < fn.units.size().
std::string describe_unit(const FunctionSpec& fn, std::size_t j);

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
