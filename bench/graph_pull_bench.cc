// A whole graph pulled over in-memory bars against the sum of its kernels run alone.
//
// The graph is the demo's kind (9 nodes, 13 outputs): ret = pct_change of close, sma 50 and 200,
// ema 20, rsi 14, macd 12/26/9, bbands 20/2, atr 14, and stddev 20 of ret, over one seeded random
// walk of 10,000,000 one-minute bars (TICKGRAPH_BENCH_POINTS=N for another size).
//   - BM_Pull: graph::run_pull, as `tickgraph compute`, /analytics and the Python bindings call it
//     (the result table allocated and filled each time);
//   - BM_KernelsAlone: the same nodes' batch kernels called one after the other on the same
//     arrays, each writing into a freshly allocated output column (allocated as the pull allocates
//     its result: graph::Column), with nothing else: no plan walk, no warm-up checks, no copies.
//     It bounds what the executor can reach.
// Prints the medians in ns per bar, the ratio pull / kernels against the target (≤ 1.5×), and
// writes them as JSON for bench/pandas_graph.py, which times the same graph in pandas.
//
//   graph_pull_bench [--json=PATH] [--benchmark_* flags]
//
// Timings are CPU time of the one thread and are reported, never asserted.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "analytics/kernel.h"
#include "graph/compiled_graph.h"
#include "graph/plan.h"
#include "graph/pull_executor.h"
#include "graph/spec.h"
#include "graph/table.h"

namespace {

using namespace tickgraph;

constexpr const char* kSpec = R"(nodes:
  ret:    {fn: pct_change, input: close}
  sma50:  {fn: sma, input: close, period: 50}
  sma200: {fn: sma, input: close, period: 200}
  ema20:  {fn: ema, input: close, period: 20}
  rsi:    {fn: rsi, input: close, period: 14}
  macd:   {fn: macd, input: close, fast: 12, slow: 26, signal: 9}
  bb:     {fn: bbands, input: close, period: 20, k: 2}
  atr:    {fn: atr, period: 14}
  sd:     {fn: stddev, input: ret, period: 20}
)";

std::size_t points() {
  const char* env = std::getenv("TICKGRAPH_BENCH_POINTS");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 10'000'000;
}

// One bar a minute with some gaps; log price mean-reverting so that ten million steps stay sane.
const graph::MarketData& market() {
  static const graph::MarketData kData = [] {
    const std::size_t n = points();
    std::mt19937_64 rng(20240611);
    std::normal_distribution<double> step(0.0, 0.01);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    CandleSeries s;
    s.reserve(n);
    double price = 100;
    Timestamp t = 1'600'000'000 * kSecond;
    for (std::size_t i = 0; i < n; ++i) {
      t += kMinute * (u(rng) < 0.1 ? 3 : 1);
      const double open = price;
      price *= std::exp(step(rng) - 1e-4 * std::log(price / 100));
      s.push_back({t, open, std::max(open, price) * (1 + 0.005 * u(rng)),
                   std::min(open, price) * (1 - 0.005 * u(rng)), price,
                   std::floor(1000 + 9000 * u(rng))});
    }
    graph::MarketData data;
    data.emplace("X", std::move(s));
    return data;
  }();
  return kData;
}

std::shared_ptr<const graph::CompiledGraph> compiled() {
  static const auto kGraph = [] {
    auto spec = graph::parse_spec(kSpec, "graph_pull_bench");
    if (!spec) {
      std::fprintf(stderr, "graph_pull_bench: %s\n", spec.message().c_str());
      std::exit(1);
    }
    auto graph = graph::compile(*spec);
    if (!graph) {
      std::fprintf(stderr, "graph_pull_bench: %s\n", graph.message().c_str());
      std::exit(1);
    }
    return *graph;
  }();
  return kGraph;
}

