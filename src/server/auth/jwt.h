// JSON Web Tokens (RFC 7519) as OAuth2 access tokens: decoding, signature verification with
// OpenSSL, claim checks, and signing for the built-in token endpoint.
//
// Only three algorithms exist here, each bound to one kind of key: HS256 (a shared secret),
// RS256 (an RSA public key of at least 2048 bits) and ES256 (a P-256 public key). A key carries
// its algorithm, and a token verifies only with a key of the algorithm its header names, so an
// RS256 public key can never be used as an HS256 secret (the "algorithm confusion" attack) and
// `alg: none` has no key at all. Headers with a `crit` member are refused: we understand no
// extension.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.h"

using EVP_PKEY = struct evp_pkey_st;  // OpenSSL's key type, kept out of this header

namespace tickgraph::server::auth {

// Why a credential was refused. `reason` is a short stable code (a metrics label and the
// `details.reason` of the 401/403 body); `message` says what was wrong without repeating secrets.
struct AuthError {
  int status = 401;
  std::string reason;
  std::string message;
};
template <class T>
using AuthResult = std::variant<T, AuthError>;

// Base64url without padding (RFC 7515 §2). Decoding refuses padding, whitespace and bits left
// over in the last character.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

// A key a token may be verified with: a public key (RS256, ES256) or a secret (HS256).
struct VerifyKey {
  std::string kid;                 // "" when the key has none
  std::string alg;                 // "HS256", "RS256" or "ES256"
  std::shared_ptr<EVP_PKEY> pkey;  // RS256, ES256
  std::string secret;              // HS256
};

// HS256 key from a shared secret (at least 32 bytes, RFC 7518 §3.2).
Result<VerifyKey> hs256_key(std::string secret, std::string kid = "");
// A public key from one JWK (RFC 7517): kty RSA (n, e; at least 2048 bits) or EC (crv P-256,
// x, y). The JWK's `alg`, when present, must agree with the key type.
Result<VerifyKey> key_from_jwk(const nlohmann::json& jwk);
// The public JWK of `key` (RS256 or ES256) with its kid, alg and "use": "sig".
nlohmann::json public_jwk(const VerifyKey& key);

// A token split and decoded, signature not yet checked.
struct DecodedJwt {
  nlohmann::json header;      // an object
  nlohmann::json claims;      // an object
  std::string alg;            // header.alg
  std::string kid;            // header.kid, "" when absent
  std::string signing_input;  // the first two segments with their dot
  std::string signature;      // decoded bytes
};
// Three base64url segments, a JSON object header with a string `alg` and no `crit`, a JSON
// object payload. Reason "malformed_token" otherwise, or "alg_not_allowed" for none and for
// algorithms other than HS256, RS256 and ES256.
AuthResult<DecodedJwt> decode_jwt(std::string_view token);

// True when `jwt`'s signature verifies with `key` and key.alg == jwt.alg.
bool verify_signature(const DecodedJwt& jwt, const VerifyKey& key);

// What the claims must satisfy. Times are seconds since the epoch.
struct ClaimRules {
  std::vector<std::string> issuers;  // `iss` must be one of them
  std::string audience;              // `aud` (a string or an array) must contain it
  std::int64_t now = 0;
  std::int64_t leeway = 30;  // clock skew allowed on exp and nbf
};
// `exp` is required and must be a number; `nbf`, when present, too. Reasons: "expired",
// "not_yet_valid", "wrong_issuer", "wrong_audience", "malformed_token".
std::optional<AuthError> check_claims(const nlohmann::json& claims, const ClaimRules& rules);

// The scopes a token grants: its `scope` string (space-separated, RFC 8693) or, from providers
// that use it, its `scp` array or string.
std::vector<std::string> token_scopes(const nlohmann::json& claims);

// A P-256 private key for ES256 signing.
struct SigningKeyPair {
  std::string kid;
  std::shared_ptr<EVP_PKEY> pkey;
  std::string private_pem;  // PKCS#8
};
// A new key; its kid is the RFC 7638 thumbprint of its public JWK.
Result<SigningKeyPair> generate_es256_key();
Result<SigningKeyPair> load_es256_key(std::string_view kid, std::string_view private_pem);
// The public half, for verification and for /.well-known/jwks.json.
VerifyKey verify_key_of(const SigningKeyPair& key);
// header.payload.signature with {"alg":"ES256","typ":"at+jwt","kid":…} (RFC 9068's type).
Result<std::string> sign_es256(const SigningKeyPair& key, const nlohmann::json& claims);
// The same with HS256 (for tools and tests that hold the shared secret).
std::string sign_hs256(std::string_view secret, std::string_view kid, const nlohmann::json& claims);

// Random bytes from OpenSSL's CSPRNG; throws std::runtime_error if it fails.
std::string random_bytes(std::size_t n);
// SHA-256 of `bytes`, as lower-case hex.
std::string sha256_hex(std::string_view bytes);
// Comparison whose time does not depend on where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace tickgraph::server::auth
