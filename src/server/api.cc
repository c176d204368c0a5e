#include "server/api.h"

#include <charconv>
#include <cmath>
#include <list>
#include <mutex>
#include <unordered_map>

#include "analytics/function.h"
#include "graph/compiled_graph.h"
#include "graph/plan.h"
#include "graph/pull_executor.h"
#include "graph/spec.h"
#include "live/pull.h"
#include "server/convert.h"
#include "server/errors.h"
#include "server/openapi.h"
#include "store/bar_reader.h"
#include "tickgraph/v1/service.pb.h"

namespace tickgraph::server {

namespace {

HttpResponse json(const google::protobuf::Message& message, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = to_json(message);
  return r;
}

// A failed store call: its code decides the answer (503 when the database is unavailable), and
// the message says it came from the store.
HttpResponse store_failure(const Status& s) { return error_response(s.with_prefix("store: ")); }

// A query parameter that is a time: absent, or parsed (a date alone as an upper bound means the
// end of that day).
Result<std::optional<Timestamp>> time_param(const HttpRequest& req, std::string_view name,
                                            bool upper) {
  const auto text = req.query_param(name);
  if (!text) return std::optional<Timestamp>();
  auto t = parse_timestamp(*text);
  if (!t) return t.status().with_prefix(std::string(name) + ": ").with_parameter(std::string(name));
  if (upper && is_date_only(*text)) return std::optional<Timestamp>(*t + kDay - 1);
  return std::optional<Timestamp>(*t);
}

// A whole number in [min, max], or `fallback` when absent.
Result<std::int64_t> int_param(const HttpRequest& req, std::string_view name, std::int64_t fallback,
                               std::int64_t min, std::int64_t max) {
  const auto text = req.query_param(name);
  if (!text) return fallback;
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || ptr != text->data() + text->size() || value < min || value > max) {
    return Status::invalid_argument(std::string(name) + ": expected a whole number from " +
                                    std::to_string(min) + " to " + std::to_string(max) + ", got '" +
                                    std::string(*text) + "'")
        .with_parameter(std::string(name));
  }
  return value;
}

HttpResponse bad_param(std::string_view name, const std::string& message) {
  return error_response(Status::invalid_argument(message).with_parameter(std::string(name)));
}

HttpResponse bad_field(std::string_view name, const std::string& message) {
  return error_response(Status::invalid_argument(message).with_field(std::string(name)));
}

bool valid_graph_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool is_yaml(std::string_view content_type) {
  return content_type.starts_with("application/yaml") ||
         content_type.starts_with("application/x-yaml") || content_type.starts_with("text/yaml");
}

constexpr const char* kBuiltinPage = R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tickgraph</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}code{background:#eee;padding:0 .3em}
td,th{padding:.2em .8em;text-align:right}th{text-align:left}</style></head>
<body><h1>tickgraph</h1>
<p>The web UI is not built in this tree (see the README); this page shows the live market through
the same API it would use: <code>GET /v1/assets</code> and <code>/v1/stream/sse</code>.
The API is described at <a href="/openapi.json">/openapi.json</a>; metrics at
<a href="/metrics">/metrics</a>.</p>
<table><thead><tr><th>asset</th><th>1m open</th><th>high</th><th>low</th><th>close</th><th>volume</th></tr></thead>
<tbody id="rows"></tbody></table>
<script>
fetch('/v1/assets').then(r => r.json()).then(({assets}) => {
  const rows = document.getElementById('rows');
  for (const a of assets) {
    const tr = document.createElement('tr');
    tr.id = 'a-' + a.symbol;
    tr.innerHTML = '<th>' + a.symbol + '</th><td></td><td></td><td></td><td></td><td></td>';
    rows.appendChild(tr);
  }
  const es = new EventSource('/v1/stream/sse?interval=1m&history=1&assets=' +
                             assets.map(a => a.symbol).join(','));
  const show = (c, symbol) => {
    const cells = document.querySelectorAll('#a-' + CSS.escape(symbol) + ' td');
    ['open', 'high', 'low', 'close', 'volume'].forEach((k, i) => cells[i].textContent = c[k].toFixed(2));
  };
  es.onmessage = e => {
    const m = JSON.parse(e.data);
    if (m.update) show(m.update.candle, m.update.symbol);
    if (m.snapshot) for (const u of m.snapshot.forming) show(u.candle, u.symbol);
  };
});
</script></body></html>
)";

}  // namespace

