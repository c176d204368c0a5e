// For tests: a Store that forwards every call to a real store and then tells a hook which call it
// made, on the caller's thread. Tests use it to see when and where the code under test calls the
// store (on which thread, holding which lock) and to pause a caller between two store calls, so
// that a race between them happens every time instead of once in a while. It fakes nothing: every
// answer is the real store's.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "core/clock.h"
#include "store/store.h"

namespace tickgraph::store {

class ObservedStore final : public Store {
 public:
  // Called after each forwarded call returns, with the call's name ("read_ticks").
  using Hook = std::function<void(std::string_view call)>;

  explicit ObservedStore(Store& inner) : Store(system_clock()), inner_(inner) {}

  // Replaces the hook (null: none). Safe while other threads call the store.
  void set_hook(Hook hook) {
    std::lock_guard lock(mutex_);
    hook_ = std::move(hook);
  }

 protected:
  std::string location() const override { return "observed store"; }

  Result<Asset> do_upsert_asset(const Asset& asset) override {
    return seen("upsert_asset", inner_.upsert_asset(asset));
  }
  Result<std::optional<Asset>> do_find_asset(std::string_view symbol) override {
    return seen("find_asset", inner_.find_asset(symbol));
  }
  Result<std::vector<Asset>> do_list_assets(const AssetFilter& filter) override {
    return seen("list_assets", inner_.list_assets(filter));
  }
  Result<WriteStats> do_write_candles(std::int64_t asset_id, Interval interval,
                                      std::span<const Candle> bars) override {
    return seen("write_candles", inner_.write_candles(asset_id, interval, bars));
  }
  Result<CandleSeries> do_read_candles(std::int64_t asset_id, Interval interval, TimeRange range,
                                       std::size_t limit) override {
    return seen("read_candles", inner_.read_candles(asset_id, interval, range, limit));
  }
  Result<CandleSeries> do_latest_candles(std::int64_t asset_id, Interval interval, std::size_t n,
                                         Timestamp before) override {
    return seen("latest_candles", inner_.latest_candles(asset_id, interval, n, before));
  }
  Result<std::int64_t> do_count_candles(std::int64_t asset_id, Interval interval) override {
    return seen("count_candles", inner_.count_candles(asset_id, interval));
  }
  Result<WriteStats> do_write_ticks(std::int64_t asset_id,
                                    std::span<const StoredTick> ticks) override {
    return seen("write_ticks", inner_.write_ticks(asset_id, ticks));
  }
  Result<std::vector<StoredTick>> do_read_ticks(std::int64_t asset_id, TimeRange range,
                                                std::size_t limit) override {
    return seen("read_ticks", inner_.read_ticks(asset_id, range, limit));
  }
  Status do_batch(const std::function<Status()>& body) override {
    return seen("batch", inner_.batch(body));
  }
  Status do_set_offset(std::string_view source, std::string_view partition,
                       std::int64_t offset) override {
    return seen("set_offset", inner_.set_offset(source, partition, offset));
  }
  Result<std::optional<std::int64_t>> do_get_offset(std::string_view source,
                                                    std::string_view partition) override {
    return seen("get_offset", inner_.get_offset(source, partition));
  }

  Result<GraphVersion> do_put_graph(
      std::string_view name, std::string_view spec,
      Timestamp /*created: the inner store stamps its own*/) override {
    return seen("put_graph", inner_.put_graph(name, spec));
  }
  Result<std::optional<GraphVersion>> do_get_graph(std::string_view name,
                                                   std::int64_t version) override {
    return seen("get_graph", inner_.get_graph(name, version));
  }
  Result<std::vector<GraphVersion>> do_list_graphs() override {
    return seen("list_graphs", inner_.list_graphs());
  }
  Status do_delete_graph(std::string_view name) override {
    return seen("delete_graph", inner_.delete_graph(name));
  }
  Status do_write_analytics(std::int64_t asset_id, std::int64_t graph_id, std::int64_t version,
                            std::span<const AnalyticsSeries> series) override {
    return seen("write_analytics", inner_.write_analytics(asset_id, graph_id, version, series));
  }
  Result<AnalyticsSeries> do_read_analytics(std::int64_t asset_id, std::int64_t graph_id,
                                            std::int64_t version, std::string_view output,
                                            TimeRange range) override {
    return seen("read_analytics",
                inner_.read_analytics(asset_id, graph_id, version, output, range));
  }

  Status do_add_credential(const Credential& credential) override {
    return seen("add_credential", inner_.add_credential(credential));
  }
  Result<std::optional<Credential>> do_find_credential(std::string_view id) override {
    return seen("find_credential", inner_.find_credential(id));
  }
  Result<std::vector<Credential>> do_list_credentials(std::string_view kind) override {
    return seen("list_credentials", inner_.list_credentials(kind));
  }
  Result<bool> do_revoke_credential(std::string_view id, Timestamp at) override {
    return seen("revoke_credential", inner_.revoke_credential(id, at));
  }
  Result<SigningKey> do_signing_key(const SigningKey& candidate) override {
    return seen("signing_key", inner_.signing_key(candidate));
  }

 private:
  template <class R>
  R seen(std::string_view call, R result) {
    Hook hook;
    {
      std::lock_guard lock(mutex_);
      hook = hook_;
    }
    if (hook) hook(call);
    return result;
  }

  Store& inner_;
  std::mutex mutex_;  // guards hook_ only: the hook itself runs unlocked
  Hook hook_;
};

}  // namespace tickgraph::store
