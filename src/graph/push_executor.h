// Push mode: one bar in, only the nodes it affects updated, each in O(1) (for most functions).
//
// The executor owns one kernel per (asset, node) instance of a Plan, and a flat array of value
// slots. on_bar(asset, candle) writes the bar's fields into that asset's slots and fires the
// asset's domain schedule in topological order; joins (cross-asset nodes) queue each input by
// timestamp and fire when every input has the same bar, then fire their own domain. A node is
// not fed until all its inputs have produced a value; until then its outputs are NaN (the same
// rule as the pull executor, which is why both agree bit for bit).
//
// Bars of one asset must come in strictly increasing time; assets may interleave freely. A join
// keeps at most kMaxQueued unmatched bars per input (an asset that stops ticking), dropping the
// oldest and counting them in dropped_join_bars().
//
// Thread-safety: none; one executor is driven by one thread.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "analytics/kernel.h"
#include "core/candle.h"
#include "graph/plan.h"
#include "graph/pull_executor.h"
#include "graph/table.h"

namespace tickgraph::graph {

class PushExecutor {
 public:
  static constexpr std::size_t kMaxQueued = 100000;

  explicit PushExecutor(std::shared_ptr<const Plan> plan);
  ~PushExecutor();
  PushExecutor(PushExecutor&&) noexcept;
  PushExecutor& operator=(PushExecutor&&) noexcept;

  const Plan& plan() const { return *plan_; }

  // Commits a closed bar of plan().assets[asset].
  void on_bar(int asset, const Candle& bar);

  // The values every slot would hold if `bar` (a still-forming bar of `asset`) closed now, written
  // into `scratch` (resized to plan().slot_count); the executor's state does not change. Only the
  // asset's own domain is recomputed: cross-asset nodes keep their last committed values.
  void peek(int asset, const Candle& bar, std::vector<double>& scratch) const;

  // Current value of a slot (NaN until its node has produced one).
  double value(int slot) const { return values_[static_cast<std::size_t>(slot)]; }
  std::span<const double> values() const { return values_; }

  // Called after each domain fires, with the bar time and the domain; read values() inside.
  using Listener = std::function<void(Timestamp, int domain)>;
  void set_listener(Listener listener) { listener_ = std::move(listener); }

  std::uint64_t dropped_join_bars() const { return dropped_join_bars_; }

 private:
  struct Hot;      // per-instance state laid out for the firing loop
  struct Queued {  // a join input waiting for its partners
    Timestamp t;
    double value;
  };
  void run_domain(int domain, Timestamp t);
  void feed_join(int instance, int from_domain, Timestamp t);
  void fire(Hot& h, Timestamp t, const double* in);

  std::shared_ptr<const Plan> plan_;
  // Per-instance state, laid out domain by domain in schedule order so that a bar walks one
  // contiguous range: domain d's non-join instances are hot_[domain_begin_[d], domain_begin_[d+1]).
  // Joins follow all domains; hot_index_ maps an instance to its entry.
  std::vector<Hot> hot_;
  std::vector<std::size_t> domain_begin_;
  std::vector<std::size_t> hot_index_;
  std::vector<double> values_;
  std::vector<std::vector<std::deque<Queued>>> join_queues_;  // [instance][input] (joins only)
  Listener listener_;
  std::uint64_t dropped_join_bars_ = 0;
};

// Replays history through a fresh PushExecutor, bar by bar: every asset's bars from
// warmup_start() to range.to, merged in time order (assets in plan order on equal times), and
// returns the primary's outputs for its bars in range. The push counterpart of run_pull, with the
// same arguments, rows and columns; the two must agree bit for bit.
Result<Table> run_push(const std::shared_ptr<const CompiledGraph>& graph, std::string_view symbol,
                       const MarketData& data, TimeRange range = {});

}  // namespace tickgraph::graph
