#include "graph/pull_executor.h"

#include <algorithm>
#include <cmath>

#include "analytics/kernel.h"
#include "graph/plan.h"

namespace tickgraph::graph {

int Table::column(const std::string& name) const {
  auto it = std::find(columns.begin(), columns.end(), name);
  return it == columns.end() ? -1 : static_cast<int>(it - columns.begin());
}

namespace {

// Values of `from` (on timeline `from_t`) at the times of `to_t`, a subset of `from_t`.
std::vector<double> gather(const double* from, const std::vector<Timestamp>& from_t,
                           const std::vector<Timestamp>& to_t) {
  std::vector<double> out(to_t.size());
  std::size_t j = 0;
  for (std::size_t i = 0; i < to_t.size(); ++i) {
    while (from_t[j] < to_t[i]) ++j;
    out[i] = from[j];
  }
  return out;
}

std::vector<Timestamp> intersect(const std::vector<Timestamp>& a, const std::vector<Timestamp>& b) {
  std::vector<Timestamp> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace

Result<Table> run_pull(const std::shared_ptr<const CompiledGraph>& graph, std::string_view symbol,
                       const MarketData& data, TimeRange range) {
  const auto plan = make_plan(graph, symbol);
  if (Status s = check_market_data(*plan, data); !s.ok()) return s;
  const Timestamp start = warmup_start(*plan, data, range.from);

  // Each domain's timeline, and each slot's values on its domain's timeline.
  std::vector<std::vector<Timestamp>> timeline(static_cast<std::size_t>(plan->domain_count));
  std::vector<const double*> slot_ptr(static_cast<std::size_t>(plan->slot_count), nullptr);
  std::vector<std::vector<double>> storage(static_cast<std::size_t>(plan->slot_count));
  for (std::size_t a = 0; a < plan->assets.size(); ++a) {
    const CandleSeries& s = data.find(plan->assets[a])->second;
    const std::size_t b = s.lower_bound(start);
    const std::size_t e = static_cast<std::size_t>(
        std::upper_bound(s.time.begin(), s.time.end(), range.to) - s.time.begin());
    const std::size_t end = std::max(b, e);
    timeline[a].assign(s.time.begin() + static_cast<std::ptrdiff_t>(b),
                       s.time.begin() + static_cast<std::ptrdiff_t>(end));
    for (const Plan::Source& src : plan->sources[a]) {
      slot_ptr[static_cast<std::size_t>(src.slot)] = s.field(src.field).data() + b;
    }
  }

  const auto& nodes = graph->nodes();
  for (const Plan::Instance& inst : plan->instances) {
    auto& tl = timeline[static_cast<std::size_t>(inst.domain)];
    std::vector<std::vector<double>> gathered;
    const double* in[kMaxInputs] = {};
    if (inst.join) {
      tl = timeline[static_cast<std::size_t>(inst.input_domains[0])];
      for (int k = 1; k < inst.input_count; ++k) {
        tl = intersect(
            tl,
            timeline[static_cast<std::size_t>(inst.input_domains[static_cast<std::size_t>(k)])]);
      }
      gathered.resize(static_cast<std::size_t>(inst.input_count));
      for (int k = 0; k < inst.input_count; ++k) {
        const auto ku = static_cast<std::size_t>(k);
        gathered[ku] = gather(slot_ptr[static_cast<std::size_t>(inst.input_slots[ku])],
                              timeline[static_cast<std::size_t>(inst.input_domains[ku])], tl);
        in[k] = gathered[ku].data();
      }
    } else {
      for (int k = 0; k < inst.input_count; ++k) {
        in[k] = slot_ptr[static_cast<std::size_t>(inst.input_slots[static_cast<std::size_t>(k)])];
      }
    }
    const std::size_t n = tl.size();
    double* out[kMaxInputs + 4] = {};
    for (int o = 0; o < inst.output_count; ++o) {
      auto& st = storage[static_cast<std::size_t>(inst.output_slot) + static_cast<std::size_t>(o)];
      st.assign(n, analytics::kNaN);
      out[o] = st.data();
      slot_ptr[static_cast<std::size_t>(inst.output_slot) + static_cast<std::size_t>(o)] =
          st.data();
    }
    // Leading bars where an input is still NaN are warm-up: the node starts after them.
    std::size_t first = 0;
    while (first < n && std::any_of(in, in + inst.input_count,
                                    [&](const double* x) { return std::isnan(x[first]); })) {
      ++first;
    }
    if (first < n) {
      const double* in_from[kMaxInputs];
      double* out_from[kMaxInputs + 4];
      for (int k = 0; k < inst.input_count; ++k) in_from[k] = in[k] + first;
      for (int o = 0; o < inst.output_count; ++o) out_from[o] = out[o] + first;
      const CompiledNode& cn = nodes[static_cast<std::size_t>(inst.node)];
      auto kernel = cn.fn->make(cn.params);
      kernel->batch(tl.data() + first, in_from, out_from, n - first);
    }
  }

  // The primary's rows in range; columns mapped from their domain's timeline.
  Table table;
  const auto& rows_all = timeline[0];
  const auto row_begin = std::lower_bound(rows_all.begin(), rows_all.end(), range.from);
  table.time.assign(row_begin, rows_all.end());
  for (const Plan::Column& c : plan->columns) {
    table.columns.push_back(c.name);
    const auto& inst = plan->instances[static_cast<std::size_t>(c.instance)];
    const auto& tl = timeline[static_cast<std::size_t>(inst.domain)];
    const double* v = slot_ptr[static_cast<std::size_t>(c.slot)];
    std::vector<double> col(table.time.size(), analytics::kNaN);
    std::size_t j = 0;
    for (std::size_t r = 0; r < table.time.size(); ++r) {
      while (j < tl.size() && tl[j] < table.time[r]) ++j;
      if (j < tl.size() && tl[j] == table.time[r]) col[r] = v[j];
    }
    table.values.push_back(std::move(col));
  }
  return table;
}

}  // namespace tickgraph::graph
