#include "server/auth/authenticator.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "core/log.h"
#include "server/auth/credentials.h"
#include "server/auth/jwt.h"
#include "server/auth/rate_limiter.h"
#include "server/convert.h"
#include "server/errors.h"
#include "server/stream.h"
#include "tickgraph/v1/auth.pb.h"

namespace tickgraph::server::auth {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxJwksBytes = 1u << 20;
constexpr long kJwksTimeoutMs = 5000;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool has_scope(const std::vector<std::string>& scopes, std::string_view scope) {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * count > kMaxJwksBytes) return 0;  // aborts the transfer
  out->append(data, size * count);
  return size * count;
}

// GET `url` with libcurl (http or https, 5 s, at most 1 MiB).
Result<std::string> http_get(const std::string& url) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return Status::internal("cannot start libcurl");
  std::string body;
  std::array<char, CURL_ERROR_SIZE> error{};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, kJwksTimeoutMs);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error.data());
  if (const CURLcode rc = curl_easy_perform(curl.get()); rc != CURLE_OK) {
    return Status::unavailable(url + ": " + (error[0] ? error.data() : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return Status::unavailable(url + ": HTTP " + std::to_string(status));
  return body;
}

// The keys of a JWKS document; keys of other types are skipped with a note in `skipped`.
Result<std::vector<VerifyKey>> parse_jwks(const std::string& text, std::string& skipped) {
  const json doc = json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return Status::invalid_argument("not a JWKS document (an object with keys)");
  }
  std::vector<VerifyKey> keys;
  for (const auto& jwk : doc["keys"]) {
    if (jwk.is_object() && jwk.contains("use") && jwk["use"] != "sig") continue;
    auto key = key_from_jwk(jwk);
    if (!key.ok()) {
      skipped += (skipped.empty() ? "" : "; ") + key.message();
      continue;
    }
    keys.push_back(std::move(*key));
  }
  return keys;
}

HttpResponse auth_error(const AuthError& e, std::string_view scope = "") {
  static const std::map<int, std::string_view> kCodes = {
      {401, "unauthenticated"}, {403, "permission_denied"}, {429, "resource_exhausted"}};
  auto code = kCodes.find(e.status);
  ErrorDetails details = {{"reason", e.reason}};
  if (!scope.empty()) details["scope"] = std::string(scope);
  HttpResponse r = error_response(e.status, code == kCodes.end() ? "unauthenticated" : code->second,
                                  e.message, details);
  // RFC 6750 §3: the challenge tells clients what to send (no description: it could echo input).
  if (e.status == 401) {
    std::string challenge = R"(Bearer realm="tickgraph")";
    if (e.reason != "missing_credentials") challenge += R"(, error="invalid_token")";
    r.headers.emplace_back("WWW-Authenticate", std::move(challenge));
  } else if (e.status == 403) {
    r.headers.emplace_back("WWW-Authenticate",
                           R"(Bearer realm="tickgraph", error="insufficient_scope", scope=")" +
                               std::string(scope) + "\"");
  }
  return r;
}

HttpResponse too_many(double wait_s, std::string_view message) {
  const auto seconds = static_cast<long>(std::ceil(std::max(wait_s, 0.001)));
  HttpResponse r =
      error_response(429, "resource_exhausted", message,
                     {{"reason", "rate_limited"}, {"retry_after", std::to_string(seconds)}});
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}

// RFC 6749 §5.2 error: {"error", "error_description"}, plus our own code and message.
HttpResponse oauth_error(int status, std::string_view error, std::string_view description,
                         bool used_basic = false) {
  HttpResponse r;
  r.status = status;
  r.body = json{{"error", error},
                {"error_description", description},
                {"code", status == 401 ? "unauthenticated" : "invalid_argument"},
                {"message", description}}
               .dump();
  r.headers.emplace_back("Cache-Control", "no-store");
  // RFC 6749 §5.2: the challenge only answers a client that authenticated with Basic (a browser
  // would otherwise open its own login dialog for a form sign-in).
  if (status == 401 && used_basic) {
    r.headers.emplace_back("WWW-Authenticate", R"(Basic realm="tickgraph")");
  }
  return r;
}

