#include "server/auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <array>
#include <stdexcept>

namespace tickgraph::server::auth {

using nlohmann::json;

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t kP256Bytes = 32;

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct BldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct SigFree {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

std::shared_ptr<EVP_PKEY> share(EVP_PKEY* p) { return {p, PkeyFree{}}; }

BnPtr bn_from_bytes(std::string_view bytes) {
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                         static_cast<int>(bytes.size()), nullptr));
}

std::string bn_bytes(const BIGNUM* bn, std::size_t width) {
  std::string out(width == 0 ? static_cast<std::size_t>(BN_num_bytes(bn)) : width, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  return out;
}

// A string member of a JWK; "" when absent or not a string (JWKS documents are outside input:
// json::value() would throw on a member of another type).
std::string string_member(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  return it != jwk.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A JWK member that must be a base64url string; "" when absent or not decodable.
std::string jwk_bytes(const json& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return "";
  return base64url_decode(it->get<std::string>()).value_or("");
}

Result<std::shared_ptr<EVP_PKEY>> pkey_from_params(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return Status::invalid_argument(std::string("not a valid ") + type + " public key");
  }
  return share(pkey);
}

// ECDSA signatures are DER in OpenSSL and the fixed 64-byte r||s in JWS (RFC 7518 §3.4).
std::optional<std::string> der_from_raw(std::string_view raw) {
  if (raw.size() != 2 * kP256Bytes) return std::nullopt;
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  BnPtr r = bn_from_bytes(raw.substr(0, kP256Bytes));
  BnPtr s = bn_from_bytes(raw.substr(kP256Bytes));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  (void)r.release();  // owned by sig now
  (void)s.release();
  const int size = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (size <= 0) return std::nullopt;
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_ECDSA_SIG(sig.get(), &p);
  return der;
}

std::optional<std::string> raw_from_der(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, SigFree> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return std::nullopt;
  return bn_bytes(ECDSA_SIG_get0_r(sig.get()), kP256Bytes) +
         bn_bytes(ECDSA_SIG_get0_s(sig.get()), kP256Bytes);
}

bool digest_verify(EVP_PKEY* pkey, std::string_view input, std::string_view signature) {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

std::string hmac_sha256(std::string_view key, std::string_view input) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), out.data(), &size);
  return {reinterpret_cast<const char*>(out.data()), size};
}

std::string ec_public_point(EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) return "";
  BnPtr owned(bn);
  return bn_bytes(bn, kP256Bytes);
}

std::string rsa_param(EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) return "";
  BnPtr owned(bn);
  return bn_bytes(bn, 0);
}

AuthError malformed(std::string message) {
  return AuthError{401, "malformed_token", std::move(message)};
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;  // no length leaves one character over
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = b64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // The unused low bits of the last character must be zero (canonical encoding).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

Result<VerifyKey> hs256_key(std::string secret, std::string kid) {
  if (secret.size() < 32) {
    return Status::invalid_argument("an HS256 secret must be at least 32 bytes, got " +
                                    std::to_string(secret.size()));
  }
  VerifyKey key;
  key.kid = std::move(kid);
  key.alg = "HS256";
  key.secret = std::move(secret);
  return key;
}

Result<VerifyKey> key_from_jwk(const json& jwk) {
  if (!jwk.is_object()) return Status::invalid_argument("a JWK must be an object");
  const std::string kty = string_member(jwk, "kty");
  VerifyKey key;
  key.kid = string_member(jwk, "kid");
  const std::string alg = string_member(jwk, "alg");
  const std::string named = "JWK" + (key.kid.empty() ? std::string() : " '" + key.kid + "'");
  std::unique_ptr<OSSL_PARAM_BLD, BldFree> bld(OSSL_PARAM_BLD_new());
  if (!bld) return Status::internal("out of memory");
  if (kty == "RSA") {
    if (!alg.empty() && alg != "RS256") {
      return Status::invalid_argument(named + ": alg " + alg + " is not RS256");
    }
    const std::string n = jwk_bytes(jwk, "n");
    const std::string e = jwk_bytes(jwk, "e");
    if (n.empty() || e.empty()) {
      return Status::invalid_argument(named + ": an RSA key needs base64url n and e");
    }
    BnPtr bn_n = bn_from_bytes(n);
    BnPtr bn_e = bn_from_bytes(e);
    if (BN_num_bits(bn_n.get()) < 2048) {
      return Status::invalid_argument(named + ": RSA keys must have at least 2048 bits, this has " +
                                      std::to_string(BN_num_bits(bn_n.get())));
    }
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
    auto pkey = pkey_from_params("RSA", bld.get());
    if (!pkey) return Status::invalid_argument(named + ": " + pkey.message());
    key.alg = "RS256";
    key.pkey = std::move(*pkey);
    return key;
  }
  if (kty == "EC") {
    if (!alg.empty() && alg != "ES256") {
      return Status::invalid_argument(named + ": alg " + alg + " is not ES256");
    }
    if (string_member(jwk, "crv") != "P-256") {
      return Status::invalid_argument(named + ": only the P-256 curve is supported");
    }
    const std::string x = jwk_bytes(jwk, "x");
    const std::string y = jwk_bytes(jwk, "y");
    if (x.size() != kP256Bytes || y.size() != kP256Bytes) {
      return Status::invalid_argument(named + ": x and y must be 32-byte base64url values");
    }
    const std::string point = std::string(1, '\x04') + x + y;  // uncompressed SEC1 point
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                     point.size());
    auto pkey = pkey_from_params("EC", bld.get());
    if (!pkey) return Status::invalid_argument(named + ": " + pkey.message());
    key.alg = "ES256";
    key.pkey = std::move(*pkey);
    return key;
  }
  return Status::invalid_argument(named + ": key type '" + kty + "' is not supported (RSA, EC)");
}

