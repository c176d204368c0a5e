// JWT and JWK parsing (src/server/auth/jwt.h) on arbitrary bytes: the bearer token and JWKS
// documents are outside input. Besides no crash, leak or undefined behaviour:
// - base64url is canonical: what decodes re-encodes to the same text, and every byte string
//   round-trips;
// - a decoded token has an accepted algorithm, an object header and payload;
// - no input verifies with a key whose private half the input cannot know (a forgery would be a
//   verifier bug), and a key never verifies a token of another algorithm.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "server/auth/jwt.h"

namespace {

using tickgraph::server::auth::VerifyKey;

struct Keys {
  VerifyKey es256;
  VerifyKey hs256;
  Keys() {
    auto generated = tickgraph::server::auth::generate_es256_key();
    FUZZ_CHECK(generated.ok(), "an ES256 key is generated");
    es256 = tickgraph::server::auth::verify_key_of(*generated);
    auto secret = tickgraph::server::auth::hs256_key(std::string(32, 'k'));
    FUZZ_CHECK(secret.ok(), "a 32-byte HS256 secret is accepted");
    hs256 = *secret;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace auth = tickgraph::server::auth;
  static const Keys keys;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto decoded = auth::base64url_decode(text)) {
    FUZZ_CHECK(auth::base64url_encode(*decoded) == text, "base64url decoding is canonical");
  }
  FUZZ_CHECK(auth::base64url_decode(auth::base64url_encode(text)) == text,
             "every byte string round-trips");

  auto jwt = auth::decode_jwt(text);
  if (const auto* d = std::get_if<auth::DecodedJwt>(&jwt)) {
    FUZZ_CHECK(d->alg == "HS256" || d->alg == "RS256" || d->alg == "ES256",
               "only accepted algorithms decode");
    FUZZ_CHECK(d->header.is_object() && d->claims.is_object(), "header and payload are objects");
    FUZZ_CHECK(!auth::verify_signature(*d, keys.es256), "no forged ES256 signature verifies");
    const bool hs = auth::verify_signature(*d, keys.hs256);
    FUZZ_CHECK(!hs || d->alg == "HS256", "an HS256 key verifies HS256 tokens only");
    auth::ClaimRules rules;
    rules.issuers = {"tickgraph"};
    rules.audience = "tickgraph";
    rules.now = 1'800'000'000;
    (void)auth::check_claims(d->claims, rules);
    (void)auth::token_scopes(d->claims);
  } else {
    FUZZ_CHECK(!std::get<auth::AuthError>(jwt).message.empty(), "a refusal says why");
  }

  // The same bytes as a JWK (one entry of a JWKS document).
  const auto jwk = nlohmann::json::parse(text, nullptr, false);
  if (!jwk.is_discarded()) {
    auto key = auth::key_from_jwk(jwk);
    if (key.ok()) {
      FUZZ_CHECK(key->alg == "RS256" || key->alg == "ES256", "JWKs give RS256 or ES256 keys");
      (void)auth::public_jwk(*key);
    } else {
      FUZZ_CHECK(!key.message().empty(), "a refused JWK says why");
    }
  }
  return 0;
}
