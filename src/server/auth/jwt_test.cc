// JWT decoding, signatures and claims with keys generated here by OpenSSL: every way a token can
// be wrong gives its reason, and the algorithm of a key is the only one it verifies.
#include "server/auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

namespace tickgraph::server::auth {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1'800'000'000;

json claims(std::int64_t exp = kNow + 600) {
  return {{"iss", "tickgraph"},
          {"aud", "tickgraph"},
          {"sub", "c1"},
          {"exp", exp},
          {"scope", "read write"}};
}

ClaimRules rules() {
  ClaimRules r;
  r.issuers = {"tickgraph"};
  r.audience = "tickgraph";
  r.now = kNow;
  r.leeway = 30;
  return r;
}

DecodedJwt decoded(const std::string& token) {
  auto d = decode_jwt(token);
  EXPECT_TRUE(std::holds_alternative<DecodedJwt>(d))
      << (std::holds_alternative<AuthError>(d) ? std::get<AuthError>(d).message : "");
  return std::get<DecodedJwt>(d);
}

std::string reason_of(const std::string& token) {
  auto d = decode_jwt(token);
  return std::holds_alternative<AuthError>(d) ? std::get<AuthError>(d).reason : "";
}

// An RS256 key: the private half signs with OpenSSL directly, the public half goes through a JWK.
struct RsaKey {
  std::shared_ptr<EVP_PKEY> pkey;
  explicit RsaKey(unsigned bits = 2048) : pkey(EVP_RSA_gen(bits), EVP_PKEY_free) {}
  std::string sign(const json& header, const json& payload) const {
    const std::string input =
        base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get());
    std::size_t size = 0;
    EVP_DigestSign(ctx.get(), nullptr, &size, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(size, '\0');
    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &size,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    return input + "." + base64url_encode(sig.substr(0, size));
  }
  VerifyKey verify_key(const std::string& kid) const {
    VerifyKey k{kid, "RS256", pkey, ""};
    auto from_jwk = key_from_jwk(public_jwk(k));  // through the JWK, as a JWKS would give it
    EXPECT_TRUE(from_jwk.ok()) << from_jwk.message();
    return *from_jwk;
  }
  std::string public_pem() const {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), pkey.get());
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return {data, static_cast<std::size_t>(n)};
  }
};

TEST(Base64Url, RoundTripsEveryLengthAndRefusesNonCanonicalText) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    const std::string encoded = base64url_encode(bytes);
    EXPECT_EQ(encoded.find('='), std::string::npos);
    EXPECT_EQ(base64url_decode(encoded), bytes) << i;
    bytes.push_back(static_cast<char>(i * 37 + 200));
  }
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64url_decode("ab=").has_value());   // padding
  EXPECT_FALSE(base64url_decode("a+b/").has_value());  // plain base64's alphabet
  EXPECT_FALSE(base64url_decode("A").has_value());     // a length no encoding has
  EXPECT_FALSE(base64url_decode("QR").has_value());    // leftover bits not zero
  EXPECT_TRUE(base64url_decode("QQ").has_value());
}

