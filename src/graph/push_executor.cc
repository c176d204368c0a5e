#include "graph/push_executor.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tickgraph::graph {

struct PushExecutor::Hot {
  analytics::Kernel* kernel = nullptr;
  std::unique_ptr<analytics::Kernel> owned;
  int input_count = 0;
  std::array<int, kMaxInputs> input_slots{};
  int output_slot = 0;
  int output_count = 0;
  bool started = false;
};

namespace {

double field_value(const Candle& c, Field f) {
  switch (f) {
    case Field::kOpen:
      return c.open;
    case Field::kHigh:
      return c.high;
    case Field::kLow:
      return c.low;
    case Field::kClose:
      return c.close;
    case Field::kVolume:
      return c.volume;
  }
  return analytics::kNaN;
}

}  // namespace

PushExecutor::PushExecutor(std::shared_ptr<const Plan> plan) : plan_(std::move(plan)) {
  const auto& nodes = plan_->graph->nodes();
  values_.assign(static_cast<std::size_t>(plan_->slot_count), analytics::kNaN);
  join_queues_.resize(plan_->instances.size());
  hot_index_.resize(plan_->instances.size());
  auto add = [&](int i) {
    const auto& inst = plan_->instances[static_cast<std::size_t>(i)];
    const CompiledNode& cn = nodes[static_cast<std::size_t>(inst.node)];
    Hot& h = hot_.emplace_back();
    h.owned = cn.fn->make(cn.params);
    h.kernel = h.owned.get();
    h.input_count = inst.input_count;
    h.input_slots = inst.input_slots;
    h.output_slot = inst.output_slot;
    h.output_count = inst.output_count;
    hot_index_[static_cast<std::size_t>(i)] = hot_.size() - 1;
  };
  hot_.reserve(plan_->instances.size());
  for (const auto& schedule : plan_->schedule) {
    domain_begin_.push_back(hot_.size());
    for (int i : schedule) add(i);
  }
  domain_begin_.push_back(hot_.size());
  for (std::size_t i = 0; i < plan_->instances.size(); ++i) {
    const auto& inst = plan_->instances[i];
    if (!inst.join) continue;
    add(static_cast<int>(i));
    join_queues_[i].resize(static_cast<std::size_t>(inst.input_count));
  }
}

PushExecutor::~PushExecutor() = default;
PushExecutor::PushExecutor(PushExecutor&&) noexcept = default;
PushExecutor& PushExecutor::operator=(PushExecutor&&) noexcept = default;

void PushExecutor::on_bar(int asset, const Candle& bar) {
  for (const Plan::Source& s : plan_->sources[static_cast<std::size_t>(asset)]) {
    values_[static_cast<std::size_t>(s.slot)] = field_value(bar, s.field);
  }
  run_domain(asset, bar.time);
}

void PushExecutor::fire(Hot& h, Timestamp t, const double* in) {
  double* out = values_.data() + h.output_slot;
  if (!h.started) [[unlikely]] {
    for (int k = 0; k < h.input_count; ++k) {
      if (std::isnan(in[k])) {
        std::fill(out, out + h.output_count, analytics::kNaN);
        return;
      }
    }
    h.started = true;
  }
  h.kernel->push(t, in, out);
}

void PushExecutor::run_domain(int domain, Timestamp t) {
  const double* v = values_.data();
  Hot* h = hot_.data() + domain_begin_[static_cast<std::size_t>(domain)];
  Hot* const end = hot_.data() + domain_begin_[static_cast<std::size_t>(domain) + 1];
  for (; h != end; ++h) {
    double in[kMaxInputs];
    for (int k = 0; k < h->input_count; ++k) in[k] = v[h->input_slots[static_cast<std::size_t>(k)]];
    fire(*h, t, in);
  }
  if (listener_) listener_(t, domain);
  for (int j : plan_->joins_fed[static_cast<std::size_t>(domain)]) feed_join(j, domain, t);
}

