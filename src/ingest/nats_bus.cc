#include "ingest/nats_bus.h"

#include <chrono>
#include <cstdlib>
#include <exception>

#include "core/log.h"

namespace tickgraph::ingest {

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

// Owns a natsOptions for the duration of connect().
struct OptionsDeleter {
  void operator()(natsOptions* options) const { natsOptions_Destroy(options); }
};

// Copies the headers of `message`; libnats hands out the key and value arrays for us to free.
NatsHeaders read_headers(natsMsg* message) {
  NatsHeaders headers;
  const char** keys = nullptr;
  int key_count = 0;
  if (natsMsgHeader_Keys(message, &keys, &key_count) != NATS_OK) return headers;
  for (int k = 0; k < key_count; ++k) {
    const char** values = nullptr;
    int value_count = 0;
    if (natsMsgHeader_Values(message, keys[k], &values, &value_count) != NATS_OK) continue;
    for (int v = 0; v < value_count; ++v) headers.emplace_back(keys[k], values[v]);
    std::free(static_cast<void*>(values));  // the array is ours to free
  }
  std::free(static_cast<void*>(keys));
  return headers;
}

}  // namespace

std::string_view NatsMessage::header(std::string_view key) const {
  for (const auto& [name, value] : headers) {
    if (name == key) return value;
  }
  return {};
}

Result<std::vector<std::string>> parse_nats_servers(std::string_view comma_separated) {
  std::vector<std::string> servers;
  std::string_view rest = comma_separated;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view entry = trim(rest.substr(0, comma));
    if (entry.empty()) {
      return Status::invalid_argument("nats servers: empty entry in '" +
                                      std::string(comma_separated) +
                                      "' (expected nats://host:port,nats://host:port,…)");
    }
    if (!entry.starts_with("nats://") || entry.size() == 7) {
      return Status::invalid_argument("nats servers: '" + std::string(entry) +
                                      "' is not a NATS URL (expected nats://host:port)");
    }
    servers.emplace_back(entry);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return servers;
}

std::string nats_error_text(natsStatus status) {
  std::string text = natsStatus_GetText(status);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  // The detail often repeats the status text; add it only when it says more.
  if (detail != nullptr && *detail != '\0' && text != detail) text += std::string(": ") + detail;
  return text;
}

// One subscription: the libnats handle and the handler its callback calls. Owned by the bus and
// destroyed only after libnats said no callback will run any more (on_subscription_complete).
struct NatsBus::Subscription {
  NatsBus* bus = nullptr;
  std::string subject;
  Handler handler;
  MessageHandler message_handler;
  natsSubscription* handle = nullptr;
};

