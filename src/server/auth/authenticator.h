// Who may call what on `tickgraph serve`: the OAuth2 resource server, the built-in token endpoint,
// API keys, scopes and per-credential rate limits. Nothing here includes Beast; the HTTP server
// calls authorize() for each request once its route is known.
//
// Credentials, in the order they are looked for:
//   Authorization: Bearer <JWT>   a token of the built-in endpoint (ES256, our key), or of an
//                                 outside provider (RS256/ES256 from its JWKS URL, or HS256 with a
//                                 shared secret);
//   X-API-Key: tgk_…              an API key;
//   ?access_token= / ?api_key=    the same, on the stream routes only (WebSocket and SSE), since
//                                 browsers cannot set headers there.
// Sending two of them is refused (RFC 6750 §2).
//
// A route's RouteDoc::scope names what it needs; "" is public (health, metrics, the OpenAPI
// document, the web UI's files, the token endpoint, the JWKS). Answers: 401 without a
// credential or with a bad one, 403 with a valid one lacking the scope, 429 when the credential
// (or, for failed attempts and token requests, the client address) has used up its rate; each a
// tickgraph.v1.Error whose details.reason is a stable code (see AuthError). Failures are
// logged on stderr without any secret and counted in tickgraph_auth_failures_total{reason}.
//
// Revocation: a revoked client's tokens and a revoked key stop working within
// AuthConfig::credential_ttl (revocations through the admin routes of this process at once).
// Open streams are watched too: within about a second of their token expiring, or of their
// credential being seen revoked, they are closed (WebSocket close 1008 with the reason, SSE's
// close event).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/result.h"
#include "server/router.h"
#include "store/credential_store.h"

namespace tickgraph::server::auth {

struct AuthConfig {
  bool enabled = true;
  // The built-in token endpoint's tokens: their `iss`, and how long they last.
  std::string issuer = "tickgraph";
  std::chrono::seconds token_ttl{3600};
  // Every accepted token's `aud` must contain this.
  std::string audience = "tickgraph";
  std::chrono::seconds leeway{30};  // clock skew allowed on exp and nbf
  // An outside provider: its issuer, and its keys (a JWKS URL, an HS256 shared secret, or both).
  // Without external_issuer its tokens must carry `issuer`.
  std::string external_issuer;
  std::string jwks_url;
  std::string hs256_secret;
  std::chrono::seconds jwks_min_refresh{30};  // an unknown kid refetches at most this often
  std::chrono::seconds jwks_max_age{3600};    // keys are refetched after this long anyway
  // Requests per second and burst per credential (none with auth off); 0 = none.
  double rate = 100;
  double burst = 200;
  // Failed authentications and token requests per client address.
  double failure_rate = 5;
  double failure_burst = 20;
  std::chrono::milliseconds credential_ttl{2000};
};

class Authenticator {
 public:
  Authenticator(store::CredentialStore& store, Metrics& metrics, AuthConfig config,
                const Clock& clock = system_clock());
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // Loads the signing key from the store (generating and storing it on first start) and fetches
  // the JWKS once (a failure there is a warning: it is fetched again when a token needs it).
  Status start();
  const AuthConfig& config() const;

  // The HTTP server's check, once the route is known: nullopt lets the request through (with
  // request.credential and request.scopes filled), else the response to send (401, 403, 429).
  std::optional<HttpResponse> authorize(HttpRequest& request, const Route& route);

  // POST /oauth2/token, GET /.well-known/jwks.json and the admin routes under /v1/auth.
  void add_routes(Router& router);

  // A token of the built-in endpoint for `client_id` (used by the endpoint, and by tests).
  Result<std::string> issue_token(const store::Credential& client,
                                  const std::vector<std::string>& scopes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickgraph::server::auth
