#include "graph/plan.h"

#include <algorithm>
#include <cassert>
#include <functional>
#include <iterator>
#include <map>

namespace tickgraph::graph {

int Plan::asset_index(std::string_view symbol) const {
  for (std::size_t i = 0; i < assets.size(); ++i) {
    if (assets[i] == symbol) return static_cast<int>(i);
  }
  return -1;
}

std::shared_ptr<const Plan> make_plan(std::shared_ptr<const CompiledGraph> graph,
                                      std::string_view primary) {
  auto plan = std::make_shared<Plan>();
  plan->graph = std::move(graph);
  plan->assets.emplace_back(primary);
  const auto& nodes = plan->graph->nodes();

  auto asset_of = [&](const std::string& symbol) {
    int a = plan->asset_index(symbol);
    if (a < 0) {
      plan->assets.push_back(symbol);
      plan->sources.resize(plan->assets.size());
      a = static_cast<int>(plan->assets.size()) - 1;
    }
    return a;
  };
  plan->sources.resize(1);

  // Field slots are created on first use; instances in depth-first post-order.
  std::map<std::pair<int, Field>, int> field_slots;
  std::map<std::pair<int, int>, int> instance_of;  // (asset, node) -> instance
  auto field_slot = [&](int asset, Field f) {
    auto [it, fresh] = field_slots.emplace(std::make_pair(asset, f), plan->slot_count);
    if (fresh) {
      plan->sources[static_cast<std::size_t>(asset)].push_back({f, plan->slot_count});
      plan->slot_domain.push_back(asset);
      ++plan->slot_count;
    }
    return it->second;
  };

  std::function<int(int, int)> instantiate = [&](int asset, int node) -> int {
    if (auto it = instance_of.find({asset, node}); it != instance_of.end()) return it->second;
    const CompiledNode& cn = nodes[static_cast<std::size_t>(node)];
    Plan::Instance inst;
    inst.node = node;
    inst.asset = asset;
    inst.input_count = static_cast<int>(cn.inputs.size());
    for (std::size_t k = 0; k < cn.inputs.size(); ++k) {
      const InputRef& ref = cn.inputs[k];
      const int a = ref.symbol.empty() ? asset : asset_of(ref.symbol);
      int slot = 0;
      if (ref.kind == InputRef::Kind::kField) {
        slot = field_slot(a, ref.field);
      } else {
        const int up = instantiate(a, ref.node);
        slot = plan->instances[static_cast<std::size_t>(up)].output_slot + ref.output;
      }
      inst.input_slots[k] = slot;
      inst.input_domains[k] = plan->slot_domain[static_cast<std::size_t>(slot)];
    }
    inst.output_slot = plan->slot_count;
    inst.output_count = static_cast<int>(cn.fn->output_count());
    plan->slot_count += inst.output_count;
    plan->instances.push_back(inst);
    const int index = static_cast<int>(plan->instances.size()) - 1;
    instance_of[{asset, node}] = index;
    // The domain is settled once all assets are known (below); record slots provisionally.
    for (int o = 0; o < inst.output_count; ++o) plan->slot_domain.push_back(-1 - index);
    return index;
  };

  for (std::size_t n = 0; n < nodes.size(); ++n) instantiate(0, static_cast<int>(n));

  // Domains: assets are 0..A-1; joins get A, A+1, … in instance (topological) order.
  plan->domain_count = static_cast<int>(plan->assets.size());
  for (auto& inst : plan->instances) {
    for (int k = 0; k < inst.input_count; ++k) {
      int d = plan->slot_domain[static_cast<std::size_t>(inst.input_slots[k])];
      if (d < 0) d = plan->instances[static_cast<std::size_t>(-1 - d)].domain;  // resolved earlier
      inst.input_domains[k] = d;
    }
    const bool mixed = std::any_of(inst.input_domains.begin() + 1,
                                   inst.input_domains.begin() + std::max(inst.input_count, 1),
                                   [&](int d) { return d != inst.input_domains[0]; });
    if (inst.input_count == 0) {
      inst.domain = inst.asset;
    } else if (mixed) {
      inst.join = true;
      inst.domain = plan->domain_count++;
    } else {
      inst.domain = inst.input_domains[0];
    }
  }
  for (auto& d : plan->slot_domain) {
    if (d < 0) d = plan->instances[static_cast<std::size_t>(-1 - d)].domain;
  }
  plan->schedule.resize(static_cast<std::size_t>(plan->domain_count));
  plan->joins_fed.resize(static_cast<std::size_t>(plan->domain_count));
  for (std::size_t i = 0; i < plan->instances.size(); ++i) {
    const auto& inst = plan->instances[i];
    if (!inst.join) {
      plan->schedule[static_cast<std::size_t>(inst.domain)].push_back(static_cast<int>(i));
      continue;
    }
    for (int k = 0; k < inst.input_count; ++k) {
      auto& fed = plan->joins_fed[static_cast<std::size_t>(inst.input_domains[k])];
      if (std::find(fed.begin(), fed.end(), static_cast<int>(i)) == fed.end()) {
        fed.push_back(static_cast<int>(i));
      }
    }
  }
  for (const OutputColumn& c : plan->graph->outputs()) {
    const int inst = instance_of.at({0, c.node});
    plan->columns.push_back(
        {c.name, inst, plan->instances[static_cast<std::size_t>(inst)].output_slot + c.output});
  }
  return plan;
}

Status check_market_data(const Plan& plan, const MarketData& data) {
  for (std::size_t i = 0; i < plan.assets.size(); ++i) {
    if (data.find(plan.assets[i]) == data.end()) {
      return Status::invalid_argument("no bars for asset '" + plan.assets[i] + "'" +
                                      (i == 0 ? "" : " (read by the graph)"));
    }
  }
  return {};
}

Timestamp warmup_start(const Plan& plan, const MarketData& data, Timestamp from) {
  return warmup_window(plan, data, from).start;
}

WarmupWindow warmup_window(const Plan& plan, const MarketData& data, Timestamp from) {
  constexpr Timestamp kMin = std::numeric_limits<Timestamp>::min();
  if (from == kMin) return {from, false};
  const auto& lb = plan.graph->lookback();
  const auto back = static_cast<std::size_t>(lb.bars + lb.settle);
  // Each domain's bars before `from`: assets from the data, joins as the intersection of their
  // inputs' domains (domains are numbered so that a join's inputs come first).
  std::vector<std::vector<Timestamp>> before(static_cast<std::size_t>(plan.domain_count));
  for (std::size_t a = 0; a < plan.assets.size(); ++a) {
    const CandleSeries& s = data.find(plan.assets[a])->second;
    before[a].assign(s.time.begin(),
                     s.time.begin() + static_cast<std::ptrdiff_t>(s.lower_bound(from)));
  }
  for (const Plan::Instance& inst : plan.instances) {
    if (!inst.join) continue;
    auto& mine = before[static_cast<std::size_t>(inst.domain)];
    mine = before[static_cast<std::size_t>(inst.input_domains[0])];
    for (int k = 1; k < inst.input_count; ++k) {
      const auto& other =
          before[static_cast<std::size_t>(inst.input_domains[static_cast<std::size_t>(k)])];
      std::vector<Timestamp> common;
      std::set_intersection(mine.begin(), mine.end(), other.begin(), other.end(),
                            std::back_inserter(common));
      mine = std::move(common);
    }
  }
  WarmupWindow window{from, false};
  if (back > 0) {
    for (const auto& times : before) {
      if (times.size() <= back) window.short_history = true;
      if (times.empty()) continue;  // no bars needed before `from`
      window.start = std::min(window.start, times[times.size() > back ? times.size() - back : 0]);
    }
  }
  if (lb.time > 0) window.start = std::min(window.start, saturating_sub(from, lb.time));
  return window;
}

}  // namespace tickgraph::graph
