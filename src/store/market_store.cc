#include "store/market_store.h"

#include <string>
#include <utility>

#include "store/checks.h"

namespace tickgraph::store {
namespace {

// "write_candles(asset 7, 1d" (the caller closes it).
std::string series_call(std::string_view name, std::int64_t asset_id, Interval interval) {
  std::string out(name);
  out.append("(asset ").append(std::to_string(asset_id)).append(", ");
  out.append(interval_name(interval));
  return out;
}

}  // namespace

template <class R, class Call>
R MarketStore::named(R result, const Call& call) const {
  return checks::named(std::move(result), call, [this] { return location(); });
}

Result<Asset> MarketStore::upsert_asset(const Asset& asset) {
  const auto call = [&] { return "upsert_asset(" + asset.symbol + ")"; };
  if (Status s = checks::asset(asset); !s.ok()) return named(Result<Asset>(s), call);
  return named(do_upsert_asset(asset), call);
}

Result<std::optional<Asset>> MarketStore::find_asset(std::string_view symbol) {
  return named(do_find_asset(symbol), [&] { return "find_asset(" + std::string(symbol) + ")"; });
}

Result<std::vector<Asset>> MarketStore::list_assets(const AssetFilter& filter) {
  return named(do_list_assets(filter), [] { return std::string("list_assets"); });
}

Result<WriteStats> MarketStore::write_candles(std::int64_t asset_id, Interval interval,
                                              std::span<const Candle> bars) {
  const auto call = [&] {
    return series_call("write_candles", asset_id, interval) + ", " + std::to_string(bars.size()) +
           " bars)";
  };
  if (Status s = checks::candles(bars); !s.ok()) return named(Result<WriteStats>(s), call);
  return named(do_write_candles(asset_id, interval, bars), call);
}

Result<CandleSeries> MarketStore::read_candles(std::int64_t asset_id, Interval interval,
                                               TimeRange range, std::size_t limit) {
  return named(do_read_candles(asset_id, interval, range, limit), [&] {
    return series_call("read_candles", asset_id, interval) + ") " + checks::describe_range(range);
  });
}

Result<CandleSeries> MarketStore::latest_candles(std::int64_t asset_id, Interval interval,
                                                 std::size_t n, Timestamp before) {
  if (n == 0) return CandleSeries();
  return named(do_latest_candles(asset_id, interval, n, before),
               [&] { return series_call("latest_candles", asset_id, interval) + ")"; });
}

Result<std::int64_t> MarketStore::count_candles(std::int64_t asset_id, Interval interval) {
  return named(do_count_candles(asset_id, interval),
               [&] { return series_call("count_candles", asset_id, interval) + ")"; });
}

Result<WriteStats> MarketStore::write_ticks(std::int64_t asset_id,
                                            std::span<const StoredTick> ticks) {
  const auto call = [&] {
    return "write_ticks(asset " + std::to_string(asset_id) + ", " + std::to_string(ticks.size()) +
           " ticks)";
  };
  if (Status s = checks::ticks(ticks); !s.ok()) return named(Result<WriteStats>(s), call);
  return named(do_write_ticks(asset_id, ticks), call);
}

Result<std::vector<StoredTick>> MarketStore::read_ticks(std::int64_t asset_id, TimeRange range,
                                                        std::size_t limit) {
  return named(do_read_ticks(asset_id, range, limit), [&] {
    return "read_ticks(asset " + std::to_string(asset_id) + ") " + checks::describe_range(range);
  });
}

Status MarketStore::batch(const std::function<Status()>& body) { return do_batch(body); }

Status MarketStore::set_offset(std::string_view source, std::string_view partition,
                               std::int64_t offset) {
  return named(do_set_offset(source, partition, offset), [&] {
    return "set_offset(" + std::string(source) + ", " + std::string(partition) + ")";
  });
}

Result<std::optional<std::int64_t>> MarketStore::get_offset(std::string_view source,
                                                            std::string_view partition) {
  return named(do_get_offset(source, partition), [&] {
    return "get_offset(" + std::string(source) + ", " + std::string(partition) + ")";
  });
}

}  // namespace tickgraph::store