json public_jwk(const VerifyKey& key) {
  json jwk;
  if (key.alg == "ES256") {
    jwk = {{"kty", "EC"},
           {"crv", "P-256"},
           {"x", base64url_encode(ec_public_point(key.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X))},
           {"y", base64url_encode(ec_public_point(key.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y))}};
  } else if (key.alg == "RS256") {
    jwk = {{"kty", "RSA"},
           {"n", base64url_encode(rsa_param(key.pkey.get(), OSSL_PKEY_PARAM_RSA_N))},
           {"e", base64url_encode(rsa_param(key.pkey.get(), OSSL_PKEY_PARAM_RSA_E))}};
  } else {
    return json::object();  // a secret is never published
  }
  jwk["alg"] = key.alg;
  jwk["use"] = "sig";
  if (!key.kid.empty()) jwk["kid"] = key.kid;
  return jwk;
}

AuthResult<DecodedJwt> decode_jwt(std::string_view token) {
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return malformed("a JWT has three dot-separated parts");
  }
  auto header_text = base64url_decode(token.substr(0, first));
  auto payload_text = base64url_decode(token.substr(first + 1, second - first - 1));
  auto signature = base64url_decode(token.substr(second + 1));
  if (!header_text || !payload_text || !signature) {
    return malformed("a JWT part is not base64url");
  }
  DecodedJwt jwt;
  jwt.header = json::parse(*header_text, nullptr, false);
  jwt.claims = json::parse(*payload_text, nullptr, false);
  if (!jwt.header.is_object()) return malformed("the JWT header is not a JSON object");
  if (!jwt.claims.is_object()) return malformed("the JWT payload is not a JSON object");
  if (!jwt.header.contains("alg") || !jwt.header["alg"].is_string()) {
    return malformed("the JWT header has no alg");
  }
  if (jwt.header.contains("crit")) {
    return malformed("the JWT header has critical extensions (crit), which are not supported");
  }
  jwt.alg = jwt.header["alg"].get<std::string>();
  if (jwt.alg != "HS256" && jwt.alg != "RS256" && jwt.alg != "ES256") {
    return AuthError{401, "alg_not_allowed",
                     "JWT algorithm '" + jwt.alg + "' is not accepted (HS256, RS256, ES256)"};
  }
  if (jwt.header.contains("kid")) {
    if (!jwt.header["kid"].is_string()) return malformed("the JWT kid is not a string");
    jwt.kid = jwt.header["kid"].get<std::string>();
  }
  jwt.signing_input = std::string(token.substr(0, second));
  jwt.signature = std::move(*signature);
  return jwt;
}

bool verify_signature(const DecodedJwt& jwt, const VerifyKey& key) {
  if (jwt.alg != key.alg) return false;
  if (key.alg == "HS256") {
    return !key.secret.empty() &&
           constant_time_equal(hmac_sha256(key.secret, jwt.signing_input), jwt.signature);
  }
  if (!key.pkey) return false;
  if (key.alg == "RS256") return digest_verify(key.pkey.get(), jwt.signing_input, jwt.signature);
  if (key.alg == "ES256") {
    auto der = der_from_raw(jwt.signature);
    return der && digest_verify(key.pkey.get(), jwt.signing_input, *der);
  }
  return false;
}

