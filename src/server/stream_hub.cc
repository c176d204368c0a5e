#include "server/stream_hub.h"

#include <algorithm>
#include <charconv>

#include "server/convert.h"
#include "server/errors.h"

namespace tickgraph::server {

namespace {

SharedText shared(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

// A StreamMessage carrying an Error with this wire code.
SharedText error_message(std::string_view code, const std::string& text,
                         const std::vector<StatusDetail>& details) {
  v1::StreamMessage message;
  auto* error = message.mutable_error();
  error->set_code(std::string(code));
  error->set_message(text);
  for (const auto& [key, value] : details) (*error->mutable_details())[key] = value;
  return shared(to_json(message));
}

// The same for a failed Status, with the wire code its HTTP answer would have.
SharedText error_message(const Status& s) {
  return error_message(http_error_of(s.code()).code, s.message(), s.details());
}

Status bad(std::string message, std::string key, std::string value) {
  return Status::invalid_argument(std::move(message)).with_detail(std::move(key), std::move(value));
}

// Per client, under the hub's mutex: the topics it follows.
struct ClientState {
  std::set<std::string> topics;
  std::int64_t reported_coalesced = 0;
};

ClientState& state_of(StreamClient& client) {
  return *static_cast<ClientState*>(client.user_state.get());
}

}  // namespace

StreamHub::StreamHub(Metrics& metrics, StreamHubOptions options)
    : options_(options),
      coalesced_(metrics.counter("tickgraph_stream_coalesced_total",
                                 "Forming-bar updates replaced by newer ones before a slow client "
                                 "received them")),
      too_slow_(metrics.counter("tickgraph_stream_disconnects_total",
                                "Stream clients disconnected by the server",
                                {{"reason", "too_slow"}})) {}

StreamHub::~StreamHub() = default;

Status StreamHub::subscribe(const std::shared_ptr<StreamClient>& client,
                            const SubscribeRequest& request) {
  if (request.assets.empty()) {
    return bad("assets: at least one asset is required", "parameter", "assets");
  }
  if (request.history > options_.max_history) {
    return bad("history: at most " + std::to_string(options_.max_history) + " bars", "parameter",
               "history");
  }
  if (request.assets.size() > options_.max_subscriptions) {
    return Status::resource_exhausted("at most " + std::to_string(options_.max_subscriptions) +
                                      " subscriptions per connection")
        .with_parameter("assets");
  }
  live::FollowRequest follow{request.assets, request.interval, request.graph, request.outputs,
                             request.history == 0 ? options_.default_history : request.history};
  return source_->follow(follow, [&](std::span<const live::TopicSnapshot> snapshots) {
    return commit(client, snapshots);
  });
}

// Under the source's lock: checks the client's subscription count, queues the snapshot and
// registers the client on the topics.
Status StreamHub::commit(const std::shared_ptr<StreamClient>& client,
                         std::span<const live::TopicSnapshot> snapshots) {
  std::lock_guard lock(mutex_);
  ClientState& state = state_of(*client);
  std::size_t added = 0;
  for (const auto& s : snapshots) added += state.topics.count(s.topic->key) == 0 ? 1 : 0;
  if (state.topics.size() + added > options_.max_subscriptions) {
    return Status::resource_exhausted("at most " + std::to_string(options_.max_subscriptions) +
                                      " subscriptions per connection")
        .with_parameter("assets");
  }
  v1::StreamMessage message;
  auto* snapshot = message.mutable_snapshot();
  for (const auto& s : snapshots) {
    const live::TopicInfo& topic = *s.topic;
    to_proto(topic.symbol, topic.interval, s.bars, *snapshot->add_candles());
    if (!topic.graph.empty()) {
      auto* analytics = snapshot->add_analytics();
      analytics->set_symbol(topic.symbol);
      analytics->set_interval(to_proto(topic.interval));
      analytics->set_graph(topic.graph);
      analytics->set_version(topic.graph_version);
      analytics->mutable_ts()->Add(s.bars.time.begin(), s.bars.time.end());
      for (std::size_t c = 0; c < topic.outputs.size(); ++c) {
        if (s.wants(c)) to_proto(topic.outputs[c], s.values[c], *analytics->add_series());
      }
    }
    if (s.forming) {
      const live::Update forming{topic, *s.forming, false, s.forming_values, s.forming_time};
      to_proto(forming, s.columns, *snapshot->add_forming());
    }
  }
  client->send(shared(to_json(message)));
  for (const auto& s : snapshots) {
    if (state.topics.insert(s.topic->key).second) {
      Followers& followers = followers_[s.topic->key];
      followers.symbol = s.topic->symbol;
      followers.list.push_back({client, s.columns});
      continue;
    }
    // Subscribing again to a followed topic changes its outputs to the new choice.
    for (auto& follower : followers_[s.topic->key].list) {
      if (follower.client.lock() == client) follower.columns = s.columns;
    }
  }
  return {};
}

void StreamHub::unsubscribe(const std::shared_ptr<StreamClient>& client,
                            const std::vector<std::string>& assets) {
  {
    std::lock_guard lock(mutex_);
    ClientState& state = state_of(*client);
    for (auto it = state.topics.begin(); it != state.topics.end();) {
      auto followers = followers_.find(*it);
      const bool match =
          followers == followers_.end() || assets.empty() ||
          std::find(assets.begin(), assets.end(), followers->second.symbol) != assets.end();
      if (!match) {
        ++it;
        continue;
      }
      if (followers != followers_.end()) {
        std::erase_if(followers->second.list,
                      [&](const Follower& f) { return f.client.lock() == client; });
      }
      it = state.topics.erase(it);
    }
  }
  source_->unfollowed();
}

void StreamHub::publish(const live::Update& update) {
  std::lock_guard lock(mutex_);
  auto followers = followers_.find(update.topic.key);
  if (followers == followers_.end()) return;
  std::map<std::vector<int>, SharedText> by_columns;  // one serialisation per column choice
  for (const Follower& follower : followers->second.list) {
    auto client = follower.client.lock();
    if (!client || client->closed()) continue;
    auto& text = by_columns[follower.columns];
    if (!text) text = shared(update_json(update, follower.columns));
    client->push(update.topic.key, text, update.final);
    report_lag(*client);
  }
}

void StreamHub::report_lag(StreamClient& client) {
  ClientState& state = state_of(client);
  const std::int64_t total = client.coalesced_total();
  if (total <= state.reported_coalesced) return;
  coalesced_.inc(static_cast<double>(total - state.reported_coalesced));
  state.reported_coalesced = total;
  v1::StreamMessage message;
  message.mutable_lag()->set_coalesced(total);
  message.mutable_lag()->set_pending_bytes(static_cast<std::int64_t>(client.pending_bytes()));
  client.push("~lag", shared(to_json(message)), false, false);
}

void StreamHub::ended(const live::TopicInfo& topic) {
  std::lock_guard lock(mutex_);
  auto followers = followers_.find(topic.key);
  if (followers == followers_.end()) return;
  const SharedText text = error_message(
      "graph_changed", "graph '" + topic.graph + "' was replaced or deleted: subscribe again",
      {{"graph", topic.graph}});
  for (const Follower& follower : followers->second.list) {
    if (auto client = follower.client.lock()) {
      client->send(text);
      state_of(*client).topics.erase(topic.key);
    }
  }
  followers_.erase(followers);
}

bool StreamHub::follows(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto followers = followers_.find(key);
  if (followers == followers_.end()) return false;
  std::erase_if(followers->second.list, [](const Follower& f) {
    auto client = f.client.lock();
    return !client || client->closed();
  });
  if (!followers->second.list.empty()) return true;
  followers_.erase(followers);
  return false;
}

std::shared_ptr<StreamClient> StreamHub::connect(StreamClient::Wake wake) {
  auto client = std::make_shared<StreamClient>(options_.limits, std::move(wake), *options_.clock);
  client->user_state = std::make_shared<ClientState>();
  std::lock_guard lock(mutex_);
  clients_.insert(client);
  client_count_ = clients_.size();
  return client;
}

void StreamHub::on_message(const std::shared_ptr<StreamClient>& client, std::string_view text) {
  v1::ClientMessage message;
  if (Status s = from_json(text, message, "message"); !s.ok()) {
    client->send(error_message(bad(s.message(), "message", "ClientMessage")));
    return;
  }
  if (message.has_unsubscribe()) {
    unsubscribe(client,
                {message.unsubscribe().assets().begin(), message.unsubscribe().assets().end()});
    return;
  }
  if (!message.has_subscribe()) {
    client->send(error_message(
        bad("message: expected 'subscribe' or 'unsubscribe'", "message", "ClientMessage")));
    return;
  }
  const v1::Subscribe& s = message.subscribe();
  auto interval = from_proto(s.interval(), "subscribe.interval");
  if (!interval) {
    client->send(error_message(bad(interval.message(), "field", "subscribe.interval")));
    return;
  }
  if (s.history() < 0) {
    client->send(
        error_message(bad("subscribe.history: must be >= 0", "field", "subscribe.history")));
    return;
  }
  SubscribeRequest request{{s.assets().begin(), s.assets().end()},
                           *interval,
                           s.graph(),
                           {s.outputs().begin(), s.outputs().end()},
                           static_cast<std::size_t>(s.history())};
  if (Status error = subscribe(client, request); !error.ok()) client->send(error_message(error));
}

std::variant<HttpResponse, std::shared_ptr<StreamClient>> StreamHub::open_sse(
    const HttpRequest& request, StreamClient::Wake wake) {
  SubscribeRequest subscribe_request;
  const auto assets = request.query_param("assets");
  if (!assets || assets->empty()) {
    return error_response(bad("assets: required (comma-separated symbols)", "parameter", "assets"));
  }
  subscribe_request.assets = split_list(*assets);
  const auto interval_text = request.query_param("interval");
  if (!interval_text) {
    return error_response(
        bad("interval: required (1s, 1m, 5m, 15m, 1h, 4h, 1d or 1w)", "parameter", "interval"));
  }
  auto interval = parse_interval(*interval_text);
  if (!interval) {
    return error_response(interval.status().with_prefix("interval: ").with_parameter("interval"));
  }
  subscribe_request.interval = *interval;
  if (auto g = request.query_param("graph")) subscribe_request.graph = std::string(*g);
  if (auto o = request.query_param("outputs")) {
    if (subscribe_request.graph.empty()) {
      return error_response(bad("outputs: needs a graph", "parameter", "outputs"));
    }
    subscribe_request.outputs = split_list(*o);
  }
  if (auto h = request.query_param("history")) {
    std::size_t value = 0;
    const auto [ptr, ec] = std::from_chars(h->data(), h->data() + h->size(), value);
    if (ec != std::errc() || ptr != h->data() + h->size()) {
      return error_response(
          bad("history: not a whole number: '" + std::string(*h) + "'", "parameter", "history"));
    }
    subscribe_request.history = value;
  }
  auto client = connect(std::move(wake));
  if (Status error = subscribe(client, subscribe_request); !error.ok()) {
    disconnect(client);
    return error_response(error);
  }
  return client;
}

void StreamHub::disconnect(const std::shared_ptr<StreamClient>& client) {
  unsubscribe(client, {});
  if (client->close_kind() == CloseKind::kTooSlow) too_slow_.inc();
  client->close("disconnected", CloseKind::kDisconnected);
  std::lock_guard lock(mutex_);
  clients_.erase(client);
  client_count_ = clients_.size();
}

}  // namespace tickgraph::server