TEST(Jwt, Es256SignedTokensVerifyWithTheirKeyAndNoOther) {
  auto key = generate_es256_key();
  ASSERT_TRUE(key.ok()) << key.message();
  auto other = generate_es256_key();
  ASSERT_TRUE(other.ok());
  auto token = sign_es256(*key, claims());
  ASSERT_TRUE(token.ok());
  const DecodedJwt jwt = decoded(*token);
  EXPECT_EQ(jwt.alg, "ES256");
  EXPECT_EQ(jwt.kid, key->kid);
  EXPECT_EQ(jwt.header["typ"], "at+jwt");
  EXPECT_TRUE(verify_signature(jwt, verify_key_of(*key)));
  EXPECT_FALSE(verify_signature(jwt, verify_key_of(*other)));
  EXPECT_EQ(check_claims(jwt.claims, rules()), std::nullopt);

  // The key survives PEM storage, and its public JWK gives a key that verifies.
  auto reloaded = load_es256_key(key->kid, key->private_pem);
  ASSERT_TRUE(reloaded.ok()) << reloaded.message();
  EXPECT_TRUE(verify_signature(jwt, verify_key_of(*reloaded)));
  const json jwk = public_jwk(verify_key_of(*key));
  EXPECT_EQ(jwk["kty"], "EC");
  EXPECT_FALSE(jwk.contains("d")) << "the private part must never be published";
  auto from_jwk = key_from_jwk(jwk);
  ASSERT_TRUE(from_jwk.ok()) << from_jwk.message();
  EXPECT_TRUE(verify_signature(jwt, *from_jwk));
  EXPECT_EQ(key->kid.size(), 43u) << "an RFC 7638 thumbprint is 32 bytes in base64url";
}

TEST(Jwt, TamperedPayloadOrSignatureFails) {
  auto key = generate_es256_key();
  ASSERT_TRUE(key.ok());
  auto token = sign_es256(*key, claims());
  ASSERT_TRUE(token.ok());
  const auto dot1 = token->find('.');
  const auto dot2 = token->rfind('.');
  json richer = claims();
  richer["scope"] = "read write admin";
  const std::string tampered =
      token->substr(0, dot1 + 1) + base64url_encode(richer.dump()) + token->substr(dot2);
  EXPECT_FALSE(verify_signature(decoded(tampered), verify_key_of(*key)));
  std::string flipped = *token;
  flipped[dot2 + 5] = flipped[dot2 + 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_signature(decoded(flipped), verify_key_of(*key)));
}

TEST(Jwt, Rs256VerifiesThroughAJwkAndRefusesSmallKeys) {
  RsaKey rsa;
  const std::string token = rsa.sign({{"alg", "RS256"}, {"kid", "k1"}}, claims());
  EXPECT_TRUE(verify_signature(decoded(token), rsa.verify_key("k1")));
  EXPECT_FALSE(verify_signature(decoded(token), RsaKey().verify_key("k1")));

  RsaKey small(1024);
  auto refused = key_from_jwk(public_jwk(VerifyKey{"s", "RS256", small.pkey, ""}));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("2048"), std::string::npos) << refused.message();
  json wrong_alg = public_jwk(VerifyKey{"s", "RS256", rsa.pkey, ""});
  wrong_alg["alg"] = "HS256";
  EXPECT_FALSE(key_from_jwk(wrong_alg).ok());
  EXPECT_FALSE(key_from_jwk(json{{"kty", "oct"}, {"k", "c2VjcmV0"}}).ok());
  // Members of the wrong type are refused, not thrown (found by the jwt fuzz target).
  EXPECT_FALSE(key_from_jwk(json::parse(R"({"kty": 222222222222222222222222222222})")).ok());
  EXPECT_FALSE(key_from_jwk(json{{"kty", "EC"}, {"crv", 256}, {"x", "AA"}, {"y", "AA"}}).ok());
  EXPECT_FALSE(key_from_jwk(json{{"kty", "RSA"}, {"n", 5}, {"e", "AQAB"}, {"alg", 1}}).ok());
}

TEST(Jwt, Hs256NeedsALongSecretAndVerifiesOnlyWithIt) {
  EXPECT_FALSE(hs256_key("short").ok());
  const std::string secret(40, 's');
  auto key = hs256_key(secret);
  ASSERT_TRUE(key.ok());
  const std::string token = sign_hs256(secret, "", claims());
  EXPECT_TRUE(verify_signature(decoded(token), *key));
  EXPECT_FALSE(verify_signature(decoded(sign_hs256(std::string(40, 't'), "", claims())), *key));
  EXPECT_TRUE(public_jwk(*key).empty()) << "a shared secret is never published";
}

