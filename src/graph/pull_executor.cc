#include "graph/pull_executor.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "analytics/kernel.h"
#include "graph/plan.h"

namespace tickgraph::graph {

namespace {

// Values of `from` (on timeline `from_t`) at the times of `to_t`, a subset of `from_t`.
std::vector<double> gather(const double* from, std::span<const Timestamp> from_t,
                           std::span<const Timestamp> to_t) {
  std::vector<double> out(to_t.size());
  std::size_t j = 0;
  for (std::size_t i = 0; i < to_t.size(); ++i) {
    while (from_t[j] < to_t[i]) ++j;
    out[i] = from[j];
  }
  return out;
}

std::vector<Timestamp> intersect(std::span<const Timestamp> a, std::span<const Timestamp> b) {
  std::vector<Timestamp> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace

// Where the time goes: only into the kernels and the result. Each asset's timeline is a view of
// its bars (no copy); each output of the primary asset's own clock domain is written by its kernel
// straight into its result column (warm-up rows included, hidden by Column's lead: no copy, no
// second pass); no array is filled with NaN first but the rows before a node starts (its inputs'
// warm-up), since every batch kernel writes each of its outputs (KernelLaws checks it). Only
// outputs of other domains (a cross-asset join's common bars) are mapped onto the rows at the end.
Result<Table> run_pull(const std::shared_ptr<const CompiledGraph>& graph, std::string_view symbol,
                       const MarketData& data, TimeRange range) {
  const auto plan = make_plan(graph, symbol);
  if (Status s = check_market_data(*plan, data); !s.ok()) return s;
  const Timestamp start = warmup_start(*plan, data, range.from);
  const auto domains = static_cast<std::size_t>(plan->domain_count);
  const auto slots = static_cast<std::size_t>(plan->slot_count);

  // Each domain's timeline (an asset's: a view of its bars from `start`; a join's: owned), and
  // each slot's values on its domain's timeline.
  std::vector<std::span<const Timestamp>> timeline(domains);
  std::vector<std::vector<Timestamp>> join_timeline(domains);
  std::vector<const double*> slot_ptr(slots, nullptr);
  for (std::size_t a = 0; a < plan->assets.size(); ++a) {
    const CandleSeries& s = data.find(plan->assets[a])->second;
    const std::size_t b = s.lower_bound(start);
    const std::size_t e = static_cast<std::size_t>(
        std::upper_bound(s.time.begin(), s.time.end(), range.to) - s.time.begin());
    timeline[a] = std::span<const Timestamp>(s.time).subspan(b, std::max(b, e) - b);
    for (const Plan::Source& src : plan->sources[a]) {
      slot_ptr[static_cast<std::size_t>(src.slot)] = s.field(src.field).data() + b;
    }
  }

  // The result: the primary's rows in range. Its own domain's outputs get their columns now.
  const std::span<const Timestamp> primary = timeline[0];
  const auto lead = static_cast<std::size_t>(
      std::lower_bound(primary.begin(), primary.end(), range.from) - primary.begin());
  Table table;
  table.time.assign(primary.begin() + static_cast<std::ptrdiff_t>(lead), primary.end());
  table.values.resize(plan->columns.size());
  std::vector<int> column_of_slot(slots, -1);  // the column a slot's kernel writes into
  for (std::size_t c = 0; c < plan->columns.size(); ++c) {
    const Plan::Column& col = plan->columns[c];
    table.columns.push_back(col.name);
    const auto slot = static_cast<std::size_t>(col.slot);
    if (plan->instances[static_cast<std::size_t>(col.instance)].domain == 0 &&
        column_of_slot[slot] < 0) {
      table.values[c] = Column::with_lead(lead, table.rows());
      column_of_slot[slot] = static_cast<int>(c);
    }
  }

  std::vector<std::unique_ptr<double[]>> scratch;  // outputs that are not result columns
  const auto& nodes = graph->nodes();
  for (const Plan::Instance& inst : plan->instances) {
    const auto domain = static_cast<std::size_t>(inst.domain);
    std::vector<std::vector<double>> gathered;
    const double* in[kMaxInputs] = {};
    if (inst.join) {
      std::vector<Timestamp> common(
          timeline[static_cast<std::size_t>(inst.input_domains[0])].begin(),
          timeline[static_cast<std::size_t>(inst.input_domains[0])].end());
      for (int k = 1; k < inst.input_count; ++k) {
        common = intersect(
            common,
            timeline[static_cast<std::size_t>(inst.input_domains[static_cast<std::size_t>(k)])]);
      }
      join_timeline[domain] = std::move(common);
      timeline[domain] = join_timeline[domain];
      gathered.resize(static_cast<std::size_t>(inst.input_count));
      for (int k = 0; k < inst.input_count; ++k) {
        const auto ku = static_cast<std::size_t>(k);
        gathered[ku] =
            gather(slot_ptr[static_cast<std::size_t>(inst.input_slots[ku])],
                   timeline[static_cast<std::size_t>(inst.input_domains[ku])], timeline[domain]);
        in[k] = gathered[ku].data();
      }
    } else {
      for (int k = 0; k < inst.input_count; ++k) {
        in[k] = slot_ptr[static_cast<std::size_t>(inst.input_slots[static_cast<std::size_t>(k)])];
      }
    }
    const std::span<const Timestamp> tl = timeline[domain];
    const std::size_t n = tl.size();
    // Leading bars where an input is still NaN are warm-up: the node starts after them.
    std::size_t first = 0;
    while (first < n && std::any_of(in, in + inst.input_count,
                                    [&](const double* x) { return std::isnan(x[first]); })) {
      ++first;
    }
    double* out[kMaxInputs + 4] = {};
    for (int o = 0; o < inst.output_count; ++o) {
      const auto slot = static_cast<std::size_t>(inst.output_slot) + static_cast<std::size_t>(o);
      if (column_of_slot[slot] >= 0) {
        out[o] = table.values[static_cast<std::size_t>(column_of_slot[slot])].buffer();
      } else {
        scratch.emplace_back(new double[n]);  // uninitialized: written below
        out[o] = scratch.back().get();
      }
      std::fill(out[o], out[o] + first, analytics::kNaN);
      slot_ptr[slot] = out[o];
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

  // Columns not written in place (another domain's, or a second column of one slot): mapped from
  // their domain's timeline onto the rows, NaN where it has no bar.
  for (std::size_t c = 0; c < plan->columns.size(); ++c) {
    const Plan::Column& col = plan->columns[c];
    if (column_of_slot[static_cast<std::size_t>(col.slot)] == static_cast<int>(c)) continue;
    const auto& inst = plan->instances[static_cast<std::size_t>(col.instance)];
    const std::span<const Timestamp> tl = timeline[static_cast<std::size_t>(inst.domain)];
    const double* v = slot_ptr[static_cast<std::size_t>(col.slot)];
    Column column(table.rows(), analytics::kNaN);
    std::size_t j = 0;
    for (std::size_t r = 0; r < table.rows(); ++r) {
      while (j < tl.size() && tl[j] < table.time[r]) ++j;
      if (j < tl.size() && tl[j] == table.time[r]) column[r] = v[j];
    }
    table.values[c] = std::move(column);
  }
  return table;
}

}  // namespace tickgraph::graph
