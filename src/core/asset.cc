#include "core/asset.h"

#include <algorithm>
#include <cctype>

namespace tickgraph {

namespace {
struct ClassName {
  AssetClass c;
  std::string_view name;
};
constexpr ClassName kClassNames[] = {
    {AssetClass::kEquity, "equity"}, {AssetClass::kIndex, "index"},
    {AssetClass::kEtf, "etf"},       {AssetClass::kFuture, "future"},
    {AssetClass::kFx, "fx"},         {AssetClass::kCrypto, "crypto"},
    {AssetClass::kBond, "bond"},     {AssetClass::kCommodity, "commodity"},
    {AssetClass::kOther, "other"},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

std::string_view asset_class_name(AssetClass c) { return kClassNames[static_cast<int>(c)].name; }

Result<AssetClass> parse_asset_class(std::string_view text) {
  const std::string l = lower(text);
  for (const auto& cn : kClassNames) {
    if (cn.name == l) return cn.c;
  }
  return Status::invalid_argument(
      "unknown asset class '" + std::string(text) +
      "' (expected equity, index, etf, future, fx, crypto, bond, commodity or other)");
}

Status validate_symbol(std::string_view symbol) {
  auto allowed = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '^' ||
           c == '=' || c == '-';
  };
  if (symbol.empty() || symbol.size() > 32 || !std::all_of(symbol.begin(), symbol.end(), allowed) ||
      !(std::isalnum(static_cast<unsigned char>(symbol.front())) || symbol.front() == '^')) {
    return Status::invalid_argument(
        "invalid symbol '" + std::string(symbol) +
        "' (1-32 characters from A-Z a-z 0-9 . _ ^ = -, starting with a letter, "
        "a digit or ^)");
  }
  return {};
}

Result<std::int64_t> AssetRegistry::upsert(Asset asset) {
  if (Status s = validate_symbol(asset.symbol); !s.ok()) return s;
  auto it = assets_.find(asset.symbol);
  if (it != assets_.end()) {
    asset.id = it->second.id;
    it->second = std::move(asset);
    return it->second.id;
  }
  if (asset.id == 0) asset.id = next_id_;
  next_id_ = std::max(next_id_, asset.id + 1);
  const std::int64_t id = asset.id;
  const std::string symbol = asset.symbol;
  assets_.emplace(symbol, std::move(asset));
  return id;
}

const Asset* AssetRegistry::find(std::string_view symbol) const {
  auto it = assets_.find(symbol);
  return it == assets_.end() ? nullptr : &it->second;
}

const Asset* AssetRegistry::find(std::int64_t id) const {
  for (const auto& [symbol, asset] : assets_) {
    if (asset.id == id) return &asset;
  }
  return nullptr;
}

std::vector<const Asset*> AssetRegistry::list(const AssetFilter& filter) const {
  const std::string needle = lower(filter.text);
  std::vector<const Asset*> out;
  for (const auto& [symbol, asset] : assets_) {
    if (!needle.empty() && lower(asset.symbol).find(needle) == std::string::npos &&
        lower(asset.name).find(needle) == std::string::npos) {
      continue;
    }
    if (filter.asset_class && asset.asset_class != *filter.asset_class) continue;
    if (!filter.exchange.empty() && asset.exchange != filter.exchange) continue;
    out.push_back(&asset);
  }
  return out;
}

}  // namespace tickgraph
