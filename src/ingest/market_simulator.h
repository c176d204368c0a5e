// A synthetic market: ticks for a set of symbols, fed through the same path as real ingest.
//
// Each symbol's price follows geometric Brownian motion,
//   dS = mu S dt + sigma S dW,
// sampled exactly at its tick times: between two ticks dt apart,
//   S(t + dt) = S(t) * exp((mu - sigma^2 / 2) dt + sigma sqrt(dt) Z),  Z ~ N(0, 1),
// so the law holds for any dt, not just in the small-step limit. mu and sigma are annualised and
// dt is in years of 365.25 days (kNanosecondsPerYear), i.e. calendar time: the simulated market
// never closes. Ticks arrive as a Poisson process (exponential gaps, mean 1 / tick_rate seconds)
// or at a fixed rate; gaps are rounded to whole nanoseconds, at least 1 ns, so one symbol's ticks
// are strictly increasing in time. Sizes are lognormal with the configured mean.
//
// Reproducibility: every symbol draws from its own std::mt19937_64, seeded from (seed, the
// symbol's position in the config). The normal, exponential and uniform variates are computed
// here from the engine's raw bits, not by the standard library's implementation-defined
// distributions, so one seed and one config give the same ticks on every run and every standard
// library (up to the last bit of std::log/exp/cos of the platform's libm). A symbol's ticks depend
// only on the seed, its own parameters, its position, start_time and price_increment: they do not
// depend on the other symbols, nor on how the stream is read (next() one by one or next_until()
// in any steps).
//
// States: the simulator holds, per symbol, the next tick it will emit (drawn in advance) and the
// Brownian path so far. next() emits the earliest pending tick and draws its successor.
//
// Thread-safety: none. One simulator per run; callers serialise access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/candle.h"
#include "core/result.h"
#include "core/time.h"

namespace tickgraph::ingest {

// The length of the year that annualised drift and volatility refer to: 365.25 days.
inline constexpr double kNanosecondsPerYear = 365.25 * static_cast<double>(kDay);

// The tick rates accepted, per symbol, in ticks per second. The highest keeps the 1 ns floor on
// gaps negligible (a Poisson gap is below 0.5 ns with probability under 5e-4 at this rate); the
// lowest (one tick a year) keeps every gap far inside the Timestamp range.
inline constexpr double kMinTickRate = static_cast<double>(kSecond) / kNanosecondsPerYear;
inline constexpr double kMaxTickRate = 1e6;

enum class TickArrival {
  kPoisson,  // exponential gaps with mean 1 / tick_rate seconds
  kFixed,    // every 1 / tick_rate seconds exactly (rounded to the nanosecond)
};

// One simulated symbol.
struct SimulatedAsset {
  std::string symbol;        // valid per validate_symbol, unique within the config
  double start_price = 100;  // S(start_time), > 0
  double drift = 0;          // mu, annualised, continuously compounded; finite
  double volatility = 0.2;   // sigma, annualised; finite and >= 0
  double tick_rate = 1;      // ticks per second, in [kMinTickRate, kMaxTickRate]
  TickArrival arrival = TickArrival::kPoisson;
  double mean_size = 100;        // mean tick size; finite and > 0
  double size_dispersion = 0.5;  // sd of log(size); finite and >= 0 (0: every size = mean_size)
};

struct SimulatorConfig {
  std::vector<SimulatedAsset> assets;  // at least one; their order is the symbol order
  Timestamp start_time = 0;            // prices are start_price here; the first ticks come after
  std::uint64_t seed = 0;
  // When > 0, emitted prices are rounded to the nearest multiple of it (e.g. 0.01), and never
  // below one increment. The underlying path is not rounded, so rounding adds no drift. 0: none.
  double price_increment = 0;
};

// One tick of one symbol; `asset` is the symbol's index in SimulatorConfig::assets.
struct SimulatedTick {
  std::size_t asset = 0;
  Tick tick;

  friend bool operator==(const SimulatedTick& a, const SimulatedTick& b) {
    return a.asset == b.asset && a.tick.time == b.tick.time && a.tick.price == b.tick.price &&
           a.tick.size == b.tick.size;
  }
};

class MarketSimulator {
 public:
  // Fails, naming the field and the symbol (or its position when the symbol itself is bad), when
  // the config breaks a bound documented above, has no assets, or repeats a symbol.
  static Result<MarketSimulator> create(SimulatorConfig config);

  // The generator: emits the earliest pending tick of all symbols, ties going to the lower symbol
  // index. Times are non-decreasing across calls and strictly increasing per symbol. Never fails.
  // The stream is endless; times must stay below the Timestamp range (about year 2262), which
  // the caller ensures by not reading that far.
  SimulatedTick next();

  // The time of the tick next() would emit.
  Timestamp peek_time() const { return pending_.top().first; }

  // For driving from a clock: every tick with time <= t not yet emitted, in next() order. Empty
  // when t is before the next tick (including t in the past).
  std::vector<SimulatedTick> next_until(Timestamp t);

  const std::string& symbol(std::size_t asset) const { return config_.assets[asset].symbol; }
  const SimulatorConfig& config() const { return config_; }

 private:
  struct AssetState {
    std::mt19937_64 rng;
    double log_start = 0;       // log(start_price)
    double log_drift = 0;       // mu - sigma^2 / 2, per year
    double mean_gap_ns = 0;     // 1e9 / tick_rate
    double log_size_shift = 0;  // log(mean_size) - dispersion^2 / 2
    double brownian = 0;        // W(t) at the pending tick, in sqrt(years)
    Tick pending;               // the next tick this symbol emits
  };

  explicit MarketSimulator(SimulatorConfig config);
  void draw_next(std::size_t asset, Timestamp after);

  SimulatorConfig config_;
  std::vector<AssetState> states_;
  // (pending tick time, asset index), earliest first, then lowest index.
  std::priority_queue<std::pair<Timestamp, std::size_t>,
                      std::vector<std::pair<Timestamp, std::size_t>>, std::greater<>>
      pending_;
};

}  // namespace tickgraph::ingest