Result<std::unique_ptr<NatsBus>> NatsBus::connect(const NatsOptions& options) {
  if (options.servers.empty()) return Status::invalid_argument("nats: no servers given");
  if (options.reconnect_wait_ms < 0) {
    return Status::invalid_argument("nats: reconnect_wait_ms must be >= 0, got " +
                                    std::to_string(options.reconnect_wait_ms));
  }
  std::unique_ptr<NatsBus> bus(new NatsBus());
  bus->servers_text_ = join(options.servers);
  const auto failed = [&](std::string_view what, natsStatus status) {
    return Status::unavailable("nats: " + std::string(what) + " " + bus->servers_text_ + ": " +
                               nats_error_text(status));
  };

  natsOptions* raw_options = nullptr;
  natsStatus s = natsOptions_Create(&raw_options);
  if (s != NATS_OK) return failed("cannot create options for", s);
  const std::unique_ptr<natsOptions, OptionsDeleter> nats_options(raw_options);

  std::vector<const char*> urls;
  urls.reserve(options.servers.size());
  for (const auto& server : options.servers) urls.push_back(server.c_str());
  s = natsOptions_SetServers(raw_options, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetName(raw_options, options.name.c_str());
  // Keep the order given: the first server is the preferred one (the nearest, in production).
  if (s == NATS_OK) s = natsOptions_SetNoRandomize(raw_options, true);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(raw_options, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(raw_options, -1);  // forever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(raw_options, options.reconnect_wait_ms);
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(raw_options, kReconnectBufferBytes);
  if (s == NATS_OK) {
    s = natsOptions_SetDisconnectedCB(raw_options, &NatsBus::on_disconnected, bus.get());
  }
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectedCB(raw_options, &NatsBus::on_reconnected, bus.get());
  }
  if (s == NATS_OK) s = natsOptions_SetClosedCB(raw_options, &NatsBus::on_closed, bus.get());
  if (s == NATS_OK) {
    s = natsOptions_SetErrorHandler(raw_options, &NatsBus::on_async_error, bus.get());
  }
  if (s != NATS_OK) return failed("invalid options for", s);

  s = natsConnection_Connect(&bus->connection_, raw_options);
  if (s != NATS_OK) {
    bus->connection_ = nullptr;  // nothing to drain; the destructor has nothing to do
    return failed("cannot connect to", s);
  }
  return bus;
}

NatsBus::~NatsBus() {
  if (connection_ == nullptr) return;
  const auto wait_for = [this](int timeout_ms, const auto& done) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), done);
  };
  // Drain fails at once when the connection is reconnecting; then just close it. Either way
  // libnats calls on_closed last, and only after that may `this` go away, since every callback
  // gets `this` as its closure.
  if (natsConnection_DrainTimeout(connection_, kDrainTimeoutMs) == NATS_OK) {
    wait_for(kDrainTimeoutMs + 1000, [this] { return closed_; });
  }
  natsConnection_Close(connection_);
  wait_for(kDrainTimeoutMs, [this] { return closed_; });
  // A handler may still be running on its subscription's thread after the close; its handler
  // object must outlive that call.
  wait_for(kDrainTimeoutMs,
           [this] { return completed_subscriptions_ == static_cast<int>(subscriptions_.size()); });
  for (auto& subscription : subscriptions_) natsSubscription_Destroy(subscription->handle);
  natsConnection_Destroy(connection_);
}

