// Push mode through the real PushExecutor: the 8-node chain sma20, sma50, ema12, ema26, ema200,
// rsi14, bbands20, bbands50 on one asset's close, one bar per iteration, reported as ns per tick.
// Reference in the same run: a hand-written chain calling the same 8 kernels directly (no plan,
// no slots, no started checks), which bounds what the executor itself costs.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <vector>

#include "analytics/function.h"
#include "graph/compiled_graph.h"
#include "graph/plan.h"
#include "graph/push_executor.h"

namespace {

using namespace tickgraph;

constexpr std::size_t kBars = 1 << 20;

const std::vector<Candle>& bars() {
  static const std::vector<Candle> kBarsData = [] {
    std::mt19937_64 rng(1);
    std::normal_distribution<double> step(0.0, 0.01);
    std::vector<Candle> v;
    v.reserve(kBars);
    double p = 100;
    for (std::size_t i = 0; i < kBars; ++i) {
      const double o = p;
      p *= std::exp(step(rng));
      v.push_back(
          {static_cast<Timestamp>(i) * kMinute, o, std::max(o, p), std::min(o, p), p, 1000});
    }
    return v;
  }();
  return kBarsData;
}

constexpr const char* kSpec = R"(nodes:
  sma20:  {fn: sma, input: close, period: 20}
  sma50:  {fn: sma, input: close, period: 50}
  ema12:  {fn: ema, input: close, period: 12}
  ema26:  {fn: ema, input: close, period: 26}
  ema200: {fn: ema, input: close, period: 200}
  rsi14:  {fn: rsi, input: close, period: 14}
  bb20:   {fn: bbands, input: close, period: 20, k: 2}
  bb50:   {fn: bbands, input: close, period: 50, k: 2}
)";

std::map<std::string, double>& results() {
  static std::map<std::string, double> r;
  return r;
}

void BM_PushExecutor8Nodes(benchmark::State& state) {
  auto spec = graph::parse_spec(kSpec, "bench");
  auto compiled = graph::compile(*spec);
  if (!compiled) {
    state.SkipWithError(compiled.message().c_str());
    return;
  }
  graph::PushExecutor exec(graph::make_plan(*compiled, "X"));
  const auto& v = bars();
  std::size_t i = 0;
  for (auto _ : state) {
    exec.on_bar(0, v[i & (kBars - 1)]);
    ++i;
  }
  benchmark::DoNotOptimize(exec.value(0));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_HandChain8Kernels(benchmark::State& state) {
  auto spec = graph::parse_spec(kSpec, "bench");
  auto compiled = graph::compile(*spec);
  if (!compiled) {
    state.SkipWithError(compiled.message().c_str());
    return;
  }
  std::vector<std::unique_ptr<analytics::Kernel>> kernels;
  for (const auto& n : (*compiled)->nodes()) kernels.push_back(n.fn->make(n.params));
  double out[16];
  const auto& v = bars();
  std::size_t i = 0;
  for (auto _ : state) {
    const Candle& c = v[i & (kBars - 1)];
    double* o = out;
    for (auto& k : kernels) {
      k->push(c.time, &c.close, o);
      o += 1;
    }
    benchmark::DoNotOptimize(out);
    ++i;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

BENCHMARK(BM_PushExecutor8Nodes)->Repetitions(7)->ReportAggregatesOnly(true);
BENCHMARK(BM_HandChain8Kernels)->Repetitions(7)->ReportAggregatesOnly(true);

// Collects the medians and prints the summary against the target.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median") {
        results()[r.run_name.function_name] = r.GetAdjustedRealTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  const auto& r = results();
  auto exec = r.find("BM_PushExecutor8Nodes");
  auto hand = r.find("BM_HandChain8Kernels");
  if (exec != r.end() && hand != r.end()) {
    std::printf("\npush, 8 nodes on one asset (medians of 7):\n");
    std::printf("  executor   %6.1f ns/tick (%.1f M ticks/s)  target <= 60 ns: %s\n", exec->second,
                1e3 / exec->second, exec->second <= 60 ? "PASS" : "MISS");
    std::printf("  hand chain %6.1f ns/tick; executor / hand chain = %.2fx (allowed ~2x)\n",
                hand->second, exec->second / hand->second);
  }
  return 0;
}
