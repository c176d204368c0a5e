// The graph half of the database: graph specs, versioned, and the analytics materialised from
// them per (asset, graph version, output).
//
// Versions. put_graph stores a spec under a name: the same text keeps the latest version, a
// changed text (even one going back to an older text) makes version + 1, stamped `created` from
// the database's clock (store.h: open_store). So results computed under an old version are never
// reused for a new one. Deleting a graph removes every version and its analytics; deleting a
// graph that does not exist is not_found; a name put again after deletion starts at version 1.
// Graphs are listed by name.
//
// Analytics live here rather than with the market data because they are a graph version's
// results: they are keyed by it, written only for a stored version, and go with it when the
// graph is deleted. The market data decides how long they stay valid: a corrected or backfilled
// bar deletes them from its time on (market_store.h). Writes are idempotent on (asset, graph
// version, output, time): a point written again is replaced. NaN is stored and read back as NaN.
//
// Arguments are checked before the database is touched (store/checks.h, the same rules for every
// backend). Failures are values, with a message "<call> on <database>: <cause>" and a code:
//   - invalid_argument: an empty graph name, a name or spec containing a NUL byte, a negative
//     version, an analytics series with an empty output name or with different numbers of times
//     and values — the whole call fails;
//   - not_found: deleting an unknown graph; writing analytics for an unknown asset or graph
//     version;
//   - unavailable: the database is busy, locked or unreachable (retry later);
//   - data_loss, permission_denied, internal: as the backend reports them.
//
// Thread-safety: safe to call from several threads. The clock given at construction must outlive
// the store.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "core/time.h"
#include "store/time_range.h"

namespace tickgraph::store {

struct GraphVersion {
  std::int64_t graph_id = 0;  // identifies this version
  std::string name;
  std::int64_t version = 0;  // 1, 2, … per name; a new version only when the text changes
  std::string spec;          // the spec text as given (YAML or JSON)
  Timestamp created = 0;     // when this version was stored, from the database's clock
};

// One output column of a graph run, on its own timeline.
struct AnalyticsSeries {
  std::string output;  // "bb.upper"
  std::vector<Timestamp> time;
  std::vector<double> values;  // NaN is stored as NULL
};

class GraphStore {
 public:
  virtual ~GraphStore() = default;

  // --- graph specs ---
  // Stores `spec` under `name`: the latest version when the text is unchanged, else a new version
  // stamped with clock.now().
  Result<GraphVersion> put_graph(std::string_view name, std::string_view spec);
  // The latest version (version 0) or a given one of a graph; nullopt when absent.
  Result<std::optional<GraphVersion>> get_graph(std::string_view name, std::int64_t version = 0);
  // The latest version of each graph, by name.
  Result<std::vector<GraphVersion>> list_graphs();
  // Deletes every version and their analytics; not_found when there is no such graph.
  Status delete_graph(std::string_view name);

  // --- materialised analytics ---
  // Upserts the series of one asset under one graph version, in one transaction (all or
  // nothing); not_found for an unknown asset or graph version.
  Status write_analytics(std::int64_t asset_id, std::int64_t graph_id, std::int64_t version,
                         std::span<const AnalyticsSeries> series);
  // One output's points with time in range, ascending (empty when none).
  Result<AnalyticsSeries> read_analytics(std::int64_t asset_id, std::int64_t graph_id,
                                         std::int64_t version, std::string_view output,
                                         TimeRange range);

 protected:
  // `clock` stamps new graph versions; it must outlive the store.
  explicit GraphStore(const Clock& clock) : clock_(clock) {}

  // Where the data lives, for messages: "'PATH'" or "PostgreSQL HOST:PORT/DB". Called only when
  // a call fails.
  virtual std::string location() const = 0;

  // What the backends implement. Failures carry only their cause: the public methods name the
  // call and the database.
  // Stores version latest + 1 stamped `created` unless the latest version has this text.
  virtual Result<GraphVersion> do_put_graph(std::string_view name, std::string_view spec,
                                            Timestamp created) = 0;
  // version >= 0.
  virtual Result<std::optional<GraphVersion>> do_get_graph(std::string_view name,
                                                           std::int64_t version) = 0;
  virtual Result<std::vector<GraphVersion>> do_list_graphs() = 0;
  virtual Status do_delete_graph(std::string_view name) = 0;
  virtual Status do_write_analytics(std::int64_t asset_id, std::int64_t graph_id,
                                    std::int64_t version,
                                    std::span<const AnalyticsSeries> series) = 0;
  virtual Result<AnalyticsSeries> do_read_analytics(std::int64_t asset_id, std::int64_t graph_id,
                                                    std::int64_t version, std::string_view output,
                                                    TimeRange range) = 0;

 private:
  // `result`, or its failure named after the call (call() gives the name, built only then).
  template <class R, class Call>
  R named(R result, const Call& call) const;

  const Clock& clock_;
};

}  // namespace tickgraph::store