// application/x-www-form-urlencoded: '+' is a space, then percent-decoding as in a query.
std::optional<std::vector<std::pair<std::string, std::string>>> parse_form(std::string_view body) {
  std::string target = "/?";
  for (char c : body) target += c == '+' ? std::string("%20") : std::string(1, c);
  auto parsed = parse_target(target);
  if (!parsed) return std::nullopt;
  return std::move(parsed->query);
}

std::string percent_decode(std::string_view text) {
  auto parsed = parse_target("/?x=" + std::string(text));
  return parsed && !parsed->query.empty() ? parsed->query.front().second : std::string(text);
}

void to_proto(const store::Credential& c, v1::Credential& out) {
  out.set_id(c.id);
  out.set_kind(c.kind);
  out.set_name(c.name);
  for (const auto& s : c.scopes) out.add_scopes(s);
  out.set_created(c.created);
  out.set_revoked(c.revoked.value_or(0));
}

HttpResponse json_message(const google::protobuf::Message& m, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = to_json(m);
  return r;
}

}  // namespace

struct Authenticator::Impl {
  store::CredentialStore& store;
  Metrics& metrics;
  AuthConfig config;
  const Clock& clock;  // token expiry and JWKS age by now(); caches and rate limits by monotonic()
  RateLimiter requests;
  RateLimiter failures;

  std::optional<SigningKeyPair> signing;
  std::optional<VerifyKey> hs256;

  std::mutex jwks_mutex;  // guards the fields below; fetches are serialised by it too
  std::vector<VerifyKey> jwks;
  std::int64_t jwks_fetched = 0;  // seconds; 0 = never
  bool jwks_tried = false;

  struct Cached {
    std::optional<store::Credential> credential;
    std::int64_t loaded_ms = 0;
  };
  std::mutex cache_mutex;
  std::unordered_map<std::string, Cached> cache;

  Counter& rate_limited;

  Impl(store::CredentialStore& s, Metrics& m, AuthConfig c, const Clock& k)
      : store(s),
        metrics(m),
        config(std::move(c)),
        clock(k),
        requests(config.rate, config.burst),
        failures(config.failure_rate, config.failure_burst),
        rate_limited(m.counter("tickgraph_rate_limited_total",
                               "Requests refused with 429 by the rate limits")) {}

  std::int64_t now_s() const { return clock.now() / kSecond; }
  double mono_s() const { return static_cast<double>(clock.monotonic()) / kSecond; }
  std::int64_t mono_ms() const { return clock.monotonic() / kMillisecond; }

  void count_failure(const std::string& reason) {
    metrics
        .counter("tickgraph_auth_failures_total",
                 "Requests refused by authentication or authorization, by reason",
                 {{"reason", reason}})
        .inc();
  }

  // One line per refusal: what, from where, why; never a token, key or secret.
  static void log_failure(const HttpRequest& r, const AuthError& e, std::string_view who) {
    const std::string remote = r.remote.empty() ? "?" : r.remote;
    std::string line = "auth: " + std::to_string(e.status) + " " + r.method + " " + r.path +
                       " from " + remote + ": " + e.reason;
    if (!who.empty()) line += " (" + std::string(who) + ")";
    log::warn(line, {{"status", e.status},
                     {"method", r.method},
                     {"route", r.path},
                     {"remote", remote},
                     {"reason", e.reason},
                     {"credential", who}});
  }

  // The stored credential `id`, cached for credential_ttl (absent ones too, so that made-up
  // ids do not each cost a query).
  Result<std::optional<store::Credential>> credential(const std::string& id) {
    const auto now = mono_ms();
    {
      std::lock_guard lock(cache_mutex);
      auto it = cache.find(id);
      if (it != cache.end() && now - it->second.loaded_ms < config.credential_ttl.count()) {
        return it->second.credential;
      }
    }
    auto found = store.find_credential(id);
    if (!found.ok()) return found;
    std::lock_guard lock(cache_mutex);
    if (cache.size() > 10000) cache.clear();
    cache[id] = Cached{*found, now};
    return *found;
  }
  void forget(const std::string& id) {
    std::lock_guard lock(cache_mutex);
    cache.erase(id);
  }

  Status fetch_jwks_locked() {
    jwks_tried = true;
    jwks_fetched = now_s();
    auto body = http_get(config.jwks_url);
    if (!body.ok()) return body.status().with_prefix("JWKS ");
    std::string skipped;
    auto keys = parse_jwks(*body, skipped);
    if (!keys.ok()) return keys.status().with_prefix("JWKS " + config.jwks_url + ": ");
    if (!skipped.empty())
      log::warn("auth: JWKS keys skipped: " + skipped, {{"url", config.jwks_url}});
    jwks = std::move(*keys);
    return {};
  }

