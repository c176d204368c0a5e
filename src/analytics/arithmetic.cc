// Element-wise arithmetic: add, sub, mul, div of inputs a and b (TA-Lib ADD/SUB/MULT/DIV), or of a
// and the constant `value` when the node gives one (`{fn: mul, input: ret, value: 100}`). IEEE
// semantics throughout: x / 0 is +-inf, 0 / 0 is NaN.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "analytics/kernel_util.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace tickgraph::analytics {

namespace {

// Writes y[i] = value(i) for i in [0, n). These kernels only stream memory, so how the output is
// written is most of their cost: an output of 16 MiB or more (beyond what the caches keep) is
// written around the cache in whole 64-byte lines with x86-64 non-temporal stores, which saves
// reading each line before overwriting it; the values are the same either way.
template <class Value>
void write_series(double* y, std::size_t n, Value value) {
  std::size_t i = 0;
#if defined(__x86_64__)
  constexpr std::size_t kStreamFrom = (std::size_t{16} << 20) / sizeof(double);
  constexpr std::size_t kLine = 64 / sizeof(double);
  if (n >= kStreamFrom) {
    for (; i < n && reinterpret_cast<std::uintptr_t>(y + i) % 64 != 0; ++i) y[i] = value(i);
    for (; i + kLine <= n; i += kLine) {
      for (std::size_t k = i; k < i + kLine; k += 2) {
        _mm_stream_pd(y + k, _mm_set_pd(value(k + 1), value(k)));
      }
    }
    _mm_sfence();
  }
#endif
  for (; i < n; ++i) y[i] = value(i);
}

struct Add {
  static double apply(double a, double b) { return a + b; }
};
struct Sub {
  static double apply(double a, double b) { return a - b; }
};
struct Mul {
  static double apply(double a, double b) { return a * b; }
};
struct Div {
  static double apply(double a, double b) { return a / b; }
};

template <class Op>
class Binary {
 public:
  static constexpr int kInputs = 2;
  static constexpr int kOutputs = 1;

  void push(Timestamp, const double* in, double* out) { out[0] = Op::apply(in[0], in[1]); }
  void peek(Timestamp, const double* in, double* out) const { out[0] = Op::apply(in[0], in[1]); }
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    const double* a = in[0];
    const double* b = in[1];
    write_series(out[0], n, [a, b](std::size_t i) { return Op::apply(a[i], b[i]); });
  }
};

template <class Op>
class WithConstant {
 public:
  static constexpr int kInputs = 1;
  static constexpr int kOutputs = 1;
  explicit WithConstant(double value) : value_(value) {}

  void push(Timestamp, const double* in, double* out) { out[0] = Op::apply(in[0], value_); }
  void peek(Timestamp, const double* in, double* out) const { out[0] = Op::apply(in[0], value_); }
  void batch(const Timestamp*, const double* const* in, double* const* out, std::size_t n) {
    const double* a = in[0];
    const double b = value_;
    write_series(out[0], n, [a, b](std::size_t i) { return Op::apply(a[i], b); });
  }

 private:
  double value_;
};

template <class Op>
FunctionSpec arithmetic(const char* name, const char* talib, const char* summary, Unit unit) {
  return {
      .name = name,
      .summary = summary,
      .talib = talib,
      .inputs = {"a", "b"},
      .constant_param = "value",
      .params = {{"value", ParamType::kReal, 0, std::numeric_limits<double>::lowest(),
                  std::numeric_limits<double>::max(), "constant used in place of input b"}},
      .units = {unit},
      .lookback =
          [](const Params&) {
            return Lookback{0, 0, 0};
          },
      .make =
          [](const Params& p) {
            return p.has("value") ? make_kernel<WithConstant<Op>>(p.get("value"))
                                  : make_kernel<Binary<Op>>();
          },
  };
}

}  // namespace

void add_arithmetic(std::vector<FunctionSpec>& out) {
  // A sum or difference is in a's units (b's must be the same) but not necessarily at a's level
  // (close - sma is a price difference); a product or quotient has the units its operands make.
  out.push_back(arithmetic<Add>("add", "ADD", "a + b", Unit::same_units_as_input(0)));
  out.push_back(arithmetic<Sub>("sub", "SUB", "a - b", Unit::same_units_as_input(0)));
  out.push_back(arithmetic<Mul>("mul", "MULT", "a * b", Unit::unbounded()));
  out.push_back(arithmetic<Div>("div", "DIV", "a / b (IEEE: x / 0 is +-inf, 0 / 0 is NaN)",
                                Unit::unbounded()));
}

}  // namespace tickgraph::analytics
