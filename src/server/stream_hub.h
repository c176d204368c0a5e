// The stream protocol over the live engine: WebSocket and SSE clients subscribe to topics of a
// live::TopicSource (the engine, or a relay on a node that runs none), get a snapshot, then every
// update of the topics they follow, as tickgraph.v1.StreamMessage JSON.
//
// A subscription is (assets, interval, graph, outputs). The snapshot is taken and the client
// registered while the source publishes nothing (TopicSource::follow's commit), so no update is
// missed or repeated between them. Updates are serialised once per choice of outputs, not once
// per client, and pushed to the clients' queues, which never block the engine (stream.h): a slow
// client's forming updates are coalesced (reported in a "lag" message), and a client too far
// behind is disconnected.
//
// Thread-safety: every public function may be called from any thread. One mutex of its own
// guards clients and followers; it is taken inside the source's lock (publish(), follows(), a
// subscription's commit), never the other way round: unsubscribe() releases it before it asks
// the source to drop topics. No store call.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/result.h"
#include "live/topic_source.h"
#include "live/update_sink.h"
#include "server/stream_handler.h"

namespace tickgraph::server {

// A subscription request, as the WebSocket message or the SSE query gives it.
struct SubscribeRequest {
  std::vector<std::string> assets;
  Interval interval = Interval::k1m;
  std::string graph;                 // "" = candles only
  std::vector<std::string> outputs;  // "" = all of the graph's outputs
  std::size_t history = 0;           // 0 = StreamHubOptions::default_history
};

struct StreamHubOptions {
  std::size_t default_history = 300;  // bars in a snapshot when the client does not say
  std::size_t max_history = 5000;
  // Topics (asset, interval, graph) one connection may follow; more is refused (429).
  std::size_t max_subscriptions = 256;
  StreamLimits limits;
  const Clock* clock = &system_clock();  // ages clients' queues
};

class StreamHub : public StreamHandler, public live::UpdateSink {
 public:
  StreamHub(Metrics& metrics, StreamHubOptions options);
  ~StreamHub() override;
  StreamHub(const StreamHub&) = delete;
  StreamHub& operator=(const StreamHub&) = delete;

  // The source clients subscribe to; set once, before the first client.
  void follow_from(live::TopicSource& source) { source_ = &source; }

  // Subscribes `client` (adding to what it has); queues the snapshot on it. Errors:
  // invalid_argument (naming the parameter), not_found (an asset or graph), resource_exhausted
  // (too many subscriptions), or the store's failure.
  Status subscribe(const std::shared_ptr<StreamClient>& client, const SubscribeRequest& request);
  // Drops the client's subscriptions to `assets` (all when empty).
  void unsubscribe(const std::shared_ptr<StreamClient>& client,
                   const std::vector<std::string>& assets);
  std::size_t client_count() const { return client_count_.load(); }

  // StreamHandler
  std::shared_ptr<StreamClient> connect(StreamClient::Wake wake) override;
  void on_message(const std::shared_ptr<StreamClient>& client, std::string_view text) override;
  std::variant<HttpResponse, std::shared_ptr<StreamClient>> open_sse(
      const HttpRequest& request, StreamClient::Wake wake) override;
  void disconnect(const std::shared_ptr<StreamClient>& client) override;

  // live::UpdateSink (called under the source's lock)
  void publish(const live::Update& update) override;
  void ended(const live::TopicInfo& topic) override;
  bool follows(const std::string& key) override;

 private:
  struct Follower {
    std::weak_ptr<StreamClient> client;
    std::vector<int> columns;  // indexes into the topic's outputs; all when empty
  };
  struct Followers {
    std::string symbol;
    std::vector<Follower> list;
  };
  Status commit(const std::shared_ptr<StreamClient>& client,
                std::span<const live::TopicSnapshot> snapshots);
  void report_lag(StreamClient& client);  // mutex_ held

  const StreamHubOptions options_;
  live::TopicSource* source_ = nullptr;
  Counter& coalesced_;
  Counter& too_slow_;
  mutable std::mutex mutex_;
  std::set<std::shared_ptr<StreamClient>> clients_;
  std::map<std::string, Followers, std::less<>> followers_;  // by topic key
  std::atomic<std::size_t> client_count_{0};                 // for the metrics, without the lock
};

}  // namespace tickgraph::server
