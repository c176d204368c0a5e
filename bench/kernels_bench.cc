// Times every batch kernel in the registry over one seeded random walk (OHLCV, 10,000,000 points
// by default), and, where TA-Lib has the function, TA-Lib's C implementation on the same arrays
// in the same run, each as its own benchmark with repetitions. At the end it prints a table of
// median CPU times with the ratio ours / TA-Lib against its target, and writes our medians as JSON
// for bench/pandas_kernels.py.
//
//   kernels_bench [--points=N] [--json=PATH] [--benchmark_* flags]
//   TICKGRAPH_BENCH_POINTS=N and TICKGRAPH_BENCH_JSON=PATH do the same as the flags.
//
// Every function runs with its default parameters, its inputs wired as a node without `inputs:`
// would read them (bar fields, else close and a second price series), except beta, which is fed
// one-bar returns as a spec feeds it while TA_BETA gets the prices and makes the returns itself.
// Timings are CPU time (the machine may be shared; wall time would count other processes) and
// are reported, never asserted.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "analytics/function.h"

#if TICKGRAPH_HAVE_TALIB
#include <ta_libc.h>
#endif

namespace tickgraph::analytics {
namespace {

using Series = std::vector<double>;

struct Data {
  std::vector<Timestamp> t;
  Series high, low, close, volume, other, close_return, other_return;
  std::size_t size() const { return t.size(); }
};

// The same kind of walk the tests use: coherent OHLCV, one bar a minute with some gaps, and a
// second walk correlated with close.
Data random_walk(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> step(0.0, 0.01);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Data d;
  for (Series* s : {&d.high, &d.low, &d.close, &d.volume, &d.other}) s->reserve(n);
  d.t.reserve(n);
  double price = 100, other = 50;
  Timestamp t = 1'600'000'000 * kSecond;
  for (std::size_t i = 0; i < n; ++i) {
    t += kMinute * (u(rng) < 0.1 ? 3 : 1);
    const double open = price;
    // Mean-reverting in log price so that ten million steps stay in a sane range.
    price *= std::exp(step(rng) - 1e-4 * std::log(price / 100));
    other *= std::exp(0.5 * step(rng) + 0.5 * (std::log(price) - std::log(open)) -
                      1e-4 * std::log(other / 50));
    d.t.push_back(t);
    d.high.push_back(std::max(open, price) * (1 + 0.005 * u(rng)));
    d.low.push_back(std::min(open, price) * (1 - 0.005 * u(rng)));
    d.close.push_back(price);
    d.volume.push_back(std::floor(1000 + 9000 * u(rng)));
    d.other.push_back(other);
  }
  auto returns = [](const Series& p) {
    Series r(p.size(), 0.0);
    for (std::size_t i = 1; i < p.size(); ++i) r[i] = (p[i] - p[i - 1]) / p[i - 1];
    return r;
  };
  d.close_return = returns(d.close);
  d.other_return = returns(d.other);
  return d;
}

const Series& field(const Data& d, const std::string& name) {
  if (name == "high") return d.high;
  if (name == "low") return d.low;
  if (name == "volume") return d.volume;
  return d.close;
}

// Output buffers shared by all benchmarks (at most three outputs).
struct Buffers {
  std::vector<Series> out;
  std::vector<double*> ptrs;
  explicit Buffers(std::size_t n) : out(3, Series(n, 0.0)) {
    for (Series& s : out) ptrs.push_back(s.data());
  }
};

void bench_ours(benchmark::State& state, const FunctionSpec* f, const Params* p, const Data* d,
                Buffers* buf) {
  std::vector<const double*> in;
  std::size_t first = 0;
  if (f->name == "beta") {
    in = {d->close_return.data() + 1, d->other_return.data() + 1};
    first = 1;
  } else {
    for (std::size_t k = 0; k < f->input_count(*p); ++k) {
      in.push_back(f->inputs_default_to_fields ? field(*d, f->inputs[k]).data()
                                               : (k == 0 ? d->close.data() : d->other.data()));
    }
  }
  const std::size_t n = d->size() - first;
  for (auto _ : state) {
    auto kernel = f->make(*p);
    kernel->batch(d->t.data() + first, in.data(), buf->ptrs.data(), n);
    benchmark::DoNotOptimize(buf->out[0][n - 1]);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

#if TICKGRAPH_HAVE_TALIB
// TA-Lib's call for our function with the same parameter values; returns false when TA-Lib has
// no such function.
using TalibCall = std::function<TA_RetCode(const Params&, const Data&, Buffers&)>;

std::map<std::string, TalibCall> talib_calls() {
  std::map<std::string, TalibCall> m;
  auto last = [](const Data& d) { return static_cast<int>(d.size()) - 1; };
  using PeriodFn = TA_RetCode (*)(int, int, const double[], int, int*, int*, double[]);
  auto period = [&](PeriodFn fn) {
    return [=](const Params& p, const Data& d, Buffers& b) {
      int beg, nb;
      return fn(0, last(d), d.close.data(), p.get_int("period"), &beg, &nb, b.ptrs[0]);
    };
  };
  for (auto [name, fn] :
       std::initializer_list<std::pair<const char*, PeriodFn>>{{"sma", TA_SMA},
                                                               {"ema", TA_EMA},
                                                               {"wma", TA_WMA},
                                                               {"dema", TA_DEMA},
                                                               {"tema", TA_TEMA},
                                                               {"rsi", TA_RSI},
                                                               {"mom", TA_MOM},
                                                               {"roc", TA_ROC},
                                                               {"pct_change", TA_ROCP},
                                                               {"rolling_max", TA_MAX},
                                                               {"rolling_min", TA_MIN}}) {
    m[name] = period(fn);
  }
  m["var"] = [=](const Params& p, const Data& d, Buffers& b) {
    int beg, nb;
    return TA_VAR(0, last(d), d.close.data(), p.get_int("period"), 1.0, &beg, &nb, b.ptrs[0]);
  };
  m["stddev"] = [=](const Params& p, const Data& d, Buffers& b) {
    int beg, nb;
    return TA_STDDEV(0, last(d), d.close.data(), p.get_int("period"), 1.0, &beg, &nb, b.ptrs[0]);
  };
  using HlcPeriodFn = TA_RetCode (*)(int, int, const double[], const double[], const double[], int,
                                     int*, int*, double[]);
  for (const auto& entry : std::initializer_list<std::pair<const char*, HlcPeriodFn>>{
           {"atr", TA_ATR}, {"willr", TA_WILLR}, {"cci", TA_CCI}}) {
    const HlcPeriodFn fn = entry.second;
    m[entry.first] = [=](const Params& p, const Data& d, Buffers& b) {
      int beg, nb;
      return fn(0, last(d), d.high.data(), d.low.data(), d.close.data(), p.get_int("period"), &beg,
                &nb, b.ptrs[0]);
    };
  }
  m["trange"] = [=](const Params&, const Data& d, Buffers& b) {
    int beg, nb;
    return TA_TRANGE(0, last(d), d.high.data(), d.low.data(), d.close.data(), &beg, &nb, b.ptrs[0]);
  };
  m["obv"] = [=](const Params&, const Data& d, Buffers& b) {
    int beg, nb;
    return TA_OBV(0, last(d), d.close.data(), d.volume.data(), &beg, &nb, b.ptrs[0]);
  };
  m["macd"] = [=](const Params& p, const Data& d, Buffers& b) {
    int beg, nb;
    return TA_MACD(0, last(d), d.close.data(), p.get_int("fast"), p.get_int("slow"),
                   p.get_int("signal"), &beg, &nb, b.ptrs[0], b.ptrs[1], b.ptrs[2]);
  };
  m["bbands"] = [=](const Params& p, const Data& d, Buffers& b) {
    int beg, nb;
    return TA_BBANDS(0, last(d), d.close.data(), p.get_int("period"), p.get("k"), p.get("k"),
                     TA_MAType_SMA, &beg, &nb, b.ptrs[0], b.ptrs[1], b.ptrs[2]);
  };
  m["stoch"] = [=](const Params& p, const Data& d, Buffers& b) {
    int beg, nb;
    return TA_STOCH(0, last(d), d.high.data(), d.low.data(), d.close.data(), p.get_int("fastk"),
                    p.get_int("slowk"), TA_MAType_SMA, p.get_int("slowd"), TA_MAType_SMA, &beg, &nb,
                    b.ptrs[0], b.ptrs[1]);
  };
  m["correlation"] = [=](const Params& p, const Data& d, Buffers& b) {
    int beg, nb;
    return TA_CORREL(0, last(d), d.close.data(), d.other.data(), p.get_int("period"), &beg, &nb,
                     b.ptrs[0]);
  };
  // TA_BETA regresses inReal1's returns on inReal0's, from prices.
  m["beta"] = [=](const Params& p, const Data& d, Buffers& b) {
    int beg, nb;
    return TA_BETA(0, last(d), d.other.data(), d.close.data(), p.get_int("period"), &beg, &nb,
                   b.ptrs[0]);
  };
  using PairFn = TA_RetCode (*)(int, int, const double[], const double[], int*, int*, double[]);
  for (const auto& entry : std::initializer_list<std::pair<const char*, PairFn>>{
           {"add", TA_ADD}, {"sub", TA_SUB}, {"mul", TA_MULT}, {"div", TA_DIV}}) {
    const PairFn fn = entry.second;
    m[entry.first] = [=](const Params&, const Data& d, Buffers& b) {
      int beg, nb;
      return fn(0, last(d), d.close.data(), d.other.data(), &beg, &nb, b.ptrs[0]);
    };
  }
  return m;
}

void bench_talib(benchmark::State& state, const TalibCall* call, const Params* p, const Data* d,
                 Buffers* buf) {
  for (auto _ : state) {
    if ((*call)(*p, *d, *buf) != TA_SUCCESS) {
      state.SkipWithError("TA-Lib returned an error");
      break;
    }
    benchmark::DoNotOptimize(buf->out[0][0]);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * d->size()));
}
#endif

// Forwards to the console and keeps each benchmark's median CPU time (ms).
class MedianReporter : public benchmark::ConsoleReporter {
 public:
  MedianReporter() : ConsoleReporter(isatty(STDOUT_FILENO) ? OO_Defaults : OO_None) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name == "median" && !r.error_occurred) {
        medians_[r.run_name.function_name] = r.GetAdjustedCPUTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // The median for "ours/sma" etc., or a negative value when it did not run.
  double median(const std::string& name) const {
    auto it = medians_.find(name);
    return it == medians_.end() ? -1 : it->second;
  }

 private:
  std::map<std::string, double> medians_;
};

// The speed each function must reach, as ours / TA-Lib.
double target(const std::string& name) { return name == "macd" || name == "atr" ? 0.5 : 1.0; }

std::string take_flag(std::vector<char*>& args, const char* name) {
  const std::string prefix = std::string("--") + name + "=";
  for (auto it = args.begin(); it != args.end(); ++it) {
    if (std::strncmp(*it, prefix.c_str(), prefix.size()) == 0) {
      std::string v = *it + prefix.size();
      args.erase(it);
      return v;
    }
  }
  return {};
}

bool has_flag(const std::vector<char*>& args, const char* prefix) {
  return std::any_of(args.begin(), args.end(), [&](const char* a) {
    return std::strncmp(a, prefix, std::strlen(prefix)) == 0;
  });
}

int run(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  std::string points_text = take_flag(args, "points");
  if (points_text.empty() && std::getenv("TICKGRAPH_BENCH_POINTS")) {
    points_text = std::getenv("TICKGRAPH_BENCH_POINTS");
  }
  std::string json_path = take_flag(args, "json");
  if (json_path.empty() && std::getenv("TICKGRAPH_BENCH_JSON")) {
    json_path = std::getenv("TICKGRAPH_BENCH_JSON");
  }
  if (json_path.empty()) json_path = TICKGRAPH_BENCH_JSON_DEFAULT;
  const long long points = points_text.empty() ? 10'000'000 : std::atoll(points_text.c_str());
  if (points < 100) {
    std::fprintf(stderr, "kernels_bench: --points must be at least 100, got '%s'\n",
                 points_text.c_str());
    return 2;
  }
  // Defaults for a comparison: 5 repetitions, medians only, 0.2 s per repetition.
  static char reps[] = "--benchmark_repetitions=5";
  static char aggregates[] = "--benchmark_report_aggregates_only=true";
  static char min_time[] = "--benchmark_min_time=0.2";
  if (!has_flag(args, "--benchmark_repetitions")) args.push_back(reps);
  if (!has_flag(args, "--benchmark_report_aggregates_only")) args.push_back(aggregates);
  if (!has_flag(args, "--benchmark_min_time")) args.push_back(min_time);
  int bench_argc = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&bench_argc, args.data());
  if (benchmark::ReportUnrecognizedArguments(bench_argc, args.data())) return 2;

  std::fprintf(stderr, "kernels_bench: generating %lld points\n", points);
  const Data data = random_walk(static_cast<std::size_t>(points), 20240611);
  Buffers buffers(data.size());

  // Parameters live here for the whole run: the benchmarks hold pointers to them.
  std::vector<const FunctionSpec*> functions;
  std::map<std::string, Params> params;
  for (const FunctionSpec& f : registry().all()) {
    auto p = bind_params(f, {});
    if (!p.ok()) {
      std::fprintf(stderr, "kernels_bench: %s: %s\n", f.name.c_str(), p.message().c_str());
      return 1;
    }
    params.emplace(f.name, *p);
    functions.push_back(&f);
  }
#if TICKGRAPH_HAVE_TALIB
  TA_Initialize();
  const std::map<std::string, TalibCall> talib = talib_calls();
#endif
  for (const FunctionSpec* f : functions) {
    const Params* p = &params.at(f->name);
    benchmark::RegisterBenchmark(("ours/" + f->name).c_str(), bench_ours, f, p, &data, &buffers)
        ->Unit(benchmark::kMillisecond);
#if TICKGRAPH_HAVE_TALIB
    if (auto it = talib.find(f->name); it != talib.end()) {
      benchmark::RegisterBenchmark(("talib/" + f->name).c_str(), bench_talib, &it->second, p, &data,
                                   &buffers)
          ->Unit(benchmark::kMillisecond);
    }
#endif
  }

  MedianReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  // The table, and our medians as JSON.
  std::printf("\n%lld points, median CPU time per call over the repetitions\n", points);
  std::printf("%-12s %12s %12s %8s %8s  %s\n", "function", "ours ms", "TA-Lib ms", "ratio",
              "target", "status");
  nlohmann::json ours_json = nlohmann::json::object(), talib_json = nlohmann::json::object();
  int misses = 0;
  for (const FunctionSpec* f : functions) {
    const double ours = reporter.median("ours/" + f->name);
    const double ta = reporter.median("talib/" + f->name);
    if (ours < 0) continue;  // filtered out
    ours_json[f->name] = ours;
    if (ta < 0) {
      std::printf("%-12s %12.2f %12s %8s %8s  %s\n", f->name.c_str(), ours, "-", "-", "-",
                  "(no TA-Lib function)");
      continue;
    }
    talib_json[f->name] = ta;
    const double ratio = ours / ta;
    const bool pass = ratio <= target(f->name);
    misses += !pass;
    std::printf("%-12s %12.2f %12.2f %8.2f %6s%.1f  %s\n", f->name.c_str(), ours, ta, ratio,
                "<=", target(f->name), pass ? "PASS" : "MISS");
  }
  std::printf("%d function(s) missed their target. beta: ours on returns, TA_BETA on prices.\n",
              misses);

  const nlohmann::json out = {{"points", points},
                              {"unit", "ms per call, median CPU time"},
                              {"ours", ours_json},
                              {"talib", talib_json}};
  const std::filesystem::path path(json_path);
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream file(path);
  file << out.dump(2) << "\n";
  if (!file) {
    std::fprintf(stderr, "kernels_bench: cannot write %s\n", json_path.c_str());
    return 1;
  }
  std::printf("wrote %s\n", json_path.c_str());
  return 0;
}

}  // namespace
}  // namespace tickgraph::analytics

int main(int argc, char** argv) { return tickgraph::analytics::run(argc, argv); }