struct Api::Impl {
  store::Store& store;
  LiveMarket& live;
  Metrics& metrics;
  ApiOptions options;
  std::atomic<bool> ready{true};
  std::mutex ready_mutex;
  std::string not_ready_reason;
  std::string openapi;
  const std::string health = R"({"status":"ok"})";

  // Candle reads, least recently used first out.
  struct CacheEntry {
    std::string key;
    std::uint64_t generation = 0;
    std::shared_ptr<const std::string> body;
  };
  std::mutex cache_mutex;
  std::list<CacheEntry> cache;  // most recent first
  std::unordered_map<std::string, std::list<CacheEntry>::iterator> cache_index;
  std::size_t cache_size = 0;
  Counter& cache_hits;
  Counter& cache_misses;
  Histogram& read_latency;

  Impl(store::Store& s, LiveMarket& l, Metrics& m, ApiOptions o)
      : store(s),
        live(l),
        metrics(m),
        options(std::move(o)),
        cache_hits(m.counter("tickgraph_candle_cache_requests_total",
                             "Candle reads by cache outcome", {{"outcome", "hit"}})),
        cache_misses(m.counter("tickgraph_candle_cache_requests_total",
                               "Candle reads by cache outcome", {{"outcome", "miss"}})),
        read_latency(m.histogram("tickgraph_store_seconds", "Store call latency by operation",
                                 {{"op", "read_candles"}})) {}

  std::shared_ptr<const std::string> cache_get(const std::string& key, std::uint64_t generation) {
    std::lock_guard lock(cache_mutex);
    auto it = cache_index.find(key);
    if (it == cache_index.end() || it->second->generation != generation) return nullptr;
    cache.splice(cache.begin(), cache, it->second);
    return it->second->body;
  }

  void cache_put(const std::string& key, std::uint64_t generation,
                 std::shared_ptr<const std::string> body) {
    if (body->size() > options.cache_bytes / 4) return;
    std::lock_guard lock(cache_mutex);
    if (auto it = cache_index.find(key); it != cache_index.end()) {
      cache_size -= it->second->body->size();
      cache.erase(it->second);
      cache_index.erase(it);
    }
    cache_size += body->size();
    cache.push_front({key, generation, std::move(body)});
    cache_index[key] = cache.begin();
    while (cache_size > options.cache_bytes && !cache.empty()) {
      cache_size -= cache.back().body->size();
      cache_index.erase(cache.back().key);
      cache.pop_back();
    }
  }

  // The asset of the path's {symbol}: not_found naming the parameter, or the store's failure.
  Result<Asset> asset(const HttpRequest& req) {
    const std::string symbol(req.path_param("symbol"));
    auto found = store.find_asset(symbol);
    if (!found) return found.status().with_prefix("store: ");
    if (!found->has_value()) {
      return Status::not_found("unknown asset '" + symbol + "'").with_parameter("symbol");
    }
    return **found;
  }

  Result<Interval> interval_param(const HttpRequest& req) {
    const auto text = req.query_param("interval");
    if (!text) return Interval::k1d;
    auto i = parse_interval(*text);
    if (!i) return i.status().with_prefix("interval: ").with_parameter("interval");
    return *i;
  }

  // --- assets ---
  HttpResponse list_assets(const HttpRequest& req) {
    AssetFilter filter;
    if (auto q = req.query_param("q")) filter.text = std::string(*q);
    if (auto e = req.query_param("exchange")) filter.exchange = std::string(*e);
    if (auto c = req.query_param("class")) {
      auto parsed = parse_asset_class(*c);
      if (!parsed) {
        return error_response(parsed.status().with_prefix("class: ").with_parameter("class"));
      }
      filter.asset_class = *parsed;
    }
    auto assets = store.list_assets(filter);
    if (!assets) return store_failure(assets.status());
    v1::AssetList out;
    for (const Asset& a : *assets) to_proto(a, *out.add_assets());
    return json(out);
  }

