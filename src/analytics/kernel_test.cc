// Laws every kernel in the registry must obey, checked for each one without a per-function list:
// batch equals push bit for bit, peek then push equals push, a push run can continue a batch run,
// and outputs are NaN exactly before the declared lookback.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>

#include "analytics/function.h"

namespace tickgraph::analytics {
namespace {

struct Bars {
  std::vector<Timestamp> t;
  std::vector<double> open, high, low, close, volume, other;
};

// A random walk with coherent OHLCV, one bar a minute with occasional gaps.
Bars random_bars(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> step(0.0, 0.01);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Bars b;
  double price = 100, other = 50;
  Timestamp t = 1'600'000'000 * kSecond;
  for (std::size_t i = 0; i < n; ++i) {
    t += kMinute * (u(rng) < 0.1 ? 3 : 1);
    const double open = price;
    price *= std::exp(step(rng));
    other *= std::exp(0.5 * step(rng) + 0.5 * (std::log(price) - std::log(open)));
    const double hi = std::max(open, price) * (1 + 0.005 * u(rng));
    const double lo = std::min(open, price) * (1 - 0.005 * u(rng));
    b.t.push_back(t);
    b.open.push_back(open);
    b.high.push_back(hi);
    b.low.push_back(lo);
    b.close.push_back(price);
    b.volume.push_back(std::floor(1000 + 9000 * u(rng)));
    b.other.push_back(other);
  }
  return b;
}

const std::vector<double>& field(const Bars& b, const std::string& name) {
  if (name == "open") return b.open;
  if (name == "high") return b.high;
  if (name == "low") return b.low;
  if (name == "volume") return b.volume;
  return b.close;
}

struct Case {
  const FunctionSpec* fn;
  Params params;
  std::string label;
};

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const FunctionSpec& f : registry().all()) {
    auto p = bind_params(f, {});
    EXPECT_TRUE(p.ok()) << f.name << ": " << p.message();
    cases.push_back({&f, *p, f.name});
    if (!f.constant_param.empty()) {
      auto c = bind_params(f, {{f.constant_param, "2.5"}});
      EXPECT_TRUE(c.ok()) << c.message();
      cases.push_back({&f, *c, f.name + " with constant"});
    }
    if (f.accepts_window) {
      auto w = bind_params(f, {{"window", "15m"}});
      EXPECT_TRUE(w.ok()) << w.message();
      cases.push_back({&f, *w, f.name + " window 15m"});
    }
  }
  return cases;
}

// The inputs a node with default wiring would read: bar fields for multi-field functions,
// close (and a second correlated series) otherwise.
std::vector<const double*> inputs_for(const Case& c, const Bars& b) {
  std::vector<const double*> in;
  const std::size_t k = c.fn->input_count(c.params);
  for (std::size_t i = 0; i < k; ++i) {
    if (c.fn->inputs_default_to_fields)
      in.push_back(field(b, c.fn->inputs[i]).data());
    else
      in.push_back(i == 0 ? b.close.data() : b.other.data());
  }
  return in;
}

bool same(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

// Runs a kernel bar by bar; returns outputs[o][i].
std::vector<std::vector<double>> run_push(Kernel& k, const Case& c, const Bars& b,
                                          const std::vector<const double*>& in, std::size_t from,
                                          std::size_t to, bool peek_first) {
  const std::size_t outs = c.fn->output_count();
  std::vector<std::vector<double>> result(outs, std::vector<double>(b.t.size(), kNaN));
  std::vector<double> x(in.size()), y(outs), z(outs);
  for (std::size_t i = from; i < to; ++i) {
    for (std::size_t j = 0; j < in.size(); ++j) x[j] = in[j][i];
    if (peek_first) {
      // A forming bar seen twice at other prices, then the real one: state must not move.
      std::vector<double> xp = x;
      for (double& v : xp) v *= 1.01;
      k.peek(b.t[i], xp.data(), z.data());
      k.peek(b.t[i], x.data(), z.data());
    }
    k.push(b.t[i], x.data(), y.data());
    for (std::size_t o = 0; o < outs; ++o) {
      result[o][i] = y[o];
      if (peek_first) {
        EXPECT_TRUE(same(z[o], y[o]))
            << "bar " << i << " output " << o << ": peek " << z[o] << " push " << y[o];
      }
    }
  }
  return result;
}

void expect_same(const std::vector<std::vector<double>>& a,
                 const std::vector<std::vector<double>>& b, const char* what) {
  for (std::size_t o = 0; o < a.size(); ++o) {
    for (std::size_t i = 0; i < a[o].size(); ++i) {
      ASSERT_TRUE(same(a[o][i], b[o][i]))
          << what << ": bar " << i << " output " << o << ": " << a[o][i] << " vs " << b[o][i];
    }
  }
}

TEST(KernelLaws, BatchPushAndPeekAgreeBitForBit) {
  // Checks for every registered function: batch equals push (every output of every bar written),
  // peek before push equals push, and pushing after a batch continues exactly as an all-push run.
  const Bars b = random_bars(3000, 7);
  const std::size_t n = b.t.size(), half = n / 2 + 17;
  for (const Case& c : all_cases()) {
    SCOPED_TRACE(c.label);
    const auto in = inputs_for(c, b);
    const std::size_t outs = c.fn->output_count();

    auto pushed_kernel = c.fn->make(c.params);
    const auto pushed = run_push(*pushed_kernel, c, b, in, 0, n, false);
    auto peeked_kernel = c.fn->make(c.params);
    expect_same(pushed, run_push(*peeked_kernel, c, b, in, 0, n, true), "peek+push vs push");

    // Not NaN: batch must write every output of every bar, the warm-up's NaN included (the pull
    // executor does not fill its arrays first).
    constexpr double kUnwritten = -7.25e77;
    std::vector<std::vector<double>> batch(outs, std::vector<double>(n, kUnwritten));
    std::vector<double*> out_ptrs;
    for (auto& o : batch) out_ptrs.push_back(o.data());
    auto k = c.fn->make(c.params);
    k->batch(b.t.data(), in.data(), out_ptrs.data(), half);
    const auto rest = run_push(*k, c, b, in, half, n, false);
    for (std::size_t o = 0; o < outs; ++o) {
      std::copy(rest[o].begin() + static_cast<std::ptrdiff_t>(half), rest[o].end(),
                batch[o].begin() + static_cast<std::ptrdiff_t>(half));
    }
    expect_same(pushed, batch, "batch then push vs push");
  }
}

TEST(KernelLaws, NaNExactlyBeforeLookback) {
  // Checks outputs are NaN before the declared lookback and finite from it on (finite inputs).
  const Bars b = random_bars(3000, 11);
  for (const Case& c : all_cases()) {
    SCOPED_TRACE(c.label);
    const auto in = inputs_for(c, b);
    auto k = c.fn->make(c.params);
    const auto out = run_push(*k, c, b, in, 0, b.t.size(), false);
    const Lookback lb = c.fn->lookback(c.params);
    for (std::size_t i = 0; i < b.t.size(); ++i) {
      const bool warm = static_cast<std::int64_t>(i) >= lb.bars && b.t[i] - b.t[0] >= lb.time;
      for (std::size_t o = 0; o < out.size(); ++o) {
        ASSERT_EQ(std::isfinite(out[o][i]), warm)
            << "bar " << i << " output " << o << " = " << out[o][i] << " (lookback " << lb.bars
            << " bars, " << lb.time << " ns)";
      }
    }
  }
}

}  // namespace
}  // namespace tickgraph::analytics