  // A JWKS key for (kid, alg), refetching the set when the kid is unknown (at most every
  // jwks_min_refresh) or the set is old.
  std::optional<VerifyKey> jwks_key(const std::string& kid, const std::string& alg) {
    if (config.jwks_url.empty()) return std::nullopt;
    std::lock_guard lock(jwks_mutex);
    auto find = [&]() -> std::optional<VerifyKey> {
      for (const auto& k : jwks) {
        if (k.alg == alg && (kid.empty() ? jwks.size() == 1 : k.kid == kid)) return k;
      }
      return std::nullopt;
    };
    const auto now = now_s();
    const bool stale = !jwks_tried || now - jwks_fetched >= config.jwks_max_age.count();
    auto key = stale ? std::nullopt : find();
    if (!key && (stale || now - jwks_fetched >= config.jwks_min_refresh.count())) {
      if (auto s = fetch_jwks_locked(); !s.ok()) {
        log::warn("auth: " + s.message(), {{"url", config.jwks_url}});
      }
      key = find();
    }
    return key;
  }

  struct Principal {
    std::string id;  // for rate limits and logs
    std::vector<std::string> scopes;
    std::int64_t expires = 0;  // a token's exp (seconds); 0 = an API key
    bool revocable = false;    // a stored credential (our client, an API key)
  };

  // Open streams and the credential each was opened with: checked every second, and closed
  // (WebSocket 1008, SSE close event) once the token expires or the credential is revoked.
  struct Watched {
    std::weak_ptr<StreamClient> client;
    Principal principal;
  };
  std::mutex watch_mutex;
  std::condition_variable watch_cv;
  std::vector<Watched> watched;
  bool stopping = false;
  std::thread watcher;

  void watch(std::weak_ptr<StreamClient> client, Principal p) {
    std::lock_guard lock(watch_mutex);
    watched.push_back({std::move(client), std::move(p)});
  }

  void watch_loop() {
    std::unique_lock lock(watch_mutex);
    while (!watch_cv.wait_for(lock, std::chrono::seconds(1), [&] { return stopping; })) {
      std::vector<Watched> now_watched;
      std::erase_if(watched, [](const Watched& w) {
        auto c = w.client.lock();
        return !c || c->closed();
      });
      now_watched = watched;
      lock.unlock();
      const auto now = now_s();
      for (const auto& w : now_watched) {
        auto client = w.client.lock();
        if (!client) continue;
        if (w.principal.expires != 0 && now >= w.principal.expires + config.leeway.count()) {
          client->close("the token expired: connect again with a new one", CloseKind::kRefused);
          count_failure("stream_expired");
        } else if (w.principal.revocable) {
          auto found = credential(w.principal.id);
          if (found.ok() && (!*found || (*found)->revoked)) {
            client->close("the credential was revoked", CloseKind::kRefused);
            count_failure("stream_revoked");
          }
        }
      }
      lock.lock();
    }
  }

  void stop_watching() {
    {
      std::lock_guard lock(watch_mutex);
      stopping = true;
    }
    watch_cv.notify_all();
    if (watcher.joinable()) watcher.join();
  }

