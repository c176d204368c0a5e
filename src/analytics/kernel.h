// The per-node computation state of one indicator, shared by the pull and push executors.
//
// A Kernel is built (by the registry) from validated parameters and then fed bars in time order.
// It has three ways in, which must agree bit for bit (tests/property checks this for every
// function in the registry):
//   - push(t, in, out): commit one closed bar and write its outputs;
//   - peek(t, in, out): the outputs a push of this bar would give, state unchanged (for the
//     still-forming bar);
//   - batch(t, in, out, n): n bars from a fresh kernel, as n pushes would do, leaving the state as
//     they would (so a push run can continue from a batch run: the warm start).
// Outputs before the function's lookback is reached are NaN. Inputs are finite by contract: the
// executors do not feed a node until all its inputs have produced a value (leading NaN is
// warm-up); a NaN arriving later propagates as IEEE arithmetic does.
//
// Thread-safety: none; one kernel belongs to one (asset, node) run at a time.
#pragma once

#include <cstddef>
#include <limits>

#include "core/time.h"

namespace tickgraph::analytics {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class Kernel {
 public:
  virtual ~Kernel() = default;
  // in[k] is the value of input k for bar time t; out[j] receives output j.
  virtual void push(Timestamp t, const double* in, double* out) = 0;
  virtual void peek(Timestamp t, const double* in, double* out) const = 0;
  // in[k] points at n values of input k, t at n strictly increasing times, out[j] at n slots.
  // Precondition: no bar has been pushed yet.
  virtual void batch(const Timestamp* t, const double* const* in, double* const* out,
                     std::size_t n) = 0;
};

}  // namespace tickgraph::analytics
