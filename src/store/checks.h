// The checking layer of the stores: the rules every backend's arguments are held to, checked once
// by the public methods of MarketStore, GraphStore and CredentialStore before any backend code
// runs, and how a failed call is named. Internal to src/store.
//
// Each check returns OK, or invalid_argument with a message that names the bad input (without the
// call: the caller adds it with in_call()).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "core/asset.h"
#include "core/candle.h"
#include "core/result.h"
#include "store/credential_store.h"
#include "store/graph_store.h"
#include "store/market_store.h"
#include "store/time_range.h"

namespace tickgraph::store::checks {

// --- market ---
// The symbol rules (validate_symbol).
Status asset(const Asset& a);
// Every price and the volume of every bar finite; names the first bad bar's time and field.
Status candles(std::span<const Candle> bars);
// Every tick's price and size finite; names the first bad tick's time and seq.
Status ticks(std::span<const StoredTick> ticks);

// --- graphs ---
// A name that is not empty; no NUL byte in the name or the spec. NUL bytes are refused because
// PostgreSQL's text ends at one, and every backend accepts the same.
Status graph_spec(std::string_view name, std::string_view spec);
// 0 (the latest) or positive.
Status graph_version(std::int64_t version);
// Every series with an output name and as many values as times.
Status analytics(std::span<const AnalyticsSeries> series);

// --- credentials ---
// A credential the stores can give back as given: an id, a kind "client" or "api_key", a secret
// hash; scopes neither empty nor containing a space (they are stored space-separated); no NUL
// byte in any field.
Status credential(const Credential& c);
// "" (both), "client" or "api_key".
Status credential_kind(std::string_view kind);
// A kid, an algorithm and a private key, none empty or containing a NUL byte.
Status signing_key(const SigningKey& k);

// --- naming a failed call ---
// The failure a Status or a Result holds (OK when none).
inline const Status& status_of(const Status& s) { return s; }
template <class T>
Status status_of(const Result<T>& r) {
  return r.status();
}
// `failed` as the failure of `call` on the database at `location`:
// "<call> on <location>: <message>", with its code and details.
Status in_call(const Status& failed, std::string_view call, std::string_view location);
// `result` as it is when it holds a value, else its failure named by in_call(); call() and
// location() (which build the names) are called only then.
template <class R, class Call, class Location>
R named(R result, const Call& call, const Location& location) {
  if (result.ok()) return result;
  return in_call(status_of(result), call(), location());
}
// "[2020-01-01T00:00:00Z, +inf]".
std::string describe_range(TimeRange range);

}  // namespace tickgraph::store::checks