  AuthResult<Principal> bearer(const std::string& token) {
    auto decoded = decode_jwt(token);
    if (auto* e = std::get_if<AuthError>(&decoded)) return *e;
    const DecodedJwt& jwt = std::get<DecodedJwt>(decoded);
    // The key decides which issuer may have signed: ours signs only our own tokens.
    std::optional<VerifyKey> key;
    bool own = false;
    if (jwt.alg == "HS256") {
      key = hs256;
      if (!key) {
        return AuthError{401, "alg_not_allowed", "HS256 tokens are not accepted here"};
      }
    } else if (signing && jwt.alg == "ES256" && (jwt.kid.empty() || jwt.kid == signing->kid)) {
      key = verify_key_of(*signing);
      own = true;
    } else {
      key = jwks_key(jwt.kid, jwt.alg);
    }
    if (!key) {
      return AuthError{401, "unknown_key",
                       "no " + jwt.alg + " key " +
                           (jwt.kid.empty() ? std::string("(the token has no kid)")
                                            : "with kid '" + jwt.kid + "'") +
                           " is trusted"};
    }
    if (!verify_signature(jwt, *key)) {
      return AuthError{401, "bad_signature", "the token's signature does not verify"};
    }
    ClaimRules rules;
    rules.issuers = {own || config.external_issuer.empty() ? config.issuer
                                                           : config.external_issuer};
    rules.audience = config.audience;
    rules.now = now_s();
    rules.leeway = config.leeway.count();
    if (auto e = check_claims(jwt.claims, rules)) return *e;
    const std::string sub = jwt.claims.contains("sub") && jwt.claims["sub"].is_string()
                                ? jwt.claims["sub"].get<std::string>()
                                : "";
    Principal p;
    if (auto exp = jwt.claims.find("exp"); exp != jwt.claims.end() && exp->is_number()) {
      p.expires = static_cast<std::int64_t>(exp->get<double>());
    }
    for (auto& s : token_scopes(jwt.claims)) {
      if (std::find(std::begin(kScopes), std::end(kScopes), s) != std::end(kScopes)) {
        p.scopes.push_back(std::move(s));
      }
    }
    if (own) {
      auto client = credential(sub);
      if (!client.ok()) {
        return AuthError{503, "store_unavailable", "cannot check the client: " + client.message()};
      }
      if (!*client || (*client)->kind != "client") {
        return AuthError{401, "unknown_client", "the token's client '" + sub + "' does not exist"};
      }
      if ((*client)->revoked) {
        return AuthError{401, "revoked", "the token's client '" + sub + "' was revoked"};
      }
      p.id = sub;
      p.revocable = true;
    } else {
      p.id = "jwt:" + rules.issuers.front() + "/" + sub;
    }
    return p;
  }

  AuthResult<Principal> api_key(const std::string& key) {
    std::string id, secret;
    if (!split_api_key(key, id, secret)) {
      return AuthError{401, "bad_api_key", "the API key is not of the form tgk_<id>_<secret>"};
    }
    auto found = credential(id);
    if (!found.ok()) {
      return AuthError{503, "store_unavailable", "cannot check the API key: " + found.message()};
    }
    if (!*found || (*found)->kind != "api_key" || !verify_secret(secret, (*found)->secret_hash)) {
      return AuthError{401, "bad_api_key", "the API key is not valid"};
    }
    if ((*found)->revoked) {
      return AuthError{401, "revoked", "the API key '" + id + "' was revoked"};
    }
    return Principal{id, (*found)->scopes, 0, true};
  }

  // The credential of a request: at most one of the header forms, or on stream routes a query
  // parameter. nullopt with `error` empty when there is none.
  AuthResult<Principal> authenticate(const HttpRequest& r, const Route& route) {
    std::vector<std::pair<std::string, std::string>> found;  // (kind, value)
    if (auto h = r.header("authorization"); !h.empty()) {
      const auto space = h.find(' ');
      const std::string scheme = lower(h.substr(0, space));
      if (scheme != "bearer" || space == std::string_view::npos) {
        return AuthError{401, "unsupported_scheme",
                         "Authorization must be 'Bearer <token>' (got scheme '" +
                             std::string(h.substr(0, std::min<std::size_t>(space, 16))) + "')"};
      }
      auto token = h.substr(space + 1);
      while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
      found.emplace_back("bearer", std::string(token));
    }
    if (auto h = r.header("x-api-key"); !h.empty()) found.emplace_back("key", std::string(h));
    if (route.kind == RouteKind::kWebSocket || route.kind == RouteKind::kSse) {
      if (auto q = r.query_param("access_token")) found.emplace_back("bearer", std::string(*q));
      if (auto q = r.query_param("api_key")) found.emplace_back("key", std::string(*q));
    }
    if (found.empty()) {
      return AuthError{401, "missing_credentials",
                       "this route needs a credential: Authorization: Bearer <token> or "
                       "X-API-Key"};
    }
    if (found.size() > 1) {
      return AuthError{401, "ambiguous_credentials", "send one credential, not several"};
    }
    return found[0].first == "bearer" ? bearer(found[0].second) : api_key(found[0].second);
  }

