// tickgraph ingest kafka --brokers H:P --topic T [--group G] [--format protobuf|json] …
// tickgraph ingest nats --servers URL[,URL] [--stream S] [--durable D] …
//
// An ingest worker: ticks from a Kafka consumer group or a NATS JetStream durable consumer into
// the store, aggregated into bars of every interval, through the push engine (feed.h). With
// `--graph NAME[@INTERVAL]` the worker runs that graph on every asset it receives and stores its
// final values; with `--nats URL` it publishes every update on the bus for API nodes without an
// engine (`serve --no-engine`). Bars close by event time (a later tick), and by the wall clock
// once the feed is idle and caught up. SIGINT or SIGTERM: what was read is stored and committed,
// the group is left, and the worker exits 0.
#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "cli/commands.h"
#include "cli/database.h"
#include "cli/exit_code.h"
#include "cli/feed.h"
#include "cli/logging.h"
#include "core/interval.h"
#include "live/engine.h"
#include "live/generations.h"
#include "server/http_server.h"
#include "server/relay.h"
#include "server/router.h"

namespace tickgraph::cli {

namespace {

struct IngestOptions {
  FeedOptions feed;
  std::string format = "protobuf";
  std::string db;
  std::vector<std::string> graphs;  // NAME or NAME@INTERVAL
  std::string intervals;            // "" = all
  std::string nats_bus;
  std::string metrics_bind = "127.0.0.1";
  int metrics_port = 0;  // 0: no metrics endpoint
  std::string servers;   // nats source
  std::string subjects;
  std::vector<std::string> kafka_config;  // key=value
  std::string log_format = "text";
  std::string log_level = "info";
};

Result<std::vector<live::StandingGraph>> parse_graphs(const std::vector<std::string>& specs,
                                                      store::Store& store) {
  std::vector<live::StandingGraph> out;
  for (const std::string& spec : specs) {
    live::StandingGraph s;
    const auto at = spec.find('@');
    s.graph = spec.substr(0, at);
    if (at != std::string::npos) {
      auto interval = parse_interval(spec.substr(at + 1));
      if (!interval) return Status::invalid_argument("--graph " + spec + ": " + interval.message());
      s.interval = *interval;
    }
    auto stored = store.get_graph(s.graph);
    if (!stored) return stored.status();
    if (!stored->has_value()) {
      return Status::not_found("--graph " + spec + ": unknown graph '" + s.graph +
                               "' (add it with `tickgraph graph put` or PUT /v1/graphs/" + s.graph +
                               ")");
    }
    out.push_back(s);
  }
  return out;
}

Result<std::vector<Interval>> parse_intervals(const std::string& text) {
  std::vector<Interval> out;
  if (text.empty()) return std::vector<Interval>(kAllIntervals.begin(), kAllIntervals.end());
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    auto interval = parse_interval(item);
    if (!interval) return Status::invalid_argument("--intervals: " + interval.message());
    out.push_back(*interval);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

int run_ingest(IngestOptions o) {
  if (Status s = configure_logging(o.log_format, o.log_level); !s.ok()) return usage_error(s);
  auto format = ingest::parse_tick_format(o.format);
  if (!format) return usage_error(format.status().with_prefix("--"));
  o.feed.kafka.format = *format;
  o.feed.nats.format = *format;
  if (Status s = add_kafka_config(o.kafka_config, o.feed.kafka); !s.ok()) {
    return usage_error(s);
  }
  if (o.feed.kind == FeedOptions::Kind::kNats) {
    auto servers = ingest::parse_nats_servers(o.servers);
    if (!servers) return usage_error(servers.status().with_prefix("--servers: "));
    o.feed.nats.servers = *servers;
    if (!o.subjects.empty()) {
      o.feed.nats.subjects.clear();
      std::stringstream in(o.subjects);
      std::string item;
      while (std::getline(in, item, ',')) o.feed.nats.subjects.push_back(item);
    }
  }
  auto db = open_database(o.db);
  if (!db) return fail(db.status());
  store::Store& store = **db;
  live::EngineOptions engine_options;
  auto intervals = parse_intervals(o.intervals);
  if (!intervals) return usage_error(intervals.status());
  engine_options.intervals = *intervals;
  auto standing = parse_graphs(o.graphs, store);
  if (!standing) return fail(standing.status());
  for (const auto& s : *standing) {
    if (std::find(intervals->begin(), intervals->end(), s.interval) == intervals->end()) {
      return usage_error("--graph " + s.graph + "@" + std::string(interval_name(s.interval)) +
                         ": that interval is not in --intervals");
    }
  }
  engine_options.standing = *standing;

  Metrics metrics;
  // Exported by every process, as the README lists it: a worker relays nothing, so it stays 0.
  (void)server::relay_dropped_counter(metrics);
  std::unique_ptr<Bus> bus;
  if (!o.nats_bus.empty()) {
    auto connected = Bus::connect(o.nats_bus, metrics);
    if (!connected) return fail(connected.status().with_prefix("--nats: "));
    bus = std::move(*connected);
    engine_options.bus = &bus->updates();
  }
  // The engine alone: a worker has no stream clients. The feed flushes what it stages before it
  // acknowledges it (no write-behind thread).
  live::Generations generations;
  live::Engine engine(store, metrics, generations, std::move(engine_options));
  metrics.gauge_callback("tickgraph_live_topics", "Live (asset, interval, graph) series followed",
                         {}, [&engine] { return static_cast<double>(engine.topic_count()); });
  if (bus) {
    Status s =
        bus->follow_graph_changes([&engine](std::string_view name) { engine.graph_changed(name); });
    if (!s.ok()) return fail(s.with_prefix("--nats: "));
  }

  // Only /metrics and /healthz: the worker serves no data.
  server::Router router;
  std::unique_ptr<server::HttpServer> http;
  std::thread http_thread;
  if (o.metrics_port > 0) {
    router.add(
        "GET", "/metrics", {"Prometheus metrics", "health", {}, "", "", "text/plain"},
        [&metrics](const server::HttpRequest&) {
          server::HttpResponse r;
          r.content_type = "text/plain; version=0.0.4; charset=utf-8";
          r.body = metrics.render();
          return r;
        },
        server::RouteKind::kInline);
    router.add(
        "GET", "/healthz", {"Liveness", "health", {}, "", "", "application/json"},
        [](const server::HttpRequest&) {
          server::HttpResponse r;
          r.body = R"({"status":"ok"})";
          return r;
        },
        server::RouteKind::kInline);
    server::ServerOptions server_options;
    server_options.bind = o.metrics_bind;
    server_options.port = static_cast<std::uint16_t>(o.metrics_port);
    server_options.threads = 1;
    server_options.handler_threads = 0;  // its routes never wait
    http = std::make_unique<server::HttpServer>(server_options, router, metrics);
    if (Status s = http->listen(); !s.ok()) {
      return fail(s.with_prefix("--metrics-port: "));
    }
  }

  // The signals are taken by sigtimedwait below, in this thread only.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (http) http_thread = std::thread([&http] { http->run(false); });

  auto feed = Feed::start(o.feed, store, engine, metrics);
  if (!feed) {
    if (http) http->stop();
    if (http_thread.joinable()) http_thread.join();
    return fail(feed.status());
  }
  const std::string what =
      o.feed.kind == FeedOptions::Kind::kKafka
          ? "kafka topic " + o.feed.kafka.topic + " (group " + o.feed.kafka.group + ")"
          : "nats stream " + o.feed.nats.stream + " (durable " + o.feed.nats.durable + ")";
  std::cout << "tickgraph: ingesting " << what << " into "
            << (o.db.empty() ? store::default_database_url() : o.db)
            << (http ? "; metrics on http://" + o.metrics_bind + ":" +
                           std::to_string(http->port()) + "/metrics"
                     : std::string())
            << std::endl;

  int exit_code = kExitOk;
  for (;;) {
    timespec wait{0, 200'000'000};
    if (sigtimedwait(&signals, nullptr, &wait) > 0) break;
    if ((*feed)->failed()) {
      exit_code = kExitFailure;
      break;
    }
  }
  (*feed)->stop();
  if (bus) (void)bus->nats().flush(2000);
  if (http) http->stop();
  if (http_thread.joinable()) http_thread.join();
  std::cout << "tickgraph: stopped" << std::endl;
  return exit_code;
}

void add_common(CLI::App* cmd, IngestOptions& o) {
  cmd->add_option("--format", o.format, "Message format: protobuf (tickgraph.v1.Tick) or json")
      ->capture_default_str();
  cmd->add_option("--db", o.db, "Database URL (sqlite:PATH or postgresql://…)");
  cmd->add_flag("--auto-create", o.feed.auto_create,
                "Create unknown symbols' assets (otherwise their ticks are dead letters)");
  cmd->add_option("--graph", o.graphs,
                  "Run a stored graph on every asset and store its values: NAME or "
                  "NAME@INTERVAL (default 1m); repeatable");
  cmd->add_option("--intervals", o.intervals, "Bar intervals to build (default: all)");
  cmd->add_option("--nats", o.nats_bus,
                  "Publish updates on the NATS bus (tickgraph.v1.updates.<symbol>) and follow "
                  "graph changes: nats://host:port[,…]");
  cmd->add_option("--metrics-port", o.metrics_port, "Serve /metrics and /healthz (0: off)")
      ->capture_default_str();
  cmd->add_option("--metrics-bind", o.metrics_bind, "Address of the metrics endpoint")
      ->capture_default_str();
  add_logging_options(*cmd, o.log_format, o.log_level);
}

}  // namespace

void add_ingest_command(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("ingest", "Ingest a live tick feed (Kafka or NATS JetStream)");
  cmd->require_subcommand(1);

  auto ko = std::make_shared<IngestOptions>();
  ko->feed.kind = FeedOptions::Kind::kKafka;
  auto* kafka = cmd->add_subcommand("kafka", "Consume ticks from a Kafka topic in a group");
  kafka->add_option("--brokers", ko->feed.kafka.brokers, "Bootstrap brokers host:port[,…]")
      ->required();
  kafka->add_option("--topic", ko->feed.kafka.topic, "Topic of ticks keyed by symbol")->required();
  kafka->add_option("--group", ko->feed.kafka.group, "Consumer group")->capture_default_str();
  kafka->add_option("--dead-letter-topic", ko->feed.kafka.dead_letter_topic,
                    "Where poison messages go (default <topic>.deadletter)");
  kafka->add_option("--batch", ko->feed.kafka.batch, "Messages per store transaction at most")
      ->capture_default_str();
  kafka
      ->add_option("--prefetch", ko->feed.kafka.max_buffer_messages,
                   "Messages read ahead of the store at most (about 330 bytes each)")
      ->check(CLI::Range(1000, 10000000))
      ->capture_default_str();
  kafka->add_option("--kafka-config", ko->kafka_config,
                    "A librdkafka property key=value (session.timeout.ms=6000 …); repeatable");
  kafka
      ->add_option("--idle-close", ko->feed.kafka.idle_close_ms,
                   "Caught up and quiet this many ms: close bars by the wall clock")
      ->capture_default_str();
  add_common(kafka, *ko);
  kafka->callback([ko, &action] { action = [ko] { return run_ingest(*ko); }; });

  auto no = std::make_shared<IngestOptions>();
  no->feed.kind = FeedOptions::Kind::kNats;
  auto* nats = cmd->add_subcommand("nats", "Consume ticks from a NATS JetStream stream");
  nats->add_option("--servers", no->servers, "NATS servers nats://host:port[,…]")->required();
  nats->add_option("--stream", no->feed.nats.stream, "JetStream stream (created if absent)")
      ->capture_default_str();
  nats->add_option("--subjects", no->subjects,
                   "Subjects of a stream created here (default tickgraph.v1.ticks.>)");
  nats->add_option("--replicas", no->feed.nats.replicas, "Replicas of a stream created here")
      ->capture_default_str();
  nats->add_option("--durable", no->feed.nats.durable, "Durable consumer name")
      ->capture_default_str();
  nats->add_option("--dead-letter-subject", no->feed.nats.dead_letter_subject,
                   "Where poison messages go")
      ->capture_default_str();
  nats->add_option("--batch", no->feed.nats.batch, "Messages per fetch at most")
      ->capture_default_str();
  nats->add_option("--idle-close", no->feed.nats.idle_close_ms,
                   "Caught up and quiet this many ms: close bars by the wall clock")
      ->capture_default_str();
  add_common(nats, *no);
  nats->callback([no, &action] { action = [no] { return run_ingest(*no); }; });
}

}  // namespace tickgraph::cli
