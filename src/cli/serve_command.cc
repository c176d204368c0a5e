// tickgraph serve [--port 8080] [--bind 127.0.0.1] [--db URL] [--simulate SYM,SYM | --no-simulate]
//                 [--config FILE] [--threads N] [--web-root DIR] [--seed N] [--tick-rate R]
//
// The service: REST, WebSocket and SSE streams, metrics and the web UI (src/server). With no
// arguments it opens the default SQLite database (importing the demo data on first use), adds the
// demo graph when there is no graph, runs the market simulator for ACME, GLOBEX and INITECH, and
// serves http://127.0.0.1:8080. SIGINT or SIGTERM drains: no new connections, in-flight requests
// finish, streams are told, the simulator stops after its last batch is stored, the store closes.
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "cli/commands.h"
#include "cli/database.h"
#include "cli/exit_code.h"
#include "cli/feed.h"
#include "cli/logging.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "ingest/market_simulator.h"
#include "server/api.h"
#include "server/auth/authenticator.h"
#include "server/http_server.h"
#include "server/live_market.h"
#include "server/router.h"

namespace tickgraph::cli {

namespace {

struct ServeOptions {
  std::string config;
  std::string bind = "127.0.0.1";
  int port = 8080;
  std::string db;
  std::string simulate = "ACME,GLOBEX,INITECH";
  bool no_simulate = false;
  int threads = 0;
  int handler_threads = 16;
  std::string web_root;
  std::uint64_t seed = 42;
  double tick_rate = 4;     // per symbol, ticks per second
  double volatility = 0.6;  // annualised: lively on minute charts
  double drift = 0.05;
  // Auth and limits (server/auth).
  std::string auth = "on";
  std::string issuer = "tickgraph";
  std::string audience = "tickgraph";
  int token_ttl = 3600;
  std::string jwks_url;
  std::string jwt_issuer;
  std::string hs256_secret_file;
  int jwks_min_refresh = 30;
  int clock_skew = 30;
  double rate_limit = 100;
  double rate_burst = 200;
  double failed_auth_rate = 5;
  std::size_t max_body_bytes = 16u << 20;
  int request_timeout = 60;
  std::size_t max_subscriptions = 256;
  // Scale-out (cli/feed.h).
  std::string nats;  // the bus
  bool no_engine = false;
  std::string kafka_brokers;
  std::string kafka_topic;
  std::string kafka_group = "tickgraph-serve";
  std::string kafka_format = "protobuf";
  bool auto_create = false;
  std::vector<std::string> kafka_config;  // key=value
  std::string log_format = "text";
  std::string log_level = "info";
};

bool is_loopback(const std::string& bind) {
  return bind == "localhost" || bind == "::1" || bind.rfind("127.", 0) == 0;
}

std::vector<std::string> split_symbols(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// One setting's value; a value of the wrong type is named with its place and key.
template <class T>
T setting(const YAML::Node& v, const std::string& where, const char* expected) {
  try {
    return v.as<T>();
  } catch (const YAML::Exception&) {
    throw std::invalid_argument(
        where + ": expected " + expected + ", got " +
        (v.IsScalar() ? "'" + v.Scalar() + "'" : std::string("a list or map")));
  }
}

// Reads the YAML config: the same keys as the options (port, bind, db, threads, web_root) and a
// `simulate` map (symbols, seed, tick_rate, volatility, drift) or `simulate: false`. Options given
// on the command line win, so the config is applied only where the flag was not given.
Status apply_config(const std::string& path, ServeOptions& o, const CLI::App& cmd) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Status::invalid_argument(path + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) return Status::invalid_argument(path + ": expected a map of settings");
  auto given = [&](const char* flag) { return cmd.count(flag) > 0; };
  try {
    for (const auto& kv : root) {
      const std::string key = setting<std::string>(kv.first, path, "a key");
      const YAML::Node& v = kv.second;
      const std::string at = path + ":" + std::to_string(kv.first.Mark().line + 1) + ": " + key;
      if (key == "port") {
        if (!given("--port")) o.port = setting<int>(v, at, "a port number");
      } else if (key == "bind") {
        if (!given("--bind")) o.bind = setting<std::string>(v, at, "an address");
      } else if (key == "db") {
        if (!given("--db")) o.db = setting<std::string>(v, at, "a database URL");
      } else if (key == "threads") {
        if (!given("--threads")) o.threads = setting<int>(v, at, "a number of threads");
      } else if (key == "web_root") {
        if (!given("--web-root")) o.web_root = setting<std::string>(v, at, "a directory");
      } else if (key == "auth") {
        if (!given("--auth")) o.auth = setting<std::string>(v, at, "on or off");
      } else if (key == "issuer") {
        if (!given("--issuer")) o.issuer = setting<std::string>(v, at, "an issuer name");
      } else if (key == "audience") {
        if (!given("--audience")) o.audience = setting<std::string>(v, at, "an audience");
      } else if (key == "jwks_url") {
        if (!given("--jwks-url")) o.jwks_url = setting<std::string>(v, at, "a URL");
      } else if (key == "jwt_issuer") {
        if (!given("--jwt-issuer")) o.jwt_issuer = setting<std::string>(v, at, "an issuer");
      } else if (key == "hs256_secret_file") {
        if (!given("--hs256-secret-file")) {
          o.hs256_secret_file = setting<std::string>(v, at, "a file name");
        }
      } else if (key == "rate_limit") {
        if (!given("--rate-limit")) o.rate_limit = setting<double>(v, at, "requests per second");
      } else if (key == "rate_burst") {
        if (!given("--rate-burst")) o.rate_burst = setting<double>(v, at, "a number of requests");
      } else if (key == "max_subscriptions") {
        if (!given("--max-subscriptions")) {
          o.max_subscriptions = setting<std::size_t>(v, at, "a number of subscriptions");
        }
      } else if (key == "simulate") {
        if (given("--simulate") || given("--no-simulate")) continue;
        if (v.IsScalar()) {
          if (setting<bool>(v, at, "false or a map")) {
            return Status::invalid_argument(at + ": expected false, or a map of settings");
          }
          o.no_simulate = true;
          continue;
        }
        if (!v.IsMap()) return Status::invalid_argument(at + ": expected a map");
        for (const auto& sv : v) {
          const std::string k = setting<std::string>(sv.first, at, "a key");
          const std::string sat =
              path + ":" + std::to_string(sv.first.Mark().line + 1) + ": " + key + "." + k;
          if (k == "symbols") {
            if (!sv.second.IsSequence())
              return Status::invalid_argument(sat + ": expected a list of symbols");
            o.simulate.clear();
            for (const auto& sym : sv.second) {
              o.simulate +=
                  (o.simulate.empty() ? "" : ",") + setting<std::string>(sym, sat, "a symbol");
            }
          } else if (k == "seed") {
            if (!given("--seed")) o.seed = setting<std::uint64_t>(sv.second, sat, "a whole number");
          } else if (k == "tick_rate") {
            if (!given("--tick-rate")) o.tick_rate = setting<double>(sv.second, sat, "a number");
          } else if (k == "volatility") {
            o.volatility = setting<double>(sv.second, sat, "a number");
          } else if (k == "drift") {
            o.drift = setting<double>(sv.second, sat, "a number");
          } else {
            return Status::invalid_argument(sat +
                                            ": unknown key (expected symbols, seed, tick_rate, "
                                            "volatility, drift)");
          }
        }
      } else {
        return Status::invalid_argument(
            at +
            ": unknown key (expected port, bind, db, threads, web_root, "
            "simulate, auth, issuer, audience, jwks_url, jwt_issuer, "
            "hs256_secret_file, rate_limit, rate_burst, max_subscriptions)");
      }
    }
  } catch (const std::invalid_argument& e) {
    return Status::invalid_argument(e.what());
  }
  return {};
}

std::string default_web_root() {
  const std::filesystem::path p = std::filesystem::path(TICKGRAPH_SOURCE_DIR) / "web/dist";
  return std::filesystem::exists(p / "index.html") ? p.string() : std::string();
}

// Adds examples/demo.yaml as graph "demo" when the store has no graph at all.
void add_demo_graph(store::Store& store) {
  auto graphs = store.list_graphs();
  if (!graphs || !graphs->empty()) return;
  const std::filesystem::path p =
      std::filesystem::path(TICKGRAPH_SOURCE_DIR) / "examples/demo.yaml";
  std::ifstream in(p);
  if (!in) return;
  std::stringstream text;
  text << in.rdbuf();
  if (auto stored = store.put_graph("demo", text.str()); stored) {
    log::info("added the demo graph 'demo' (" + p.string() + ")", {{"graph", "demo"}});
  }
}

// Creates the simulated assets and the simulator; each symbol starts at its last stored 1m
// close, so a restarted demo continues its chart.
Result<ingest::MarketSimulator> make_simulator(store::Store& store, const ServeOptions& o) {
  ingest::SimulatorConfig config;
  config.seed = o.seed;
  config.start_time = system_clock().now();
  config.price_increment = 0.01;
  for (const auto& symbol : split_symbols(o.simulate)) {
    if (Status s = validate_symbol(symbol); !s.ok())
      return Status::invalid_argument("--simulate: " + s.message());
    Asset asset{.symbol = symbol,
                .name = "Simulated " + symbol,
                .asset_class = AssetClass::kEquity,
                .currency = "USD",
                .exchange = "SIM",
                .attributes = {{"source", "simulator"}}};
    auto stored = store.upsert_asset(asset);
    if (!stored) return stored.status();
    double start = 100;
    if (auto last = store.latest_candles(stored->id, Interval::k1m, 1); last && !last->empty()) {
      start = last->close.back();
    }
    config.assets.push_back({.symbol = symbol,
                             .start_price = start,
                             .drift = o.drift,
                             .volatility = o.volatility,
                             .tick_rate = o.tick_rate,
                             .arrival = ingest::TickArrival::kPoisson,
                             .mean_size = 100,
                             .size_dispersion = 0.5});
  }
  return ingest::MarketSimulator::create(std::move(config));
}

int serve(ServeOptions o, const CLI::App& cmd) {
  if (Status s = configure_logging(o.log_format, o.log_level); !s.ok()) return usage_error(s);
  if (!o.config.empty()) {
    if (Status s = apply_config(o.config, o, cmd); !s.ok()) {
      return fail(s.with_prefix("--config: "));
    }
  }
  const auto bad = [](std::string message) {
    return fail(Status::invalid_argument(std::move(message)));
  };
  if (o.port < 0 || o.port > 65535) {
    return bad("--port: " + std::to_string(o.port) + " is not a port (0 to 65535)");
  }
  if (o.threads < 0) {
    return bad("--threads: " + std::to_string(o.threads) +
               " (expected 0 for one per core, or more)");
  }
  if (o.auth != "on" && o.auth != "off") {
    return bad("--auth: expected on or off, got '" + o.auth + "'");
  }
  if (o.auth == "off" && !is_loopback(o.bind)) {
    return bad(
        "--auth off is only allowed on a loopback address (127.0.0.1, ::1, localhost), not on " +
        o.bind + ": anyone who can reach it could read and write");
  }
  if (o.token_ttl <= 0 || o.request_timeout <= 0 || o.rate_limit < 0 || o.rate_burst < 1 ||
      o.jwks_min_refresh < 0 || o.failed_auth_rate <= 0 || o.max_subscriptions == 0) {
    return bad(
        "--token-ttl and --request-timeout must be > 0, --rate-limit >= 0, --rate-burst >= 1, "
        "--failed-auth-rate > 0 and --max-subscriptions >= 1");
  }
  server::auth::AuthConfig auth_config;
  auth_config.enabled = o.auth == "on";
  auth_config.issuer = o.issuer;
  auth_config.audience = o.audience;
  auth_config.token_ttl = std::chrono::seconds(o.token_ttl);
  auth_config.jwks_url = o.jwks_url;
  auth_config.external_issuer = o.jwt_issuer;
  auth_config.jwks_min_refresh = std::chrono::seconds(o.jwks_min_refresh);
  auth_config.leeway = std::chrono::seconds(o.clock_skew);
  auth_config.rate = o.rate_limit;
  auth_config.burst = o.rate_burst;
  auth_config.failure_rate = o.failed_auth_rate;
  auth_config.failure_burst = 4 * o.failed_auth_rate;
  if (!o.hs256_secret_file.empty()) {
    std::ifstream in(o.hs256_secret_file, std::ios::binary);
    if (!in) return bad("--hs256-secret-file: cannot read " + o.hs256_secret_file);
    std::stringstream text;
    text << in.rdbuf();
    auth_config.hs256_secret = text.str();
    while (!auth_config.hs256_secret.empty() &&
           (auth_config.hs256_secret.back() == '\n' || auth_config.hs256_secret.back() == '\r')) {
      auth_config.hs256_secret.pop_back();
    }
  } else if (const char* secret = std::getenv("TICKGRAPH_HS256_SECRET")) {
    auth_config.hs256_secret = secret;
  }

  auto db = open_database(o.db);
  if (!db) return fail(db.status());
  store::Store& store = **db;
  add_demo_graph(store);

  if (o.no_engine && o.nats.empty()) {
    return usage_error(
        "--no-engine needs --nats: the updates come from the engines of the ingest workers, over "
        "the NATS bus");
  }
  if (o.no_engine && !o.kafka_topic.empty()) {
    return usage_error("--no-engine runs no engine to feed: drop --kafka-topic");
  }
  std::optional<ingest::MarketSimulator> simulator;
  if (!o.no_engine && !o.no_simulate && !split_symbols(o.simulate).empty()) {
    auto sim = make_simulator(store, o);
    if (!sim) return fail(sim.status().with_prefix("simulator: "));
    simulator.emplace(std::move(*sim));
  }

  Metrics metrics;
  server::auth::Authenticator auth(store, metrics, auth_config);
  if (Status s = auth.start(); !s.ok()) {
    return fail(s.with_prefix("auth: "));
  }
  server::LiveOptions live_options;
  live_options.max_subscriptions = o.max_subscriptions;
  live_options.relay_only = o.no_engine;
  live_options.write_behind = true;  // the clock thread below never waits for the store
  std::unique_ptr<Bus> bus;
  if (!o.nats.empty()) {
    auto connected = Bus::connect(o.nats, metrics);
    if (!connected) return fail(connected.status().with_prefix("--nats: "));
    bus = std::move(*connected);
    if (!o.no_engine) live_options.bus = &bus->updates();
  }
  server::LiveMarket live(store, metrics, live_options);
  if (bus) {
    Status s =
        bus->follow_graph_changes([&live](std::string_view name) { live.graph_changed(name); });
    if (s.ok() && o.no_engine) s = bus->relay_updates(live);
    if (!s.ok()) return fail(s.with_prefix("--nats: "));
  }
  server::ApiOptions api_options;
  api_options.extra_routes = [&auth](server::Router& r) { auth.add_routes(r); };
  if (bus) {
    api_options.on_graph_changed = [&bus](const std::string& name, std::int64_t version) {
      bus->publish_graph_change(name, version);
    };
  }
  server::Api api(store, live, metrics, api_options);
  server::Router router;
  api.add_routes(router);

  server::ServerOptions server_options;
  server_options.bind = o.bind;
  server_options.port = static_cast<std::uint16_t>(o.port);
  server_options.threads = o.threads;
  server_options.handler_threads = o.handler_threads;
  server_options.web_root = o.web_root.empty() ? default_web_root() : o.web_root;
  server_options.max_body_bytes = o.max_body_bytes;
  server_options.idle_timeout = std::chrono::seconds(o.request_timeout);
  server::HttpServer http(server_options, router, live, metrics);
  http.on_drain = [&api] { api.set_ready(false, "shutting down"); };
  http.authorize = [&auth](server::HttpRequest& request, const server::Route& route) {
    return auth.authorize(request, route);
  };
  if (Status s = http.listen(); !s.ok()) {
    return fail(s);
  }

  // Started before the clock thread, so that an error here returns with no thread to join.
  std::unique_ptr<Feed> feed;
  if (!o.kafka_topic.empty()) {
    FeedOptions feed_options;
    feed_options.kafka.brokers = o.kafka_brokers;
    feed_options.kafka.topic = o.kafka_topic;
    feed_options.kafka.group = o.kafka_group;
    feed_options.auto_create = o.auto_create;
    auto format = ingest::parse_tick_format(o.kafka_format);
    if (!format) return usage_error(format.status().with_prefix("--kafka-"));
    feed_options.kafka.format = *format;
    if (Status s = add_kafka_config(o.kafka_config, feed_options.kafka); !s.ok()) {
      return usage_error(s);
    }
    auto started = Feed::start(feed_options, store, *live.engine(), metrics);
    if (!started) return fail(started.status());
    feed = std::move(*started);
  }

  // The market clock: every 100 ms, the simulator's ticks up to now are staged as a feed's are
  // (applied and published at once; the write-behind thread stores them), and bars whose end has
  // passed close. While the store does not keep up (a locked database), stage() refuses batches
  // past LiveOptions::max_queued: the simulator then waits, drawing nothing, and catches up once
  // the queue drains. With a Kafka feed, bars close 2 s after their end instead: its ticks arrive
  // a little after their time (the producer, the broker, a batch), and a tick for a closed bar
  // would be late.
  const Duration close_lag = o.kafka_topic.empty() ? 0 : 2 * kSecond;
  std::mutex clock_mutex;
  std::condition_variable clock_cv;
  bool stopping = false;
  std::thread clock([&] {
    std::unique_lock lock(clock_mutex);
    while (!clock_cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping; })) {
      const Timestamp now = system_clock().now();
      if (simulator && live.queued() < live_options.max_queued) {
        std::vector<server::TickInput> batch;
        for (const auto& t : simulator->next_until(now)) {
          batch.push_back({simulator->symbol(t.asset), t.tick});
        }
        if (!batch.empty()) {
          auto result = live.stage(batch, "simulator");
          if (!result) {
            log::warn("simulator: " + result.message(),
                      {{"source", "simulator"}, {"code", status_code_name(result.code())}});
          }
        }
      }
      live.advance_clock(now - close_lag);
    }
  });

