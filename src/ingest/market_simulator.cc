#include "ingest/market_simulator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <set>

#include "core/asset.h"
#include "core/number_format.h"

namespace tickgraph::ingest {
namespace {

// SplitMix64's finaliser: spreads (seed, asset index) over the engine's seed space, so nearby
// seeds and neighbouring symbols get unrelated streams.
std::uint64_t mix_seed(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Variates from the engine's raw bits (the standard distributions are implementation-defined).
// Uniform on (0, 1]: 53 random bits, never 0, so log() below is always finite.
double uniform_open_closed(std::mt19937_64& rng) {
  return static_cast<double>((rng() >> 11) + 1) * 0x1.0p-53;
}
double standard_exponential(std::mt19937_64& rng) { return -std::log(uniform_open_closed(rng)); }
// Box-Muller (the cosine branch only, two uniforms per variate).
double standard_normal(std::mt19937_64& rng) {
  const double r = std::sqrt(-2.0 * std::log(uniform_open_closed(rng)));
  return r * std::cos(2.0 * std::numbers::pi * uniform_open_closed(rng));
}

Status field_error(const SimulatedAsset& a, const char* field, const char* rule, double got) {
  return Status::invalid_argument("simulator asset '" + a.symbol + "': " + field + " must be " +
                                  rule + ", got " + format_number(got));
}

Status validate(const SimulatorConfig& config) {
  if (config.assets.empty()) return Status::invalid_argument("simulator config: assets is empty");
  if (!std::isfinite(config.price_increment) || config.price_increment < 0) {
    return Status::invalid_argument(
        "simulator config: price_increment must be finite and >= 0, got " +
        format_number(config.price_increment));
  }
  std::set<std::string, std::less<>> seen;
  for (std::size_t i = 0; i < config.assets.size(); ++i) {
    const SimulatedAsset& a = config.assets[i];
    if (Status s = validate_symbol(a.symbol); !s.ok()) {
      return Status::invalid_argument("simulator asset #" + std::to_string(i) +
                                      ": symbol: " + s.message());
    }
    if (!seen.insert(a.symbol).second) {
      return Status::invalid_argument("simulator asset '" + a.symbol + "': symbol is a duplicate");
    }
    if (!std::isfinite(a.start_price) || a.start_price <= 0) {
      return field_error(a, "start_price", "finite and > 0", a.start_price);
    }
    if (!std::isfinite(a.drift)) return field_error(a, "drift", "finite", a.drift);
    if (!std::isfinite(a.volatility) || a.volatility < 0) {
      return field_error(a, "volatility", "finite and >= 0", a.volatility);
    }
    if (!(a.tick_rate >= kMinTickRate && a.tick_rate <= kMaxTickRate)) {  // also refuses NaN
      return field_error(a, "tick_rate", "between 1 per year and 1e6 per second", a.tick_rate);
    }
    if (!std::isfinite(a.mean_size) || a.mean_size <= 0) {
      return field_error(a, "mean_size", "finite and > 0", a.mean_size);
    }
    if (!std::isfinite(a.size_dispersion) || a.size_dispersion < 0) {
      return field_error(a, "size_dispersion", "finite and >= 0", a.size_dispersion);
    }
  }
  return {};
}

}  // namespace

Result<MarketSimulator> MarketSimulator::create(SimulatorConfig config) {
  if (Status s = validate(config); !s.ok()) return s;
  return MarketSimulator(std::move(config));
}

MarketSimulator::MarketSimulator(SimulatorConfig config) : config_(std::move(config)) {
  states_.resize(config_.assets.size());
  for (std::size_t i = 0; i < states_.size(); ++i) {
    const SimulatedAsset& a = config_.assets[i];
    AssetState& s = states_[i];
    s.rng.seed(mix_seed(config_.seed + 0x9E3779B97F4A7C15ULL * (i + 1)));
    s.log_start = std::log(a.start_price);
    s.log_drift = a.drift - 0.5 * a.volatility * a.volatility;
    s.mean_gap_ns = static_cast<double>(kSecond) / a.tick_rate;
    s.log_size_shift = std::log(a.mean_size) - 0.5 * a.size_dispersion * a.size_dispersion;
    draw_next(i, config_.start_time);
  }
}

void MarketSimulator::draw_next(std::size_t asset, Timestamp after) {
  const SimulatedAsset& a = config_.assets[asset];
  AssetState& s = states_[asset];

  double gap_ns = s.mean_gap_ns;
  if (a.arrival == TickArrival::kPoisson) gap_ns *= standard_exponential(s.rng);
  const Duration gap = std::max<Duration>(1, std::llround(gap_ns));
  const Timestamp time = after + gap;

  // The Brownian increment over the gap actually stamped, so the law is exact for that dt. The
  // drift term uses the total elapsed time rather than a running sum, so it carries no
  // accumulated rounding (with sigma = 0 the price is start_price * exp(mu t) to the last bits).
  const double dt_years = static_cast<double>(gap) / kNanosecondsPerYear;
  s.brownian += std::sqrt(dt_years) * standard_normal(s.rng);
  const double elapsed_years = static_cast<double>(time - config_.start_time) / kNanosecondsPerYear;
  double price = std::exp(s.log_start + s.log_drift * elapsed_years + a.volatility * s.brownian);
  price = std::clamp(price, std::numeric_limits<double>::min(), std::numeric_limits<double>::max());
  if (config_.price_increment > 0) {
    const double steps = std::max(1.0, std::round(price / config_.price_increment));
    price = steps * config_.price_increment;
  }
  const double size = std::exp(s.log_size_shift + a.size_dispersion * standard_normal(s.rng));

  s.pending = Tick{time, price, size};
  pending_.emplace(time, asset);
}

SimulatedTick MarketSimulator::next() {
  const std::size_t asset = pending_.top().second;
  pending_.pop();
  SimulatedTick out{asset, states_[asset].pending};
  draw_next(asset, out.tick.time);
  return out;
}

std::vector<SimulatedTick> MarketSimulator::next_until(Timestamp t) {
  std::vector<SimulatedTick> out;
  while (peek_time() <= t) out.push_back(next());
  return out;
}

}  // namespace tickgraph::ingest