  HttpResponse get_asset(const HttpRequest& req) {
    auto a = asset(req);
    if (!a) return error_response(a.status());
    v1::Asset out;
    to_proto(*a, out);
    return json(out);
  }

  HttpResponse upsert_asset(const HttpRequest& req) {
    v1::Asset in;
    if (Status s = from_json(req.body, in, "request body"); !s.ok()) return error_response(s);
    auto parsed = from_proto(in);
    if (!parsed) return error_response(parsed.status().with_field("symbol"));
    auto existing = store.find_asset(parsed->symbol);
    if (!existing) return store_failure(existing.status());
    auto stored = store.upsert_asset(*parsed);
    if (!stored) return store_failure(stored.status());
    v1::Asset out;
    to_proto(*stored, out);
    return json(out, existing->has_value() ? 200 : 201);
  }

  // --- candles ---
  HttpResponse get_candles(const HttpRequest& req) {
    auto interval = interval_param(req);
    if (!interval) return error_response(interval.status());
    auto from = time_param(req, "from", false);
    if (!from) return error_response(from.status());
    auto to = time_param(req, "to", true);
    if (!to) return error_response(to.status());
    auto limit = int_param(req, "limit", 0, 1, 10'000'000);
    if (!limit) return error_response(limit.status());
    auto last = int_param(req, "last", 0, 1, 10'000'000);
    if (!last) return error_response(last.status());
    if (*limit > 0 && *last > 0) return bad_param("last", "last: give limit or last, not both");
    const store::TimeRange range{from->value_or(INT64_MIN), to->value_or(INT64_MAX)};
    if (range.from > range.to) return bad_param("to", "to: earlier than from");

    const std::string symbol(req.path_param("symbol"));
    const std::uint64_t generation = live.generation(symbol);
    const std::string key = symbol + "|" + std::string(interval_name(*interval)) + "|" +
                            std::to_string(range.from) + "|" + std::to_string(range.to) + "|" +
                            std::to_string(*limit) + "|" + std::to_string(*last);
    if (auto body = cache_get(key, generation)) {
      cache_hits.inc();
      HttpResponse r;
      r.shared_body = std::move(body);
      return r;
    }
    cache_misses.inc();
    auto a = asset(req);
    if (!a) return error_response(a.status());
    const auto start = std::chrono::steady_clock::now();
    const store::BarReader reader(store, *options.clock);
    auto bars = *last > 0
                    ? reader.latest(a->id, *interval, static_cast<std::size_t>(*last), range.to)
                    : reader.read(a->id, *interval, range, static_cast<std::size_t>(*limit));
    read_latency.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!bars) return store_failure(bars.status());
    if (*last > 0 && !bars->empty() && bars->time.front() < range.from) {
      bars = bars->slice(bars->lower_bound(range.from), bars->size());
    }
    auto body = std::make_shared<const std::string>(candles_json(symbol, *interval, *bars));
    cache_put(key, generation, body);
    HttpResponse r;
    r.shared_body = std::move(body);
    return r;
  }

  HttpResponse put_candles(const HttpRequest& req) {
    auto a = asset(req);
    if (!a) return error_response(a.status());
    v1::CandleBatch in;
    if (Status s = from_json(req.body, in, "request body"); !s.ok()) return error_response(s);
    auto interval = from_proto(in.interval(), "interval");
    if (!interval) return error_response(interval.status().with_field("interval"));
    if (static_cast<std::size_t>(in.candles_size()) > options.max_candles_per_request) {
      return bad_field(
          "candles",
          "candles: at most " + std::to_string(options.max_candles_per_request) + " per request");
    }
    std::vector<Candle> bars;
    bars.reserve(static_cast<std::size_t>(in.candles_size()));
    for (int i = 0; i < in.candles_size(); ++i) {
      const Candle c = from_proto(in.candles(i));
      const std::string at = "candles[" + std::to_string(i) + "]";
      for (const auto& [name, v] :
           {std::pair{"open", c.open}, std::pair{"high", c.high}, std::pair{"low", c.low},
            std::pair{"close", c.close}, std::pair{"volume", c.volume}}) {
        if (!std::isfinite(v) || v < 0) {
          return bad_field(at + "." + name, at + "." + name + ": must be a finite number >= 0");
        }
      }
      if (c.high < c.low || c.high < c.open || c.high < c.close || c.low > c.open ||
          c.low > c.close) {
        return bad_field(at, at + ": high must be the highest and low the lowest price");
      }
      if (i > 0 && c.time <= bars.back().time) {
        return bad_field(at + ".time", at + ".time: times must be strictly increasing");
      }
      if (c.time != bar_open_time(c.time, *interval)) {
        return bad_field(at + ".time", at + ".time: not the open time of a " +
                                           std::string(interval_name(*interval)) + " bar");
      }
      bars.push_back(c);
    }
    auto written = store.write_candles(a->id, *interval, bars);
    live.bump(a->symbol);
    if (!written) return store_failure(written.status());
    v1::WriteStats out;
    out.set_inserted(written->inserted);
    out.set_replaced(written->replaced);
    out.set_unchanged(written->unchanged);
    return json(out);
  }

  // --- ticks ---
  HttpResponse get_ticks(const HttpRequest& req) {
    auto a = asset(req);
    if (!a) return error_response(a.status());
    auto from = time_param(req, "from", false);
    if (!from) return error_response(from.status());
    auto to = time_param(req, "to", true);
    if (!to) return error_response(to.status());
    auto limit = int_param(req, "limit", 10000, 1, 1'000'000);
    if (!limit) return error_response(limit.status());
    auto ticks = store.read_ticks(a->id, {from->value_or(INT64_MIN), to->value_or(INT64_MAX)},
                                  static_cast<std::size_t>(*limit));
    if (!ticks) return store_failure(ticks.status());
    v1::TickBatch out;
    for (const auto& t : *ticks) {
      auto* tick = out.add_ticks();
      tick->set_symbol(a->symbol);
      tick->set_time(t.time);
      tick->set_price(t.price);
      tick->set_size(t.size);
    }
    return json(out);
  }

  HttpResponse post_ticks(const HttpRequest& req) {
    v1::TickBatch in;
    if (Status s = from_json(req.body, in, "request body"); !s.ok()) return error_response(s);
    if (in.ticks_size() == 0) return bad_field("ticks", "ticks: empty batch");
    if (static_cast<std::size_t>(in.ticks_size()) > options.max_ticks_per_request) {
      return bad_field("ticks", "ticks: at most " + std::to_string(options.max_ticks_per_request) +
                                    " per request");
    }
    std::vector<TickInput> ticks;
    ticks.reserve(static_cast<std::size_t>(in.ticks_size()));
    for (const auto& t : in.ticks()) ticks.push_back({t.symbol(), {t.time(), t.price(), t.size()}});
    auto result = live.ingest(ticks, "api");
    if (!result) return error_response(result.status());
    const IngestCounts& counts = *result;
    v1::TickIngestResult out;
    out.set_accepted(counts.accepted);
    out.set_late(counts.late);
    out.set_unchanged(counts.unchanged);
    return json(out);
  }

  // --- graphs ---
  // The spec of a request body (JSON GraphSpec, or YAML), checked by compiling it against the
  // store's assets (live::prepare_graph: a store that does not answer is its failure, not an
  // unknown asset).
  Result<graph::GraphSpec> body_spec(const HttpRequest& req) {
    Result<graph::GraphSpec> spec = graph::GraphSpec{};
    if (is_yaml(req.header("content-type"))) {
      spec = graph::parse_spec(req.body, "request body");
    } else {
      v1::GraphSpec in;
      if (Status s = from_json(req.body, in, "request body"); !s.ok()) return s;
      spec = from_proto(in, "request body");
    }
    if (!spec) return spec;
    if (spec->nodes.empty()) return Status::invalid_argument("request body: no nodes");
    auto compiled = live::prepare_graph(store, *spec);
    if (!compiled) return compiled.status();
    return spec;
  }

  Result<v1::Graph> describe(const store::GraphVersion& g) {
    auto spec = graph::parse_spec(g.spec, "graph '" + g.name + "'");
    if (!spec) return spec.status();
    auto compiled = live::prepare_graph(store, *spec);
    v1::Graph out;
    out.set_id(g.name);
    out.set_version(g.version);
    to_proto(*spec, *out.mutable_spec());
    out.mutable_spec()->set_name(g.name);
    out.set_created(g.created);
    out.set_yaml(g.spec);
    if (compiled) {
      for (const auto& column : (*compiled)->outputs()) out.add_outputs(column.name);
      for (const auto& symbol : (*compiled)->referenced_symbols()) out.add_assets(symbol);
    }
    return out;
  }

  HttpResponse store_graph(const std::string& id, graph::GraphSpec spec, bool create_only) {
    auto existing = store.get_graph(id);
    if (!existing) return store_failure(existing.status());
    if (create_only && existing->has_value()) {
      return error_response(
          Status::already_exists("graph '" + id + "' exists: replace it with PUT /v1/graphs/" + id)
              .with_detail("graph", id));
    }
    spec.name = id;
    auto stored = store.put_graph(id, graph::to_yaml(spec));
    if (!stored) return store_failure(stored.status());
    if (existing->has_value() && (*existing)->version != stored->version) live.graph_changed(id);
    const bool new_version = !existing->has_value() || (*existing)->version != stored->version;
    if (new_version && options.on_graph_changed) options.on_graph_changed(id, stored->version);
    auto out = describe(*stored);
    if (!out) return store_failure(out.status());
    return json(*out, existing->has_value() ? 200 : 201);
  }

  HttpResponse create_graph(const HttpRequest& req) {
    auto spec = body_spec(req);
    if (!spec) return error_response(spec.status());
    if (spec->name.empty()) return bad_field("name", "name: a graph needs a name");
    if (!valid_graph_id(spec->name)) {
      return bad_field("name", "name: use 1 to 64 letters, digits, '_', '-' or '.'");
    }
    return store_graph(spec->name, *spec, true);
  }

  HttpResponse replace_graph(const HttpRequest& req) {
    const std::string id(req.path_param("id"));
    if (!valid_graph_id(id)) {
      return bad_param("id", "id: use 1 to 64 letters, digits, '_', '-' or '.'");
    }
    auto spec = body_spec(req);
    if (!spec) return error_response(spec.status());
    if (!spec->name.empty() && spec->name != id) {
      return bad_field("name",
                       "name: '" + spec->name + "' differs from the graph's id '" + id + "'");
    }
    return store_graph(id, *spec, false);
  }

  HttpResponse get_graph(const HttpRequest& req) {
    const std::string id(req.path_param("id"));
    auto g = store.get_graph(id);
    if (!g) return store_failure(g.status());
    if (!g->has_value()) {
      return error_response(Status::not_found("unknown graph '" + id + "'").with_parameter("id"));
    }
    auto out = describe(**g);
    if (!out) return store_failure(out.status());
    return json(*out);
  }

  HttpResponse list_graphs(const HttpRequest&) {
    auto graphs = store.list_graphs();
    if (!graphs) return store_failure(graphs.status());
    v1::GraphList out;
    for (const auto& g : *graphs) {
      auto d = describe(g);
      if (!d) return store_failure(d.status());
      *out.add_graphs() = std::move(*d);
    }
    return json(out);
  }

  HttpResponse delete_graph(const HttpRequest& req) {
    const std::string id(req.path_param("id"));
    auto g = store.get_graph(id);
    if (!g) return store_failure(g.status());
    if (!g->has_value()) {
      return error_response(Status::not_found("unknown graph '" + id + "'").with_parameter("id"));
    }
    if (Status s = store.delete_graph(id); !s.ok()) return store_failure(s);
    live.graph_changed(id);
    if (options.on_graph_changed) options.on_graph_changed(id, 0);
    HttpResponse r;
    r.status = 204;
    r.content_type.clear();
    return r;
  }

  // --- analytics ---
  HttpResponse analytics(const HttpRequest& req) {
    auto a = asset(req);
    if (!a) return error_response(a.status());
    const auto graph_id = req.query_param("graph");
    if (!graph_id || graph_id->empty()) {
      return bad_param("graph", "graph: required (the id of a stored graph)");
    }
    auto interval = interval_param(req);
    if (!interval) return error_response(interval.status());
    auto from = time_param(req, "from", false);
    if (!from) return error_response(from.status());
    auto to = time_param(req, "to", true);
    if (!to) return error_response(to.status());
    auto limit = int_param(req, "limit", 0, 1, 10'000'000);
    if (!limit) return error_response(limit.status());
    const graph::TimeRange range{from->value_or(INT64_MIN), to->value_or(INT64_MAX)};
    if (range.from > range.to) return bad_param("to", "to: earlier than from");

    auto stored = live::load_graph(store, *graph_id);
    if (!stored) {
      if (stored.code() == StatusCode::kNotFound) {
        return error_response(stored.status().with_prefix("graph: ").with_parameter("graph"));
      }
      return error_response(stored.status());
    }
    const auto& compiled = stored->graph;
    std::vector<int> columns;
    if (auto outputs = req.query_param("outputs")) {
      for (const auto& name : split_list(*outputs)) {
        int found = -1;
        const auto& all = compiled->outputs();
        for (std::size_t c = 0; c < all.size(); ++c) {
          if (all[c].name == name) found = static_cast<int>(c);
        }
        if (found < 0) {
          return bad_param("outputs", "outputs: '" + name + "' is not an output of graph '" +
                                          std::string(*graph_id) + "'");
        }
        columns.push_back(found);
      }
    }
    // The bars the range needs (its warm-up included), never the whole history: live/pull.h.
    auto table =
        live::run(store, compiled, a->symbol, *interval, range, live::Mode::kPull, *options.clock);
    if (!table) return error_response(table.status());
    const std::size_t rows =
        *limit > 0 ? std::min(table->rows(), static_cast<std::size_t>(*limit)) : table->rows();
    if (columns.empty()) {
      for (std::size_t c = 0; c < table->columns.size(); ++c)
        columns.push_back(static_cast<int>(c));
    }
    std::vector<NamedColumn> chosen;
    for (const int c : columns) {
      const auto col = static_cast<std::size_t>(c);
      chosen.push_back(
          {table->columns[col], std::span<const double>(table->values[col]).first(rows)});
    }
    HttpResponse r;
    r.body = analytics_json(a->symbol, *interval, stored->version.name, stored->version.version,
                            std::span<const Timestamp>(table->time).first(rows), chosen);
    return r;
  }

  HttpResponse functions(const HttpRequest&) {
    v1::FunctionList out;
    for (const auto& fn : analytics::registry().all()) to_proto(fn, *out.add_functions());
    return json(out);
  }
};

