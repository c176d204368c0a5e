// Credentials of `tickgraph serve`: OAuth2 clients of the built-in token endpoint and API keys,
// created, listed and revoked here (by the CLI's `tickgraph auth …` and the admin routes), kept
// in the store with only a hash of their secret.
//
// Scopes: "read" (queries and streams), "write" (ingest and graphs), "admin" (clients, keys,
// jobs). They are independent: an admin credential that should also read needs "read" too.
//
// Hashing: client secrets use Argon2id (libargon2; 19 MiB, 2 passes, the OWASP minimum), checked
// once per token request. API keys are checked on every request, where Argon2's deliberate cost
// would be paid each time; as they are 256 random bits, guessing is hopeless anyway and a single
// SHA-256 protects them at rest (the same choice as GitHub's tokens).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "store/credential_store.h"

namespace tickgraph::server::auth {

inline constexpr std::string_view kScopes[] = {"read", "write", "admin"};

// "read,write" (commas or spaces) → {"read", "write"}; an unknown or repeated scope is an error
// naming it; an empty list is an error.
Result<std::vector<std::string>> parse_scopes(std::string_view text);
std::string join_scopes(const std::vector<std::string>& scopes, char separator = ' ');

// Argon2id PHC string ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash") of `secret`.
std::string hash_secret(std::string_view secret);
// True when `secret` matches `encoded` (an Argon2id PHC string or "sha256:<hex>").
bool verify_secret(std::string_view secret, std::string_view encoded);

// A credential just created: its stored record and the secret, shown only this once.
struct IssuedCredential {
  store::Credential credential;
  std::string secret;  // client: the client_secret; API key: the whole key to send
};

// A new OAuth2 client ("tgc_" and 16 hex digits) with a random 256-bit secret, stamped created
// at clock.now().
Result<IssuedCredential> add_client(store::CredentialStore& store, std::string_view name,
                                    const std::vector<std::string>& scopes,
                                    const Clock& clock = system_clock());
// A new API key. The key sent in X-API-Key is "tgk_<id>_<secret>": the id finds the record, the
// secret is checked against its hash.
Result<IssuedCredential> add_api_key(store::CredentialStore& store, std::string_view name,
                                     const std::vector<std::string>& scopes,
                                     const Clock& clock = system_clock());

// Splits "tgk_<id>_<secret>" into the credential id ("tgk_<id>") and the secret; false when the
// text does not have that shape.
bool split_api_key(std::string_view key, std::string& id, std::string& secret);

// Revokes `id` of `kind` ("client" or "api_key") at clock.now(): not_found naming the id when
// there is no such credential of that kind.
Status revoke(store::CredentialStore& store, std::string_view kind, std::string_view id,
              const Clock& clock = system_clock());

}  // namespace tickgraph::server::auth
