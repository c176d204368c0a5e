#include "store/graph_store.h"

#include <string>
#include <utility>

#include "store/checks.h"

namespace tickgraph::store {
namespace {

// "write_analytics(asset 7, graph 3 version 2" (the caller closes it).
std::string analytics_call(std::string_view name, std::int64_t asset_id, std::int64_t graph_id,
                           std::int64_t version) {
  std::string out(name);
  out.append("(asset ").append(std::to_string(asset_id));
  out.append(", graph ").append(std::to_string(graph_id));
  out.append(" version ").append(std::to_string(version));
  return out;
}

}  // namespace

template <class R, class Call>
R GraphStore::named(R result, const Call& call) const {
  return checks::named(std::move(result), call, [this] { return location(); });
}

Result<GraphVersion> GraphStore::put_graph(std::string_view name, std::string_view spec) {
  const auto call = [&] { return "put_graph(" + std::string(name) + ")"; };
  if (Status s = checks::graph_spec(name, spec); !s.ok()) {
    return named(Result<GraphVersion>(s), call);
  }
  return named(do_put_graph(name, spec, clock_.now()), call);
}

Result<std::optional<GraphVersion>> GraphStore::get_graph(std::string_view name,
                                                          std::int64_t version) {
  const auto call = [&] {
    return "get_graph(" + std::string(name) +
           (version != 0 ? ", version " + std::to_string(version) : std::string()) + ")";
  };
  if (Status s = checks::graph_version(version); !s.ok()) {
    return named(Result<std::optional<GraphVersion>>(s), call);
  }
  return named(do_get_graph(name, version), call);
}

Result<std::vector<GraphVersion>> GraphStore::list_graphs() {
  return named(do_list_graphs(), [] { return std::string("list_graphs"); });
}

Status GraphStore::delete_graph(std::string_view name) {
  return named(do_delete_graph(name), [&] { return "delete_graph(" + std::string(name) + ")"; });
}

Status GraphStore::write_analytics(std::int64_t asset_id, std::int64_t graph_id,
                                   std::int64_t version, std::span<const AnalyticsSeries> series) {
  const auto call = [&] {
    return analytics_call("write_analytics", asset_id, graph_id, version) + ")";
  };
  if (Status s = checks::analytics(series); !s.ok()) return named(s, call);
  return named(do_write_analytics(asset_id, graph_id, version, series), call);
}

Result<AnalyticsSeries> GraphStore::read_analytics(std::int64_t asset_id, std::int64_t graph_id,
                                                   std::int64_t version, std::string_view output,
                                                   TimeRange range) {
  return named(do_read_analytics(asset_id, graph_id, version, output, range), [&] {
    return analytics_call("read_analytics", asset_id, graph_id, version) + ", " +
           std::string(output) + ") " + checks::describe_range(range);
  });
}

}  // namespace tickgraph::store