std::optional<AuthError> check_claims(const json& claims, const ClaimRules& rules) {
  auto number = [&](const char* name) -> std::optional<double> {
    auto it = claims.find(name);
    if (it == claims.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
  };
  if (!claims.contains("exp")) return malformed("the token has no exp claim");
  auto exp = number("exp");
  if (!exp) return malformed("the token's exp claim is not a number");
  if (static_cast<double>(rules.now - rules.leeway) >= *exp) {
    return AuthError{401, "expired", "the token expired"};
  }
  if (claims.contains("nbf")) {
    auto nbf = number("nbf");
    if (!nbf) return malformed("the token's nbf claim is not a number");
    if (static_cast<double>(rules.now + rules.leeway) < *nbf) {
      return AuthError{401, "not_yet_valid", "the token is not valid yet (nbf)"};
    }
  }
  const std::string iss =
      claims.contains("iss") && claims["iss"].is_string() ? claims["iss"].get<std::string>() : "";
  bool issuer_ok = false;
  for (const auto& expected : rules.issuers) issuer_ok = issuer_ok || iss == expected;
  if (!issuer_ok) {
    return AuthError{401, "wrong_issuer",
                     iss.empty() ? "the token has no iss claim"
                                 : "the token's issuer '" + iss + "' is not trusted"};
  }
  bool audience_ok = false;
  if (auto it = claims.find("aud"); it != claims.end()) {
    if (it->is_string()) audience_ok = it->get<std::string>() == rules.audience;
    if (it->is_array()) {
      for (const auto& a : *it) audience_ok = audience_ok || (a.is_string() && a == rules.audience);
    }
  }
  if (!audience_ok) {
    return AuthError{
        401, "wrong_audience",
        "the token is not meant for this service (aud must contain '" + rules.audience + "')"};
  }
  return std::nullopt;
}

std::vector<std::string> token_scopes(const json& claims) {
  std::vector<std::string> out;
  auto add_words = [&](const std::string& text) {
    std::size_t i = 0;
    while (i < text.size()) {
      const auto end = std::min(text.find(' ', i), text.size());
      if (end > i) out.push_back(text.substr(i, end - i));
      i = end + 1;
    }
  };
  for (const char* name : {"scope", "scp"}) {
    auto it = claims.find(name);
    if (it == claims.end()) continue;
    if (it->is_string()) add_words(it->get<std::string>());
    if (it->is_array()) {
      for (const auto& s : *it) {
        if (s.is_string()) out.push_back(s.get<std::string>());
      }
    }
  }
  return out;
}

Result<SigningKeyPair> generate_es256_key() {
  EVP_PKEY* raw = EVP_EC_gen("P-256");
  if (raw == nullptr) return Status::internal("cannot generate a P-256 key");
  SigningKeyPair key;
  key.pkey = share(raw);
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), raw, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Status::internal("cannot encode the signing key as PEM");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  key.private_pem.assign(data, static_cast<std::size_t>(size));
  // RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
  VerifyKey pub = verify_key_of(key);
  const json jwk = public_jwk(pub);
  const std::string canonical = R"({"crv":"P-256","kty":"EC","x":")" + jwk["x"].get<std::string>() +
                                R"(","y":")" + jwk["y"].get<std::string>() + R"("})";
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  EVP_Digest(canonical.data(), canonical.size(), digest.data(), &digest_size, EVP_sha256(),
             nullptr);
  key.kid = base64url_encode({reinterpret_cast<const char*>(digest.data()), digest_size});
  return key;
}

Result<SigningKeyPair> load_es256_key(std::string_view kid, std::string_view private_pem) {
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(private_pem.data(), static_cast<int>(private_pem.size())));
  EVP_PKEY* raw = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (raw == nullptr) {
    return Status::invalid_argument("signing key '" + std::string(kid) +
                                    "': not a PEM private key");
  }
  SigningKeyPair key;
  key.pkey = share(raw);
  if (EVP_PKEY_is_a(raw, "EC") != 1 || EVP_PKEY_get_bits(raw) != 256) {
    return Status::invalid_argument("signing key '" + std::string(kid) + "': not a P-256 key");
  }
  key.kid = std::string(kid);
  key.private_pem = std::string(private_pem);
  return key;
}

VerifyKey verify_key_of(const SigningKeyPair& key) {
  VerifyKey pub;
  pub.kid = key.kid;
  pub.alg = "ES256";
  pub.pkey = key.pkey;  // a private key verifies too; public_jwk() exports only x and y
  return pub;
}

Result<std::string> sign_es256(const SigningKeyPair& key, const json& claims) {
  const json header = {{"alg", "ES256"}, {"typ", "at+jwt"}, {"kid", key.kid}};
  const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::size_t size = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return Status::internal("cannot sign the token");
  }
  std::string der(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &size,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return Status::internal("cannot sign the token");
  }
  der.resize(size);
  auto raw = raw_from_der(der);
  if (!raw) return Status::internal("cannot encode the token's signature");
  return input + "." + base64url_encode(*raw);
}

std::string sign_hs256(std::string_view secret, std::string_view kid, const json& claims) {
  json header = {{"alg", "HS256"}, {"typ", "JWT"}};
  if (!kid.empty()) header["kid"] = kid;
  const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  return input + "." + base64url_encode(hmac_sha256(secret, input));
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    throw std::runtime_error("the system's random generator failed");
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(static_cast<std::size_t>(size) * 2);
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tickgraph::server::auth