void PushExecutor::feed_join(int instance, int from_domain, Timestamp t) {
  const auto& inst = plan_->instances[static_cast<std::size_t>(instance)];
  auto& queues = join_queues_[static_cast<std::size_t>(instance)];
  for (int k = 0; k < inst.input_count; ++k) {
    if (inst.input_domains[static_cast<std::size_t>(k)] != from_domain) continue;
    auto& q = queues[static_cast<std::size_t>(k)];
    q.push_back(
        {t, values_[static_cast<std::size_t>(inst.input_slots[static_cast<std::size_t>(k)])]});
    if (q.size() > kMaxQueued) {
      q.pop_front();
      ++dropped_join_bars_;
    }
  }
  // Merge-join of ordered streams: a front older than another input's front can never match.
  for (;;) {
    Timestamp newest = std::numeric_limits<Timestamp>::min();
    for (const auto& q : queues) {
      if (q.empty()) return;
      newest = std::max(newest, q.front().t);
    }
    bool matched = true;
    for (auto& q : queues) {
      while (!q.empty() && q.front().t < newest) q.pop_front();
      if (q.empty() || q.front().t != newest) matched = false;
    }
    if (!matched) continue;  // the loop returns when some queue ran dry
    double in[kMaxInputs];
    for (std::size_t k = 0; k < queues.size(); ++k) {
      in[k] = queues[k].front().value;
      queues[k].pop_front();
    }
    fire(hot_[hot_index_[static_cast<std::size_t>(instance)]], newest, in);
    run_domain(inst.domain, newest);
  }
}

void PushExecutor::peek(int asset, const Candle& bar, std::vector<double>& scratch) const {
  scratch.assign(values_.begin(), values_.end());
  for (const Plan::Source& s : plan_->sources[static_cast<std::size_t>(asset)]) {
    scratch[static_cast<std::size_t>(s.slot)] = field_value(bar, s.field);
  }
  for (std::size_t i = domain_begin_[static_cast<std::size_t>(asset)];
       i < domain_begin_[static_cast<std::size_t>(asset) + 1]; ++i) {
    const Hot& h = hot_[i];
    double in[kMaxInputs];
    bool ready = true;
    for (int k = 0; k < h.input_count; ++k) {
      in[k] = scratch[static_cast<std::size_t>(h.input_slots[static_cast<std::size_t>(k)])];
      ready = ready && !std::isnan(in[k]);
    }
    double* out = scratch.data() + h.output_slot;
    if (!h.started && !ready) {
      std::fill(out, out + h.output_count, analytics::kNaN);
    } else {
      h.kernel->peek(bar.time, in, out);
    }
  }
}

// Feeds every asset's bars in [start, range.to] through a push executor in time order (assets in
// plan order on equal times) and collects the primary's outputs for the rows in range.
Result<Table> run_push(const std::shared_ptr<const CompiledGraph>& graph, std::string_view symbol,
                       const MarketData& data, TimeRange range) {
  auto plan = make_plan(graph, symbol);
  if (Status s = check_market_data(*plan, data); !s.ok()) return s;
  const CandleSeries& primary = data.find(symbol)->second;
  const Timestamp start = warmup_start(*plan, data, range.from);

  Table table;
  for (std::size_t i = primary.lower_bound(range.from);
       i < primary.size() && primary.time[i] <= range.to; ++i) {
    table.time.push_back(primary.time[i]);
  }
  for (const auto& c : plan->columns) table.columns.push_back(c.name);
  table.values.assign(plan->columns.size(), Column(table.rows(), analytics::kNaN));

  PushExecutor exec(plan);
  exec.set_listener([&](Timestamp t, int domain) {
    auto row = std::lower_bound(table.time.begin(), table.time.end(), t);
    if (row == table.time.end() || *row != t) return;
    const auto r = static_cast<std::size_t>(row - table.time.begin());
    for (std::size_t c = 0; c < plan->columns.size(); ++c) {
      const auto& col = plan->columns[c];
      if (plan->instances[static_cast<std::size_t>(col.instance)].domain == domain) {
        table.values[c][r] = exec.value(col.slot);
      }
    }
  });

  // A k-way merge over the assets' bars.
  std::vector<std::size_t> next(plan->assets.size());
  for (std::size_t a = 0; a < plan->assets.size(); ++a) {
    next[a] = data.find(plan->assets[a])->second.lower_bound(start);
  }
  for (;;) {
    int best = -1;
    Timestamp best_t = 0;
    for (std::size_t a = 0; a < plan->assets.size(); ++a) {
      const CandleSeries& s = data.find(plan->assets[a])->second;
      if (next[a] < s.size() && s.time[next[a]] <= range.to &&
          (best < 0 || s.time[next[a]] < best_t)) {
        best = static_cast<int>(a);
        best_t = s.time[next[a]];
      }
    }
    if (best < 0) break;
    const CandleSeries& s = data.find(plan->assets[static_cast<std::size_t>(best)])->second;
    exec.on_bar(best, s.at(next[static_cast<std::size_t>(best)]++));
  }
  return table;
}

}  // namespace tickgraph::graph
