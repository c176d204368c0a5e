// What the HTTP server asks of the application for live streams. The server (http_server.cc)
// owns connections and bytes; the handler (the live market, live_market.h) owns subscriptions.
#pragma once

#include <memory>
#include <string_view>
#include <variant>

#include "server/router.h"
#include "server/stream.h"

namespace tickgraph::server {

class StreamHandler {
 public:
  virtual ~StreamHandler() = default;

  // A WebSocket connection was upgraded on /v1/stream: a client with nothing subscribed yet.
  virtual std::shared_ptr<StreamClient> connect(StreamClient::Wake wake) = 0;
  // A text frame from that client (a tickgraph.v1.ClientMessage as JSON). Replies and errors are
  // queued on the client.
  virtual void on_message(const std::shared_ptr<StreamClient>& client, std::string_view text) = 0;
  // GET /v1/stream/sse?assets=…&interval=…[&graph=…&outputs=…]: a subscribed client whose queue
  // already holds the snapshot, or the error response (400 naming the parameter, 404, 503).
  virtual std::variant<HttpResponse, std::shared_ptr<StreamClient>> open_sse(
      const HttpRequest& request, StreamClient::Wake wake) = 0;
  // The connection ended (either side); the client must not be pushed to again.
  virtual void disconnect(const std::shared_ptr<StreamClient>& client) = 0;
};

}  // namespace tickgraph::server