  http.catch_signals();
  if (auth_config.enabled) {
    log::info(
        "auth is on: send a Bearer token (POST /oauth2/token with a client of `tickgraph auth "
        "client add`) or an X-API-Key (`tickgraph auth key add`)",
        {{"auth", "on"}});
  } else {
    log::warn("auth is OFF (--auth off): anyone who can connect to " + o.bind + ":" +
                  std::to_string(http.port()) + " can read and write",
              {{"auth", "off"}});
  }
  std::cout << "tickgraph: serving http://" << o.bind << ":" << http.port() << "/ (store "
            << (o.db.empty() ? store::default_database_url() : o.db) << "; "
            << (o.no_engine ? std::string("no engine: relaying the NATS bus")
                : simulator ? "simulating " + o.simulate
                            : std::string("no simulator"))
            << (feed ? "; ingesting kafka topic " + o.kafka_topic : std::string())
            << "; Ctrl-C to stop)" << std::endl;
  http.run(true);
  {
    std::lock_guard lock(clock_mutex);
    stopping = true;
  }
  clock_cv.notify_all();
  clock.join();
  if (feed) feed->stop();
  if (bus) (void)bus->nats().flush(2000);
  std::cout << "tickgraph: stopped" << std::endl;
  return kExitOk;
}

}  // namespace

