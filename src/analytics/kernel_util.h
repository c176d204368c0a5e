// Building blocks for kernels (internal to analytics/). Every kernel is a small class with
// non-virtual push/peek (and optionally batch); KernelFor wraps it into the virtual Kernel, and
// gives it a batch loop over the very same inline push when it has none of its own, which is how
// batch and push stay bit-identical.
#pragma once

#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <memory>
#include <utility>
#include <vector>

#include "analytics/function.h"
#include "analytics/kernel.h"

namespace tickgraph::analytics {

template <class Impl>
concept HasOwnBatch = requires(Impl k, const Timestamp* t, const double* const* in,
                               double* const* out, std::size_t n) {
  k.batch(t, in, out, n);
};

// Impl provides: static constexpr int kInputs, kOutputs;
//   void push(Timestamp t, const double* in, double* out);
//   void peek(Timestamp t, const double* in, double* out) const;
//   optionally void batch(const Timestamp*, const double* const*, double* const*, std::size_t).
template <class Impl>
class KernelFor final : public Kernel {
 public:
  template <class... Args>
  explicit KernelFor(Args&&... args) : impl_(std::forward<Args>(args)...) {}

  void push(Timestamp t, const double* in, double* out) override { impl_.push(t, in, out); }
  void peek(Timestamp t, const double* in, double* out) const override { impl_.peek(t, in, out); }
  void batch(const Timestamp* t, const double* const* in, double* const* out,
             std::size_t n) override {
    if constexpr (HasOwnBatch<Impl>) {
      impl_.batch(t, in, out, n);
    } else {
      Impl k = std::move(impl_);  // a local copy keeps the state in registers
      double x[Impl::kInputs];
      double y[Impl::kOutputs];
      for (std::size_t i = 0; i < n; ++i) {
        for (int j = 0; j < Impl::kInputs; ++j) x[j] = in[j][i];
        k.push(t[i], x, y);
        for (int j = 0; j < Impl::kOutputs; ++j) out[j][i] = y[j];
      }
      impl_ = std::move(k);
    }
  }

  Impl& impl() { return impl_; }

 private:
  Impl impl_;
};

template <class Impl, class... Args>
std::unique_ptr<Kernel> make_kernel(Args&&... args) {
  return std::make_unique<KernelFor<Impl>>(std::forward<Args>(args)...);
}

// A FIFO of the values inside a rolling window: a circular buffer that grows by doubling, so a
// count window of N holds at most N entries and a time window holds what its span contains.
template <class T>
class RingBuffer {
 public:
  explicit RingBuffer(std::size_t capacity = 8) : data_(round_up(capacity)) {}

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T& front() const { return data_[head_]; }
  const T& back() const { return data_[(head_ + size_ - 1) & mask()]; }
  // i-th oldest entry.
  const T& operator[](std::size_t i) const { return data_[(head_ + i) & mask()]; }
  void push_back(const T& v) {
    if (size_ == data_.size()) grow();
    data_[(head_ + size_) & mask()] = v;
    ++size_;
  }
  void pop_front() {
    head_ = (head_ + 1) & mask();
    --size_;
  }
  void pop_back() { --size_; }
  void clear() { head_ = size_ = 0; }

 private:
  static std::size_t round_up(std::size_t n) {
    std::size_t c = 1;
    while (c < n) c <<= 1;
    return c;
  }
  std::size_t mask() const { return data_.size() - 1; }
  void grow() {
    std::vector<T> bigger(data_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = (*this)[i];
    data_ = std::move(bigger);
    head_ = 0;
  }
  std::vector<T> data_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

// Two doubles in one SSE2 (or NEON) register, a GCC and Clang vector extension. Each lane is IEEE
// arithmetic like the scalar operation, so results are bit for bit those of the scalar code:
// batch loops use it to work on two bars (or two sums) at once without leaving push's arithmetic.
using Pair = double __attribute__((vector_size(16)));

inline Pair load_pair(const double* p) {
  Pair v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_pair(double* p, Pair v) { std::memcpy(p, &v, sizeof v); }
// Square root of each lane (one instruction for both on SSE2).
inline Pair sqrt_pair(Pair v) {
#if defined(__SSE2__)
  return _mm_sqrt_pd(v);
#else
  return Pair{std::sqrt(v[0]), std::sqrt(v[1])};
#endif
}

// Bars of history an exponential smoothing with factor alpha needs before its seed weighs less
// than 1e-6: ceil(ln(1e-6) / ln(1 - alpha)).
inline std::int64_t settle_bars(double alpha) {
  if (alpha >= 1.0) return 0;
  return static_cast<std::int64_t>(std::ceil(std::log(1e-6) / std::log1p(-alpha)));
}

// Lookbacks of the common windows: `period` bars, whose first full window ends at bar period-1;
// or, when the node gives `window`, a time window (valid once the data spans it).
inline Lookback period_window_lookback(const Params& p) { return {p.get_int("period") - 1, 0, 0}; }
inline Lookback period_or_time_window_lookback(const Params& p) {
  return p.window ? Lookback{0, p.window, 0} : period_window_lookback(p);
}

// The common parameter specs, so every function spells them the same way.
ParamSpec period_param(double default_value, double min = 1, double max = 100000);

// Registration entry points, one per family file (the single list is in registry.cc).
void add_moving_averages(std::vector<FunctionSpec>& out);  // sma ema wma dema tema macd
void add_deviation(std::vector<FunctionSpec>& out);        // stddev var bbands zscore volatility
void add_momentum(std::vector<FunctionSpec>& out);         // rsi mom roc pct_change log_return
void add_range(std::vector<FunctionSpec>& out);            // trange atr willr cci stoch
void add_extremes(std::vector<FunctionSpec>& out);         // rolling_max rolling_min drawdown
void add_volume(std::vector<FunctionSpec>& out);           // obv vwap
void add_pairs(std::vector<FunctionSpec>& out);            // correlation beta
void add_arithmetic(std::vector<FunctionSpec>& out);       // add sub mul div

}  // namespace tickgraph::analytics
