// Assets are first-class objects: a symbol with its identity and descriptive data, not a column
// name. The registry owns them and is the single place symbols are resolved.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tickgraph {

enum class AssetClass { kEquity, kIndex, kEtf, kFuture, kFx, kCrypto, kBond, kCommodity, kOther };

std::string_view asset_class_name(AssetClass c);  // "equity", "index", …
Result<AssetClass> parse_asset_class(std::string_view text);

struct Asset {
  std::int64_t id = 0;  // assigned by the registry (or the store); 0 = not yet registered
  std::string symbol;   // unique, e.g. "SPX", "AAPL", "BTC-USD"
  std::string name;     // "S&P 500 index"
  AssetClass asset_class = AssetClass::kEquity;
  std::string currency;                           // ISO 4217, e.g. "USD"
  std::string exchange;                           // MIC or free text
  std::map<std::string, std::string> attributes;  // free-form (sector, isin, …)
};

// Symbols: 1–32 characters from [A-Za-z0-9._^=-], starting with a letter, digit or '^'.
Status validate_symbol(std::string_view symbol);

// A filter for listing assets; empty fields match everything. Text matches are case-insensitive
// substrings (symbol, name) or exact (exchange).
struct AssetFilter {
  std::string text;  // matched against symbol or name
  std::optional<AssetClass> asset_class;
  std::string exchange;
};

// In-memory set of assets keyed by symbol. Not thread-safe: callers serialise access.
class AssetRegistry {
 public:
  // Adds an asset, or updates the descriptive fields of the one with the same symbol (keeping
  // its id). Fails on an invalid symbol. Returns the stored asset's id.
  Result<std::int64_t> upsert(Asset asset);
  const Asset* find(std::string_view symbol) const;  // nullptr when unknown
  const Asset* find(std::int64_t id) const;
  bool contains(std::string_view symbol) const { return find(symbol) != nullptr; }
  std::vector<const Asset*> list(const AssetFilter& filter = {}) const;  // ordered by symbol
  std::size_t size() const { return assets_.size(); }

 private:
  std::map<std::string, Asset, std::less<>> assets_;
  std::int64_t next_id_ = 1;
};

}  // namespace tickgraph
