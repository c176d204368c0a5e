// The REST API under /v1, health, readiness, metrics, the OpenAPI document, the stream routes and
// the web UI: every route of `tickgraph serve`, registered with its documentation.
//
// Bodies are the protobuf JSON mapping of the contract's messages (proto/tickgraph/v1); graph
// specs may also be sent as YAML (Content-Type: application/yaml), the form the CLI reads. Errors
// are tickgraph.v1.Error with the status that matches (400 naming the parameter, field or node;
// 404; 409; 503 while the server is not ready or the store fails).
//
// Scopes: routes under /v1 need "read" (GET, and the streams) or "write" (POST, PUT, DELETE);
// health, readiness, metrics, the OpenAPI document and the web UI are public (RouteDoc::scope).
//
// Candles and analytics at an interval an asset does not store are derived from its finer stored
// bars (store/bar_reader.h). Reads of candles are cached per query (up to ApiOptions::cache_bytes),
// keyed by the asset's generation (LiveMarket::generation), so a write to an asset invalidates its
// cached reads and a read never returns stale bars.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/metrics.h"
#include "server/live_market.h"
#include "server/router.h"
#include "store/store.h"

namespace tickgraph::server {

struct ApiOptions {
  std::string version = "0.1.0";
  std::size_t cache_bytes = 64u << 20;
  std::size_t max_ticks_per_request = 100000;
  std::size_t max_candles_per_request = 1000000;
  // Decides which bars derived on read are closed (store/bar_reader.h).
  const Clock* clock = &system_clock();
  // More routes, registered before the scopes are assigned and the OpenAPI document is built
  // (the auth routes of server/auth, which sets their scopes itself).
  std::function<void(Router&)> extra_routes;
  // Called after a graph was put with a new version (version > 0) or deleted (version 0), once
  // this process's live series of it ended: the NATS bus tells the other processes.
  std::function<void(const std::string& name, std::int64_t version)> on_graph_changed;
};

class Api {
 public:
  Api(store::Store& store, LiveMarket& live, Metrics& metrics, ApiOptions options = {});
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Registers every route, then builds the OpenAPI document from the finished table.
  void add_routes(Router& router);

  // /readyz answers 503 with `reason` and /v1 routes refuse with 503 while not ready.
  void set_ready(bool ready, std::string reason = "");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickgraph::server