void BM_Pull(benchmark::State& state) {
  const auto graph = compiled();
  const auto& data = market();
  for (auto _ : state) {
    auto table = graph::run_pull(graph, "X", data);
    if (!table) {
      state.SkipWithError(table.message().c_str());
      return;
    }
    benchmark::DoNotOptimize(table->values.back().back());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * points()));
}

// The plan's instances in order (all on one asset: no joins), each kernel's batch straight from
// its inputs' arrays into a new output array; leading NaN inputs (ret's first bar, for sd) are
// skipped as the executors skip them, and their outputs set to NaN.
void BM_KernelsAlone(benchmark::State& state) {
  const auto graph = compiled();
  const auto plan = graph::make_plan(graph, "X");
  const CandleSeries& bars = market().at("X");
  const std::size_t n = bars.size();
  for (auto _ : state) {
    std::vector<graph::Column> owned;  // allocated as a pull allocates its result
    std::vector<const double*> slot(static_cast<std::size_t>(plan->slot_count), nullptr);
    for (const auto& source : plan->sources[0]) {
      slot[static_cast<std::size_t>(source.slot)] = bars.field(source.field).data();
    }
    for (const auto& inst : plan->instances) {
      const double* in[graph::kMaxInputs] = {};
      std::size_t first = 0;
      for (int k = 0; k < inst.input_count; ++k) {
        in[k] = slot[static_cast<std::size_t>(inst.input_slots[static_cast<std::size_t>(k)])];
        while (first < n && std::isnan(in[k][first])) ++first;
      }
      double* out[graph::kMaxInputs + 4] = {};
      for (int o = 0; o < inst.output_count; ++o) {
        owned.push_back(graph::Column::with_lead(0, n));
        out[o] = owned.back().buffer();
        std::fill(out[o], out[o] + first, analytics::kNaN);
        slot[static_cast<std::size_t>(inst.output_slot) + static_cast<std::size_t>(o)] = out[o];
        out[o] += first;
      }
      for (int k = 0; k < inst.input_count; ++k) in[k] += first;
      const auto& node = graph->nodes()[static_cast<std::size_t>(inst.node)];
      node.fn->make(node.params)->batch(bars.time.data() + first, in, out, n - first);
    }
    benchmark::DoNotOptimize(owned.back().back());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

BENCHMARK(BM_Pull)->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_KernelsAlone)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

// Collects the medians (CPU time, ms per iteration).
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, double> medians;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median") {
        medians[r.run_name.function_name] = r.GetAdjustedCPUTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string json_path = TICKGRAPH_BENCH_JSON_DEFAULT;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--json=", 7) == 0) {
      json_path = argv[i] + 7;
    } else {
      args.push_back(argv[i]);
    }
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  const auto pull = reporter.medians.find("BM_Pull");
  const auto kernels = reporter.medians.find("BM_KernelsAlone");
  if (pull == reporter.medians.end() || kernels == reporter.medians.end()) return 0;
  const double bars = static_cast<double>(points());
  const double pull_ns = pull->second * 1e6 / bars;
  const double kernels_ns = kernels->second * 1e6 / bars;
  std::printf("\n9 nodes, 13 outputs, %.0f bars in memory (medians of 5, CPU time):\n", bars);
  std::printf("  pull          %6.1f ns/bar\n", pull_ns);
  std::printf("  kernels alone %6.1f ns/bar\n", kernels_ns);
  std::printf("  pull / kernels = %.2fx (target <= 1.5x: %s)\n", pull_ns / kernels_ns,
              pull_ns / kernels_ns <= 1.5 ? "met" : "missed");
  std::filesystem::create_directories(std::filesystem::path(json_path).parent_path());
  std::ofstream json(json_path);
  json << "{\"points\": " << points() << ", \"pull_ns_per_bar\": " << pull_ns
       << ", \"kernels_ns_per_bar\": " << kernels_ns << "}\n";
  std::printf("  medians written to %s (for bench/pandas_graph.py)\n", json_path.c_str());
  return 0;
}