Api::Api(store::Store& store, LiveMarket& live, Metrics& metrics, ApiOptions options)
    : impl_(std::make_unique<Impl>(store, live, metrics, std::move(options))) {}

Api::~Api() = default;

void Api::set_ready(bool ready, std::string reason) {
  std::lock_guard lock(impl_->ready_mutex);
  impl_->not_ready_reason = std::move(reason);
  impl_->ready = ready;
}

void Api::add_routes(Router& router) {
  Impl* m = impl_.get();
  // /v1 handlers refuse while the server is not ready (draining).
  auto v1 = [m](HttpResponse (Impl::*fn)(const HttpRequest&)) -> Handler {
    return [m, fn](const HttpRequest& req) {
      if (!m->ready) {
        std::lock_guard lock(m->ready_mutex);
        return error_response(Status::unavailable("not ready: " + m->not_ready_reason));
      }
      return (m->*fn)(req);
    };
  };
  const ParamDoc interval{"interval", "string", false,
                          "bar interval: 1s, 1m, 5m, 15m, 1h, 4h, 1d (default) or 1w"};
  const ParamDoc from{"from", "string", false,
                      "first bar time: a date (2020-03-01), an ISO-8601 time or epoch with unit "
                      "(1583020800s)"};
  const ParamDoc to{"to", "string", false, "last bar time, inclusive (a date means its end)"};

  router.add(
      "GET", "/healthz",
      {"Liveness: the process serves requests", "health", {}, "", "tickgraph.v1.Health"},
      [m](const HttpRequest&) {
        HttpResponse r;
        r.body = m->health;
        return r;
      },
      RouteKind::kInline);
  router.add(
      "GET", "/readyz",
      {"Readiness: 503 while starting or draining",
       "health",
       {},
       "",
       "tickgraph.v1.Readiness",
       "",
       200,
       {503}},
      [m](const HttpRequest&) {
        if (!m->ready) {
          std::lock_guard lock(m->ready_mutex);
          return error_response(Status::unavailable("not ready: " + m->not_ready_reason));
        }
        v1::Readiness r;
        r.set_ready(true);
        return json(r);
      },
      RouteKind::kInline);
  router.add(
      "GET", "/metrics",
      {"Prometheus metrics (text exposition format 0.0.4)", "health", {}, "", "", "text/plain"},
      [m](const HttpRequest&) {
        HttpResponse r;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = m->metrics.render();
        return r;
      },
      RouteKind::kInline);
  router.add(
      "GET", "/openapi.json",
      {"This API as an OpenAPI 3 document", "health", {}, "", "", "application/json"},
      [m](const HttpRequest&) {
        HttpResponse r;
        r.body = m->openapi;
        return r;
      },
      RouteKind::kInline);

  router.add("GET", "/v1/assets",
             {"List assets",
              "assets",
              {{"q", "string", false, "text matched against symbol or name"},
               {"class", "string", false, "asset class: equity, index, etf, fx, crypto, …"},
               {"exchange", "string", false, "exchange"}},
              "",
              "tickgraph.v1.AssetList",
              "",
              200,
              {400}},
             v1(&Impl::list_assets));
  router.add("POST", "/v1/assets",
             {"Create or update an asset (by symbol); 201 when created",
              "assets",
              {},
              "tickgraph.v1.Asset",
              "tickgraph.v1.Asset",
              "",
              200,
              {400, 413, 415},
              {201}},
             v1(&Impl::upsert_asset));
  router.add("GET", "/v1/assets/{symbol}",
             {"Get an asset", "assets", {}, "", "tickgraph.v1.Asset", "", 200, {404}},
             v1(&Impl::get_asset));
  router.add("GET", "/v1/assets/{symbol}/candles",
             {"Candles of an asset over a range, columnar",
              "candles",
              {interval,
               from,
               to,
               {"limit", "integer", false, "at most this many bars, from the start of the range"},
               {"last", "integer", false, "the latest this many bars of the range"}},
              "",
              "tickgraph.v1.CandleSeries",
              "",
              200,
              {400, 404}},
             v1(&Impl::get_candles));
  router.add("POST", "/v1/assets/{symbol}/candles",
             {"Upsert candles of an asset (one transaction; idempotent)",
              "candles",
              {},
              "tickgraph.v1.CandleBatch",
              "tickgraph.v1.WriteStats",
              "",
              200,
              {400, 404, 413, 415}},
             v1(&Impl::put_candles));
  router.add("GET", "/v1/assets/{symbol}/ticks",
             {"Stored ticks of an asset over a range",
              "ticks",
              {from, to, {"limit", "integer", false, "at most this many ticks (default 10000)"}},
              "",
              "tickgraph.v1.TickBatch",
              "",
              200,
              {400, 404}},
             v1(&Impl::get_ticks));
  router.add("POST", "/v1/ticks",
             {"Ingest ticks: stored, then applied to the live bars and streams",
              "ticks",
              {},
              "tickgraph.v1.TickBatch",
              "tickgraph.v1.TickIngestResult",
              "",
              200,
              {400, 413, 415, 503}},
             v1(&Impl::post_ticks));
  router.add("GET", "/v1/assets/{symbol}/analytics",
             {"Pull a graph's outputs over a range for an asset",
              "analytics",
              {{"graph", "string", true, "graph id"},
               interval,
               from,
               to,
               {"outputs", "string", false, "comma-separated outputs (default: all)"},
               {"limit", "integer", false, "at most this many rows, from the start"}},
              "",
              "tickgraph.v1.AnalyticsResult",
              "",
              200,
              {400, 404}},
             v1(&Impl::analytics));
  router.add("GET", "/v1/graphs",
             {"List graphs (latest versions)", "graphs", {}, "", "tickgraph.v1.GraphList"},
             v1(&Impl::list_graphs));
  router.add("POST", "/v1/graphs",
             {"Create a graph from a GraphSpec (JSON) or a YAML spec; 409 if it exists",
              "graphs",
              {},
              "tickgraph.v1.GraphSpec",
              "tickgraph.v1.Graph",
              "",
              201,
              {400, 409, 413, 415}},
             v1(&Impl::create_graph));
  router.add("GET", "/v1/graphs/{id}",
             {"Get a graph", "graphs", {}, "", "tickgraph.v1.Graph", "", 200, {404}},
             v1(&Impl::get_graph));
  router.add("PUT", "/v1/graphs/{id}",
             {"Create or replace a graph (a new version when the spec changes); 201 when created",
              "graphs",
              {},
              "tickgraph.v1.GraphSpec",
              "tickgraph.v1.Graph",
              "",
              200,
              {400, 413, 415},
              {201}},
             v1(&Impl::replace_graph));
  router.add("DELETE", "/v1/graphs/{id}",
             {"Delete a graph and its results", "graphs", {}, "", "", "", 204, {404}},
             v1(&Impl::delete_graph));
  router.add("GET", "/v1/functions",
             {"The analytics functions, their parameters and outputs",
              "functions",
              {},
              "",
              "tickgraph.v1.FunctionList"},
             v1(&Impl::functions), RouteKind::kInline);
  router.add("GET", "/v1/stream",
             {"WebSocket: send tickgraph.v1.ClientMessage, receive tickgraph.v1.StreamMessage",
              "streams",
              {},
              "tickgraph.v1.ClientMessage",
              "tickgraph.v1.StreamMessage",
              "",
              101,
              {426}},
             nullptr, RouteKind::kWebSocket);
  router.add("GET", "/v1/stream/sse",
             {"Server-sent events: a snapshot, then every update, as tickgraph.v1.StreamMessage",
              "streams",
              {{"assets", "string", true, "comma-separated symbols"},
               {"interval", "string", true, "bar interval (1s … 1w)"},
               {"graph", "string", false, "graph id, for analytics"},
               {"outputs", "string", false, "comma-separated outputs of the graph (default all)"},
               {"history", "integer", false, "bars of history in the snapshot (default 300)"}},
              "",
              "tickgraph.v1.StreamMessage",
              "text/event-stream",
              200,
              {400, 404}},
             nullptr, RouteKind::kSse);
  router.add(
      "GET", "/", {"The web UI", "ui", {}, "", "", "text/html"},
      [](const HttpRequest&) {
        HttpResponse r;
        r.content_type = "text/html; charset=utf-8";
        r.body = kBuiltinPage;
        return r;
      },
      RouteKind::kStatic);
  if (m->options.extra_routes) m->options.extra_routes(router);
  router.update_routes([](Route& route) {
    if (!route.doc.scope.empty() || route.pattern.rfind("/v1/", 0) != 0) return;
    route.doc.scope = route.method == "GET" || route.method == "HEAD" ? "read" : "write";
  });
  m->openapi = openapi_document(router, m->options.version);
}

}  // namespace tickgraph::server