TEST(Jwt, AlgorithmConfusionIsRefused) {
  // The classic attack: an HS256 token whose "secret" is the server's RSA public key, which is
  // public. A key verifies only its own algorithm, so the RS256 key refuses it.
  RsaKey rsa;
  const VerifyKey rs = rsa.verify_key("k1");
  const std::string forged = sign_hs256(rsa.public_pem(), "k1", claims());
  EXPECT_FALSE(verify_signature(decoded(forged), rs));
  // And an RS256 header on an ES256 signature, or the reverse, fails too.
  auto ec = generate_es256_key();
  ASSERT_TRUE(ec.ok());
  auto es_token = sign_es256(*ec, claims());
  ASSERT_TRUE(es_token.ok());
  DecodedJwt relabelled = decoded(*es_token);
  relabelled.alg = "RS256";
  EXPECT_FALSE(verify_signature(relabelled, verify_key_of(*ec)));
}

TEST(Jwt, AlgNoneAndMalformedTokensAreRefusedWithTheirReason) {
  const std::string payload = base64url_encode(claims().dump());
  EXPECT_EQ(reason_of(base64url_encode(R"({"alg":"none"})") + "." + payload + "."),
            "alg_not_allowed");
  EXPECT_EQ(reason_of(base64url_encode(R"({"alg":"HS512"})") + "." + payload + ".AA"),
            "alg_not_allowed");
  EXPECT_EQ(reason_of("not-a-token"), "malformed_token");
  EXPECT_EQ(reason_of("a.b.c.d"), "malformed_token");
  EXPECT_EQ(reason_of(base64url_encode("[]") + "." + payload + ".AA"), "malformed_token");
  EXPECT_EQ(
      reason_of(base64url_encode(R"({"alg":"ES256"})") + "." + base64url_encode("42") + ".AA"),
      "malformed_token");
  EXPECT_EQ(reason_of(base64url_encode(R"({"alg":"ES256","crit":["x"]})") + "." + payload + ".AA"),
            "malformed_token");
  EXPECT_EQ(reason_of(base64url_encode(R"({"alg":"ES256","kid":7})") + "." + payload + ".AA"),
            "malformed_token");
}

TEST(Jwt, ClaimsAreCheckedWithLeeway) {
  auto reason = [](const json& c) {
    auto e = check_claims(c, rules());
    return e ? e->reason : std::string();
  };
  EXPECT_EQ(reason(claims(kNow + 1)), "");
  EXPECT_EQ(reason(claims(kNow - 29)), "") << "within the 30 s leeway";
  EXPECT_EQ(reason(claims(kNow - 30)), "expired");
  json c = claims();
  c["nbf"] = kNow + 29;
  EXPECT_EQ(reason(c), "");
  c["nbf"] = kNow + 31;
  EXPECT_EQ(reason(c), "not_yet_valid");
  c = claims();
  c["iss"] = "https://evil.example";
  EXPECT_EQ(reason(c), "wrong_issuer");
  c.erase("iss");
  EXPECT_EQ(reason(c), "wrong_issuer");
  c = claims();
  c["aud"] = "other";
  EXPECT_EQ(reason(c), "wrong_audience");
  c["aud"] = json::array({"other", "tickgraph"});
  EXPECT_EQ(reason(c), "");
  c.erase("aud");
  EXPECT_EQ(reason(c), "wrong_audience");
  c = claims();
  c.erase("exp");
  EXPECT_EQ(reason(c), "malformed_token");
  c["exp"] = "tomorrow";
  EXPECT_EQ(reason(c), "malformed_token");
}

TEST(Jwt, ScopesComeFromScopeOrScp) {
  EXPECT_EQ(token_scopes(json{{"scope", "read  write"}}),
            (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(token_scopes(json{{"scp", json::array({"admin"})}}),
            (std::vector<std::string>{"admin"}));
  EXPECT_TRUE(token_scopes(json{{"scope", 3}}).empty());
}

}  // namespace
}  // namespace tickgraph::server::auth
