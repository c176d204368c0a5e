#include "server/live_market.h"

#include "live/generations.h"
#include "server/relay.h"

namespace tickgraph::server {

namespace {

Status no_engine() {
  return Status::unavailable(
      "this node runs no engine (serve --no-engine): send ticks to an ingest worker or to a "
      "node that runs the engine");
}

}  // namespace

struct LiveMarket::Impl {
  live::Generations generations;
  StreamHub streams;
  std::unique_ptr<live::Engine> engine;  // or, in relay mode:
  std::unique_ptr<Relay> relay;

  Impl(store::Store& store, Metrics& metrics, LiveOptions o)
      : streams(metrics,
                {o.default_history, o.max_history, o.max_subscriptions, o.limits, o.clock}) {
    if (o.relay_only) {
      relay = std::make_unique<Relay>(store, metrics, generations, streams);
      streams.follow_from(*relay);
      return;
    }
    live::EngineOptions e;
    e.intervals = std::move(o.intervals);
    e.warmup_bars = o.warmup_bars;
    e.max_history = o.max_history;
    e.standing = std::move(o.standing);
    e.streams = &streams;
    e.bus = o.bus;
    e.clock = o.clock;
    e.writes = {o.write_behind, o.write_period, o.max_queued};
    e.store_wait = o.store_wait;
    engine = std::make_unique<live::Engine>(store, metrics, generations, std::move(e));
    streams.follow_from(*engine);
  }
  live::TopicSource& source() { return engine ? static_cast<live::TopicSource&>(*engine) : *relay; }
};

LiveMarket::LiveMarket(store::Store& store, Metrics& metrics, LiveOptions options)
    : impl_(std::make_shared<Impl>(store, metrics, std::move(options))) {
  // Exported by every process (0 where nothing is relayed), as the README lists it; the relay
  // counts in the same series.
  (void)relay_dropped_counter(metrics);
  // The registry may outlive this market: the callbacks read it through a weak pointer and
  // report 0 once it is gone.
  std::weak_ptr<Impl> weak = impl_;
  metrics.gauge_callback("tickgraph_stream_clients", "Connected stream clients (WebSocket and SSE)",
                         {}, [weak] {
                           auto impl = weak.lock();
                           return impl ? static_cast<double>(impl->streams.client_count()) : 0.0;
                         });
  metrics.gauge_callback("tickgraph_live_topics", "Live (asset, interval, graph) series followed",
                         {}, [weak] {
                           auto impl = weak.lock();
                           return impl ? static_cast<double>(impl->source().topic_count()) : 0.0;
                         });
}

LiveMarket::~LiveMarket() = default;

live::Engine* LiveMarket::engine() { return impl_->engine.get(); }

Result<IngestCounts> LiveMarket::ingest(std::span<const TickInput> ticks, std::string_view source) {
  if (!impl_->engine) return no_engine();
  return impl_->engine->ingest(ticks, source);
}

Result<IngestCounts> LiveMarket::stage(std::span<const TickInput> ticks, std::string_view source) {
  if (!impl_->engine) return no_engine();
  return impl_->engine->stage(ticks, source);
}

Status LiveMarket::flush() { return impl_->engine ? impl_->engine->flush() : Status{}; }

std::size_t LiveMarket::queued() const { return impl_->engine ? impl_->engine->queued() : 0; }

void LiveMarket::advance_clock(Timestamp now) {
  if (impl_->engine) impl_->engine->advance_clock(now);
}

std::optional<Candle> LiveMarket::forming(std::string_view symbol, Interval interval) const {
  return impl_->engine ? impl_->engine->forming(symbol, interval) : std::nullopt;
}

void LiveMarket::graph_changed(std::string_view name) { impl_->source().graph_changed(name); }

void LiveMarket::release(std::span<const std::string> symbols) {
  if (impl_->engine) impl_->engine->release(symbols);
}

void LiveMarket::relay(std::string_view update) {
  if (impl_->relay) impl_->relay->relay(update);
}

Status LiveMarket::subscribe(const std::shared_ptr<StreamClient>& client,
                             const SubscribeRequest& request) {
  return impl_->streams.subscribe(client, request);
}

void LiveMarket::unsubscribe(const std::shared_ptr<StreamClient>& client,
                             const std::vector<std::string>& assets) {
  impl_->streams.unsubscribe(client, assets);
}

std::size_t LiveMarket::client_count() const { return impl_->streams.client_count(); }

std::uint64_t LiveMarket::generation(std::string_view symbol) const {
  return impl_->generations.of(symbol);
}

void LiveMarket::bump(std::string_view symbol) { impl_->generations.bump(symbol); }

std::shared_ptr<StreamClient> LiveMarket::connect(StreamClient::Wake wake) {
  return impl_->streams.connect(std::move(wake));
}

void LiveMarket::on_message(const std::shared_ptr<StreamClient>& client, std::string_view text) {
  impl_->streams.on_message(client, text);
}

std::variant<HttpResponse, std::shared_ptr<StreamClient>> LiveMarket::open_sse(
    const HttpRequest& request, StreamClient::Wake wake) {
  return impl_->streams.open_sse(request, std::move(wake));
}

void LiveMarket::disconnect(const std::shared_ptr<StreamClient>& client) {
  impl_->streams.disconnect(client);
}

}  // namespace tickgraph::server