  std::optional<HttpResponse> authorize(HttpRequest& r, const Route& route) {
    const std::string& scope = route.doc.scope;
    if (scope.empty()) return std::nullopt;
    const double now = mono_s();
    if (!config.enabled) {  // loopback only: no credentials, so no per-credential limits
      r.scopes.assign(std::begin(kScopes), std::end(kScopes));
      return std::nullopt;
    }
    // Failed attempts spend the address's failure budget. Once it is gone every request from
    // there is 429 before its credential is looked at, so guessing gains nothing: a right guess
    // and a wrong one get the same answer.
    const std::string addr_key = "addr:" + r.remote;
    if (!failures.has(addr_key, now)) {
      rate_limited.inc();
      count_failure("rate_limited");
      return too_many(failures.take(addr_key, now),
                      "too many failed authentications from " + r.remote);
    }
    auto result = authenticate(r, route);
    if (auto* e = std::get_if<AuthError>(&result)) {
      // Sending nothing guesses nothing: only a credential that fails spends the budget.
      if (e->reason != "missing_credentials") (void)failures.take(addr_key, now);
      count_failure(e->reason);
      log_failure(r, *e, "");
      if (e->status == 503) return error_response(503, "unavailable", e->message);
      return auth_error(*e);
    }
    Principal& p = std::get<Principal>(result);
    if (!has_scope(p.scopes, scope)) {
      AuthError e{403, "insufficient_scope",
                  r.method + " " + r.path + " needs the '" + scope +
                      "' scope, which this credential lacks"};
      count_failure(e.reason);
      log_failure(r, e, p.id);
      return auth_error(e, scope);
    }
    if (double wait = requests.take("id:" + p.id, now); wait > 0) {
      rate_limited.inc();
      return too_many(wait, "rate limit of this credential reached");
    }
    if (route.kind == RouteKind::kWebSocket || route.kind == RouteKind::kSse) {
      r.on_stream_open = [this, p](const std::shared_ptr<StreamClient>& client) {
        watch(client, p);
      };
    }
    r.credential = std::move(p.id);
    r.scopes = std::move(p.scopes);
    return std::nullopt;
  }

  HttpResponse token(const HttpRequest& r) {
    const std::string addr_key = "addr:" + r.remote;
    const double now = mono_s();
    if (!failures.has(addr_key, now)) {
      rate_limited.inc();
      return too_many(failures.take(addr_key, now), "too many token requests from " + r.remote);
    }
    const auto type = lower(r.header("content-type"));
    if (type.rfind("application/x-www-form-urlencoded", 0) != 0) {
      return oauth_error(400, "invalid_request",
                         "the body must be application/x-www-form-urlencoded");
    }
    auto form = parse_form(r.body);
    if (!form) return oauth_error(400, "invalid_request", "the form is not valid url-encoding");
    std::map<std::string, std::string> fields;
    for (auto& [k, v] : *form) {
      if (!fields.emplace(k, v).second) {
        return oauth_error(400, "invalid_request", "parameter '" + k + "' is given twice");
      }
    }
    auto field = [&](const char* name) {
      auto it = fields.find(name);
      return it == fields.end() ? std::string() : it->second;
    };
    if (field("grant_type").empty()) {
      return oauth_error(400, "invalid_request", "grant_type is required");
    }
    if (field("grant_type") != "client_credentials") {
      return oauth_error(400, "unsupported_grant_type",
                         "only grant_type=client_credentials is supported");
    }
    std::string id = field("client_id");
    std::string secret = field("client_secret");
    const bool basic = !r.header("authorization").empty();
    if (auto h = r.header("authorization"); !h.empty()) {
      if (!secret.empty()) {
        return oauth_error(400, "invalid_request",
                           "send the client's credentials once: Basic or the form, not both");
      }
      if (lower(h.substr(0, 6)) != "basic ") {
        return oauth_error(401, "invalid_client", "client authentication must be HTTP Basic", true);
      }
      auto decoded = base64url_decode([&] {
        std::string s(h.substr(6));
        std::replace(s.begin(), s.end(), '+', '-');
        std::replace(s.begin(), s.end(), '/', '_');
        while (!s.empty() && s.back() == '=') s.pop_back();
        return s;
      }());
      const auto colon = decoded ? decoded->find(':') : std::string::npos;
      if (colon == std::string::npos) {
        return oauth_error(401, "invalid_client", "the Basic credentials are malformed", true);
      }
      // RFC 6749 §2.3.1: both parts are form-encoded before Basic encoding.
      id = percent_decode(decoded->substr(0, colon));
      secret = percent_decode(decoded->substr(colon + 1));
    }
    if (id.empty() || secret.empty()) {
      return oauth_error(401, "invalid_client", "client_id and client_secret are required", basic);
    }
    auto client = credential(id);
    if (!client.ok()) return error_response(503, "unavailable", client.message());
    const char* why = nullptr;
    if (!*client || (*client)->kind != "client") {
      why = "unknown_client";
    } else if ((*client)->revoked) {
      why = "revoked";
    } else if (!verify_secret(secret, (*client)->secret_hash)) {
      why = "bad_secret";
    }
    if (why != nullptr) {
      (void)failures.take(addr_key, now);
      count_failure(std::string("token_") + why);
      log_failure(r, AuthError{401, std::string("token_") + why, ""}, id);
      return oauth_error(401, "invalid_client", "client authentication failed", basic);
    }
    std::vector<std::string> scopes = (*client)->scopes;
    if (auto asked = field("scope"); !asked.empty()) {
      auto parsed = parse_scopes(asked);
      if (!parsed.ok()) return oauth_error(400, "invalid_scope", parsed.message());
      for (const auto& s : *parsed) {
        if (!has_scope((*client)->scopes, s)) {
          return oauth_error(400, "invalid_scope", "this client may not have scope '" + s + "'");
        }
      }
      scopes = std::move(*parsed);
    }
    auto token = issue(**client, scopes);
    if (!token.ok()) return error_response(token.status());
    HttpResponse out;
    out.body = json{{"access_token", *token},
                    {"token_type", "Bearer"},
                    {"expires_in", config.token_ttl.count()},
                    {"scope", join_scopes(scopes)}}
                   .dump();
    out.headers.emplace_back("Cache-Control", "no-store");
    out.headers.emplace_back("Pragma", "no-cache");
    return out;
  }