void add_serve_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand(
      "serve", "Serve the REST API, live streams, metrics and the web UI (default: the demo)");
  cmd->add_option("--config", o->config, "YAML settings (flags given here win)");
  cmd->add_option("--bind", o->bind, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->port, "Port (0: any free port, printed at start)")
      ->capture_default_str();
  cmd->add_option("--db", o->db,
                  "Database URL (sqlite:PATH or postgresql://…; default: "
                  "the embedded SQLite file)");
  auto* sim = cmd->add_option("--simulate", o->simulate, "Symbols of the simulated market")
                  ->capture_default_str();
  cmd->add_flag("--no-simulate", o->no_simulate, "Run without the simulator")->excludes(sim);
  cmd->add_option("--seed", o->seed, "Simulator seed")->capture_default_str();
  cmd->add_option("--tick-rate", o->tick_rate, "Simulated ticks per second per symbol")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "HTTP threads (0: one per core)");
  cmd->add_option("--handler-threads", o->handler_threads,
                  "Threads that run REST handlers, which may wait on the store (0: on the HTTP "
                  "threads)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--web-root", o->web_root, "Directory of the built web UI (default web/dist)");
  cmd->add_option("--auth", o->auth, "on, or off (allowed only on a loopback --bind)")
      ->capture_default_str();
  cmd->add_option("--issuer", o->issuer, "iss of the token endpoint's tokens")
      ->capture_default_str();
  cmd->add_option("--audience", o->audience, "aud every accepted token must contain")
      ->capture_default_str();
  cmd->add_option("--token-ttl", o->token_ttl, "Lifetime of issued tokens, seconds")
      ->capture_default_str();
  cmd->add_option("--jwks-url", o->jwks_url, "JWKS of an outside token issuer (RS256, ES256)");
  cmd->add_option("--jwks-min-refresh", o->jwks_min_refresh,
                  "Seconds between JWKS fetches caused by an unknown kid")
      ->capture_default_str();
  cmd->add_option("--clock-skew", o->clock_skew,
                  "Seconds of clock skew allowed on a token's exp and nbf")
      ->capture_default_str();
  cmd->add_option("--jwt-issuer", o->jwt_issuer, "iss of the outside issuer's tokens");
  cmd->add_option("--hs256-secret-file", o->hs256_secret_file,
                  "File holding a shared HS256 secret (or $TICKGRAPH_HS256_SECRET)");
  cmd->add_option("--rate-limit", o->rate_limit, "Requests per second per credential (0: none)")
      ->capture_default_str();
  cmd->add_option("--rate-burst", o->rate_burst, "Requests a credential may send at once")
      ->capture_default_str();
  cmd->add_option("--failed-auth-rate", o->failed_auth_rate,
                  "Failed authentications and token requests per second per client address "
                  "(burst: 4 times as many; then 429)")
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", o->max_body_bytes, "Largest request body (larger: 413)")
      ->capture_default_str();
  cmd->add_option("--request-timeout", o->request_timeout,
                  "Seconds to receive a request or send a response")
      ->capture_default_str();
  cmd->add_option("--max-subscriptions", o->max_subscriptions,
                  "Topics one stream connection may follow")
      ->capture_default_str();
  cmd->add_option("--nats", o->nats,
                  "NATS bus nats://host:port[,…]: publish updates and graph changes (with "
                  "--no-engine: relay the workers' updates)");
  cmd->add_flag("--no-engine", o->no_engine,
                "A stateless API node: no simulator, no ingest; live data from --nats");
  cmd->add_option("--kafka-brokers", o->kafka_brokers, "Ingest ticks from Kafka: brokers");
  cmd->add_option("--kafka-topic", o->kafka_topic, "Ingest ticks from Kafka: the topic")
      ->needs(cmd->get_option("--kafka-brokers"));
  cmd->add_option("--kafka-group", o->kafka_group, "Ingest ticks from Kafka: consumer group")
      ->capture_default_str();
  cmd->add_option("--kafka-format", o->kafka_format, "Ingest ticks from Kafka: protobuf or json")
      ->capture_default_str();
  cmd->add_option("--kafka-config", o->kafka_config,
                  "Ingest ticks from Kafka: a librdkafka property key=value; repeatable");
  cmd->add_flag("--auto-create", o->auto_create,
                "Create the assets of unknown symbols the Kafka feed sends");
  add_logging_options(*cmd, o->log_format, o->log_level);
  cmd->callback([o, cmd, &action] { action = [o, cmd] { return serve(*o, *cmd); }; });
}

}  // namespace tickgraph::cli
