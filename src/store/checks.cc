#include "store/checks.h"

#include <cmath>
#include <limits>
#include <string>

namespace tickgraph::store::checks {
namespace {

bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

// The first non-finite field of a bar, or nullptr.
const char* non_finite_field(const Candle& b) {
  if (!std::isfinite(b.open)) return "open";
  if (!std::isfinite(b.high)) return "high";
  if (!std::isfinite(b.low)) return "low";
  if (!std::isfinite(b.close)) return "close";
  if (!std::isfinite(b.volume)) return "volume";
  return nullptr;
}

}  // namespace

Status asset(const Asset& a) {
  if (Status s = validate_symbol(a.symbol); !s.ok()) {
    return Status::invalid_argument(s.message());
  }
  return {};
}

Status candles(std::span<const Candle> bars) {
  for (const Candle& b : bars) {
    if (const char* field = non_finite_field(b)) {
      return Status::invalid_argument("bar at " + format_timestamp(b.time) + ": " + field +
                                      " is not a finite number");
    }
  }
  return {};
}

Status ticks(std::span<const StoredTick> ticks) {
  for (const StoredTick& t : ticks) {
    if (!std::isfinite(t.price) || !std::isfinite(t.size)) {
      return Status::invalid_argument(
          "tick at " + format_timestamp(t.time) + " seq " + std::to_string(t.seq) + ": " +
          (std::isfinite(t.price) ? "size" : "price") + " is not a finite number");
    }
  }
  return {};
}

Status graph_spec(std::string_view name, std::string_view spec) {
  if (name.empty()) return Status::invalid_argument("the graph name is empty");
  if (has_nul(name)) return Status::invalid_argument("the graph name contains a NUL byte");
  if (has_nul(spec)) return Status::invalid_argument("the spec contains a NUL byte");
  return {};
}

Status graph_version(std::int64_t version) {
  if (version < 0) {
    return Status::invalid_argument("the version must be 0 (latest) or positive, not " +
                                    std::to_string(version));
  }
  return {};
}

Status analytics(std::span<const AnalyticsSeries> series) {
  for (const AnalyticsSeries& s : series) {
    if (s.output.empty()) return Status::invalid_argument("a series has an empty output name");
    if (s.time.size() != s.values.size()) {
      return Status::invalid_argument("output '" + s.output + "' has " +
                                      std::to_string(s.time.size()) + " times but " +
                                      std::to_string(s.values.size()) + " values");
    }
  }
  return {};
}

Status credential(const Credential& c) {
  if (c.id.empty()) return Status::invalid_argument("the id is empty");
  if (c.kind != "client" && c.kind != "api_key") {
    return Status::invalid_argument("kind '" + c.kind + "' is neither \"client\" nor \"api_key\"");
  }
  if (c.secret_hash.empty()) return Status::invalid_argument("the secret hash is empty");
  for (const std::string& scope : c.scopes) {
    if (scope.empty() || scope.find(' ') != std::string::npos) {
      return Status::invalid_argument("scope '" + scope + "' is empty or contains a space");
    }
    if (has_nul(scope)) return Status::invalid_argument("a scope contains a NUL byte");
  }
  if (has_nul(c.id) || has_nul(c.name) || has_nul(c.secret_hash)) {
    return Status::invalid_argument("the id, name or secret hash contains a NUL byte");
  }
  return {};
}

Status credential_kind(std::string_view kind) {
  if (!kind.empty() && kind != "client" && kind != "api_key") {
    return Status::invalid_argument("kind '" + std::string(kind) +
                                    "' is neither \"client\" nor \"api_key\" (nor \"\" for both)");
  }
  return {};
}

Status signing_key(const SigningKey& k) {
  if (k.kid.empty() || k.algorithm.empty() || k.private_pem.empty()) {
    return Status::invalid_argument("the candidate key has an empty kid, algorithm or private key");
  }
  if (has_nul(k.kid) || has_nul(k.algorithm) || has_nul(k.private_pem)) {
    return Status::invalid_argument("the candidate key contains a NUL byte");
  }
  return {};
}

Status in_call(const Status& failed, std::string_view call, std::string_view location) {
  std::string prefix(call);
  prefix.append(" on ").append(location).append(": ");
  return failed.with_prefix(prefix);
}

std::string describe_range(TimeRange range) {
  auto end = [](Timestamp t) {
    if (t == std::numeric_limits<Timestamp>::min()) return std::string("-inf");
    if (t == std::numeric_limits<Timestamp>::max()) return std::string("+inf");
    return format_timestamp(t);
  };
  // Built with append: GCC 12 at -O3 reports a false -Wrestrict on "literal" + std::string.
  std::string out("[");
  out.append(end(range.from)).append(", ").append(end(range.to)).append("]");
  return out;
}

}  // namespace tickgraph::store::checks