  Result<std::string> issue(const store::Credential& client,
                            const std::vector<std::string>& scopes) {
    if (!signing) return Status::failed_precondition("the signing key is not loaded");
    const auto now = now_s();
    const json claims = {{"iss", config.issuer},
                         {"sub", client.id},
                         {"client_id", client.id},
                         {"aud", config.audience},
                         {"iat", now},
                         {"nbf", now},
                         {"exp", now + config.token_ttl.count()},
                         {"jti", base64url_encode(random_bytes(16))},
                         {"scope", join_scopes(scopes)}};
    return sign_es256(*signing, claims);
  }

  HttpResponse jwks_document() const {
    json keys = json::array();
    if (signing) keys.push_back(public_jwk(verify_key_of(*signing)));
    HttpResponse r;
    r.body = json{{"keys", keys}}.dump();
    r.headers.emplace_back("Cache-Control", "public, max-age=300");
    return r;
  }

  // --- admin routes ---
  HttpResponse list(std::string_view kind) {
    auto all = store.list_credentials(kind);
    if (!all.ok()) return error_response(all.status());
    v1::CredentialList out;
    for (const auto& c : *all) to_proto(c, *out.add_credentials());
    return json_message(out);
  }
  HttpResponse create(const HttpRequest& r, std::string_view kind) {
    v1::NewCredential body;
    if (auto s = from_json(r.body, body, "NewCredential"); !s.ok()) return error_response(s);
    if (body.name().empty()) {
      return error_response(Status::invalid_argument("name is required").with_field("name"));
    }
    std::string scopes_text;
    for (const auto& s : body.scopes()) scopes_text += s + ",";
    auto scopes = parse_scopes(scopes_text);
    if (!scopes.ok()) return error_response(scopes.status().with_field("scopes"));
    auto issued = kind == "client" ? add_client(store, body.name(), *scopes, clock)
                                   : add_api_key(store, body.name(), *scopes, clock);
    if (!issued.ok()) return error_response(issued.status());
    v1::IssuedCredential out;
    to_proto(issued->credential, *out.mutable_credential());
    out.set_secret(issued->secret);
    HttpResponse resp = json_message(out, 201);
    resp.headers.emplace_back("Cache-Control", "no-store");
    return resp;
  }
  HttpResponse remove(const HttpRequest& r, std::string_view kind) {
    const std::string id(r.path_param("id"));
    auto s = revoke(store, kind, id, clock);
    forget(id);
    if (!s.ok()) {
      if (s.is(StatusCode::kNotFound)) return error_response(s.with_detail("id", id));
      return error_response(s);
    }
    HttpResponse out;
    out.status = 204;
    return out;
  }
};