Status NatsBus::publish(std::string_view subject, std::string_view data) {
  const std::string subject_text(subject);
  const natsStatus s = natsConnection_Publish(connection_, subject_text.c_str(), data.data(),
                                              static_cast<int>(data.size()));
  if (s != NATS_OK) {
    return Status::unavailable("nats: publish to '" + subject_text +
                               "' failed: " + nats_error_text(s));
  }
  published_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

Status NatsBus::publish(std::string_view subject, std::string_view data,
                        const NatsHeaders& headers) {
  const std::string subject_text(subject);
  const auto failed = [&](natsStatus s) {
    return Status::unavailable("nats: publish to '" + subject_text +
                               "' failed: " + nats_error_text(s));
  };
  natsMsg* message = nullptr;
  natsStatus s = natsMsg_Create(&message, subject_text.c_str(), nullptr, data.data(),
                                static_cast<int>(data.size()));
  if (s != NATS_OK) return failed(s);
  for (const auto& [key, value] : headers) {
    s = natsMsgHeader_Add(message, key.c_str(), value.c_str());
    if (s != NATS_OK) break;
  }
  if (s == NATS_OK) s = natsConnection_PublishMsg(connection_, message);
  natsMsg_Destroy(message);
  if (s != NATS_OK) return failed(s);
  published_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

Status NatsBus::subscribe(std::string_view subject, Handler handler) {
  auto subscription = std::make_unique<Subscription>();
  subscription->handler = std::move(handler);
  return add_subscription(subject, std::move(subscription));
}

Status NatsBus::subscribe_with_headers(std::string_view subject, MessageHandler handler) {
  auto subscription = std::make_unique<Subscription>();
  subscription->message_handler = std::move(handler);
  return add_subscription(subject, std::move(subscription));
}

Status NatsBus::add_subscription(std::string_view subject,
                                 std::unique_ptr<Subscription> subscription) {
  subscription->bus = this;
  subscription->subject = std::string(subject);
  Subscription* raw = subscription.get();
  // Held across the subscribe so that the destructor's count of subscriptions never misses one
  // whose completion callback has already run.
  const std::lock_guard lock(mutex_);
  natsStatus s = natsConnection_Subscribe(&raw->handle, connection_, raw->subject.c_str(),
                                          &NatsBus::on_message, raw);
  if (s == NATS_OK) {
    s = natsSubscription_SetOnCompleteCB(raw->handle, &NatsBus::on_subscription_complete, raw);
    if (s != NATS_OK) natsSubscription_Destroy(raw->handle);
  }
  if (s != NATS_OK) {
    return Status::unavailable("nats: subscribe to '" + raw->subject +
                               "' failed: " + nats_error_text(s));
  }
  subscriptions_.push_back(std::move(subscription));
  return {};
}

Status NatsBus::flush(int timeout_ms) {
  const natsStatus s = natsConnection_FlushTimeout(connection_, timeout_ms);
  if (s != NATS_OK) {
    return Status::unavailable("nats: flush to " + servers_text_ + " failed after " +
                               std::to_string(timeout_ms) + " ms: " + nats_error_text(s));
  }
  return {};
}

NatsBus::BusStats NatsBus::stats() const {
  BusStats out;
  out.published = published_.load(std::memory_order_relaxed);
  out.received = received_.load(std::memory_order_relaxed);
  out.reconnects = reconnects_.load(std::memory_order_relaxed);
  out.disconnects = disconnects_.load(std::memory_order_relaxed);
  out.async_errors = async_errors_.load(std::memory_order_relaxed);
  out.connected = natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
  return out;
}

std::string NatsBus::connected_url() const {
  char buffer[512] = {};
  if (natsConnection_GetConnectedUrl(connection_, buffer, sizeof(buffer)) != NATS_OK) return {};
  return buffer;
}

void NatsBus::on_message(natsConnection* /*connection*/, natsSubscription* /*subscription*/,
                         natsMsg* message, void* closure) {
  auto* subscription = static_cast<Subscription*>(closure);
  const char* data = natsMsg_GetData(message);
  const std::string_view subject = natsMsg_GetSubject(message);
  const std::string_view payload(data == nullptr ? "" : data,
                                 static_cast<std::size_t>(natsMsg_GetDataLength(message)));
  // An exception must not unwind into libnats (C) code.
  try {
    if (subscription->message_handler) {
      subscription->message_handler(NatsMessage{subject, payload, read_headers(message)});
    } else {
      subscription->handler(subject, payload);
    }
  } catch (const std::exception& e) {
    log::error("nats: handler of subscription '" + subscription->subject + "' threw: " + e.what(),
               {{"subject", subscription->subject}});
  } catch (...) {
    log::error("nats: handler of subscription '" + subscription->subject +
                   "' threw a non-standard exception",
               {{"subject", subscription->subject}});
  }
  subscription->bus->received_.fetch_add(1, std::memory_order_relaxed);
  natsMsg_Destroy(message);
}

void NatsBus::on_subscription_complete(void* closure) {
  NatsBus* bus = static_cast<Subscription*>(closure)->bus;
  const std::lock_guard lock(bus->mutex_);
  ++bus->completed_subscriptions_;
  bus->changed_.notify_all();
}

void NatsBus::on_disconnected(natsConnection* /*connection*/, void* closure) {
  static_cast<NatsBus*>(closure)->disconnects_.fetch_add(1, std::memory_order_relaxed);
}

void NatsBus::on_reconnected(natsConnection* /*connection*/, void* closure) {
  static_cast<NatsBus*>(closure)->reconnects_.fetch_add(1, std::memory_order_relaxed);
}

void NatsBus::on_closed(natsConnection* /*connection*/, void* closure) {
  auto* bus = static_cast<NatsBus*>(closure);
  const std::lock_guard lock(bus->mutex_);
  bus->closed_ = true;
  bus->changed_.notify_all();
}

void NatsBus::on_async_error(natsConnection* /*connection*/, natsSubscription* subscription,
                             natsStatus status, void* closure) {
  auto* bus = static_cast<NatsBus*>(closure);
  // Reported once: a slow consumer repeats this for every message it drops.
  if (bus->async_errors_.fetch_add(1, std::memory_order_relaxed) == 0) {
    const char* subject =
        subscription == nullptr ? nullptr : natsSubscription_GetSubject(subscription);
    const std::string on = subject == nullptr ? "" : std::string(" on '") + subject + "'";
    log::warn("nats: asynchronous error" + on + ": " + natsStatus_GetText(status) +
                  " (further ones are only counted)",
              {{"subject", subject == nullptr ? "" : subject}});
  }
}

}  // namespace tickgraph::ingest