Authenticator::Authenticator(store::CredentialStore& store, Metrics& metrics, AuthConfig config,
                             const Clock& clock)
    : impl_(std::make_unique<Impl>(store, metrics, std::move(config), clock)) {}
Authenticator::~Authenticator() { impl_->stop_watching(); }

const AuthConfig& Authenticator::config() const { return impl_->config; }

Status Authenticator::start() {
  Impl& m = *impl_;
  if (!m.config.hs256_secret.empty()) {
    auto key = hs256_key(m.config.hs256_secret);
    if (!key.ok()) return key.status().with_prefix("--hs256-secret: ");
    m.hs256 = std::move(*key);
  }
  auto candidate = generate_es256_key();
  if (!candidate.ok()) return candidate.status();
  store::SigningKey proposal{candidate->kid, "ES256", candidate->private_pem, 0};
  proposal.created = m.clock.now();
  auto stored = m.store.signing_key(proposal);
  if (!stored.ok()) {
    return stored.status().with_prefix("cannot load the token signing key: ");
  }
  auto loaded = load_es256_key(stored->kid, stored->private_pem);
  if (!loaded.ok()) return loaded.status();
  m.signing = std::move(*loaded);
  if (m.config.enabled && !m.watcher.joinable()) {
    m.watcher = std::thread([&m] { m.watch_loop(); });
  }
  if (!m.config.jwks_url.empty()) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    std::lock_guard lock(m.jwks_mutex);
    if (auto s = m.fetch_jwks_locked(); !s.ok()) {
      log::warn("auth: warning: " + s.message() + " (fetched again when a token needs it)",
                {{"url", m.config.jwks_url}});
    }
  }
  return {};
}

std::optional<HttpResponse> Authenticator::authorize(HttpRequest& request, const Route& route) {
  return impl_->authorize(request, route);
}

Result<std::string> Authenticator::issue_token(const store::Credential& client,
                                               const std::vector<std::string>& scopes) {
  return impl_->issue(client, scopes);
}

void Authenticator::add_routes(Router& router) {
  Impl* m = impl_.get();
  RouteDoc token{"OAuth2 token endpoint: client credentials grant (RFC 6749 §4.4), form-encoded",
                 "auth",
                 {},
                 "",
                 "tickgraph.v1.TokenResponse",
                 "",
                 200,
                 {400, 401, 415, 429}};
  token.request_type = "application/x-www-form-urlencoded";
  token.error_message = "tickgraph.v1.OAuthError";
  router.add("POST", "/oauth2/token", token, [m](const HttpRequest& r) { return m->token(r); });
  router.add("GET", "/.well-known/jwks.json",
             {"The public keys that sign the token endpoint's tokens (JWKS)",
              "auth",
              {},
              "",
              "",
              "application/json"},
             [m](const HttpRequest&) { return m->jwks_document(); });
  struct Group {
    std::string path, kind, what;
  };
  for (const Group& g : {Group{"/v1/auth/clients", "client", "OAuth2 clients"},
                         Group{"/v1/auth/keys", "api_key", "API keys"}}) {
    const std::string kind = g.kind;
    RouteDoc list_doc{"List " + g.what + " (revoked ones included)",
                      "auth",
                      {},
                      "",
                      "tickgraph.v1.CredentialList"};
    list_doc.scope = "admin";
    router.add("GET", g.path, list_doc, [m, kind](const HttpRequest&) { return m->list(kind); });
    RouteDoc add_doc{"Create one of the " + g.what + "; the secret is in this answer only",
                     "auth",
                     {},
                     "tickgraph.v1.NewCredential",
                     "tickgraph.v1.IssuedCredential",
                     "",
                     201,
                     {400, 413, 415}};
    add_doc.scope = "admin";
    router.add("POST", g.path, add_doc,
               [m, kind](const HttpRequest& r) { return m->create(r, kind); });
    RouteDoc revoke_doc{"Revoke one of the " + g.what, "auth", {}, "", "", "", 204, {404}};
    revoke_doc.scope = "admin";
    router.add("DELETE", g.path + "/{id}", revoke_doc,
               [m, kind](const HttpRequest& r) { return m->remove(r, kind); });
  }
}

}  // namespace tickgraph::server::auth
