#include "server/auth/credentials.h"

#include <argon2.h>

#include <algorithm>
#include <stdexcept>

#include "server/auth/jwt.h"

namespace tickgraph::server::auth {

namespace {

constexpr std::uint32_t kArgonPasses = 2;
constexpr std::uint32_t kArgonMemoryKiB = 19456;
constexpr std::uint32_t kArgonLanes = 1;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

Result<IssuedCredential> add(store::CredentialStore& store, std::string_view kind,
                             std::string_view prefix, std::string_view name,
                             const std::vector<std::string>& scopes, bool slow_hash,
                             const Clock& clock) {
  if (name.empty()) return Status::invalid_argument("a credential needs a name");
  if (scopes.empty()) return Status::invalid_argument("a credential needs scopes");
  IssuedCredential issued;
  store::Credential& c = issued.credential;
  c.id = std::string(prefix) + hex(random_bytes(8));
  c.kind = std::string(kind);
  c.name = std::string(name);
  c.scopes = scopes;
  c.created = clock.now();
  const std::string secret = base64url_encode(random_bytes(32));
  c.secret_hash = slow_hash ? hash_secret(secret) : "sha256:" + sha256_hex(secret);
  issued.secret = kind == "api_key" ? c.id + "_" + secret : secret;
  if (auto s = store.add_credential(c); !s.ok()) return Result<IssuedCredential>(s);
  return issued;
}

}  // namespace

Result<std::vector<std::string>> parse_scopes(std::string_view text) {
  std::vector<std::string> out;
  std::string item;
  auto flush = [&]() -> Status {
    if (item.empty()) return {};
    if (std::find(std::begin(kScopes), std::end(kScopes), item) == std::end(kScopes)) {
      return Status::invalid_argument("unknown scope '" + item + "' (read, write, admin)");
    }
    if (std::find(out.begin(), out.end(), item) != out.end()) {
      return Status::invalid_argument("scope '" + item + "' is given twice");
    }
    out.push_back(std::move(item));
    item.clear();
    return {};
  };
  for (char c : text) {
    if (c == ',' || c == ' ') {
      if (auto s = flush(); !s.ok()) return Result<std::vector<std::string>>(s);
    } else {
      item.push_back(c);
    }
  }
  if (auto s = flush(); !s.ok()) return Result<std::vector<std::string>>(s);
  if (out.empty()) return Status::invalid_argument("no scopes given (read, write, admin)");
  return out;
}

std::string join_scopes(const std::vector<std::string>& scopes, char separator) {
  std::string out;
  for (const auto& s : scopes) {
    if (!out.empty()) out.push_back(separator);
    out += s;
  }
  return out;
}

std::string hash_secret(std::string_view secret) {
  const std::string salt = random_bytes(kSaltBytes);
  std::string encoded(argon2_encodedlen(kArgonPasses, kArgonMemoryKiB, kArgonLanes, kSaltBytes,
                                        kHashBytes, Argon2_id),
                      '\0');
  const int rc = argon2id_hash_encoded(kArgonPasses, kArgonMemoryKiB, kArgonLanes, secret.data(),
                                       secret.size(), salt.data(), salt.size(), kHashBytes,
                                       encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    throw std::runtime_error(std::string("argon2id: ") + argon2_error_message(rc));
  }
  encoded.resize(encoded.find('\0'));
  return encoded;
}

bool verify_secret(std::string_view secret, std::string_view encoded) {
  if (encoded.rfind("sha256:", 0) == 0) {
    return constant_time_equal(sha256_hex(secret), encoded.substr(7));
  }
  if (encoded.rfind("$argon2id$", 0) == 0) {
    const std::string z(encoded);  // argon2 wants a NUL-terminated string
    return argon2id_verify(z.c_str(), secret.data(), secret.size()) == ARGON2_OK;
  }
  return false;
}

Result<IssuedCredential> add_client(store::CredentialStore& store, std::string_view name,
                                    const std::vector<std::string>& scopes, const Clock& clock) {
  return add(store, "client", "tgc_", name, scopes, /*slow_hash=*/true, clock);
}

Result<IssuedCredential> add_api_key(store::CredentialStore& store, std::string_view name,
                                     const std::vector<std::string>& scopes, const Clock& clock) {
  return add(store, "api_key", "tgk_", name, scopes, /*slow_hash=*/false, clock);
}

bool split_api_key(std::string_view key, std::string& id, std::string& secret) {
  // "tgk_" + 16 hex digits + "_" + the secret
  constexpr std::size_t kIdSize = 4 + 16;
  if (key.size() <= kIdSize + 1 || key.substr(0, 4) != "tgk_" || key[kIdSize] != '_') return false;
  id = std::string(key.substr(0, kIdSize));
  secret = std::string(key.substr(kIdSize + 1));
  return true;
}

Status revoke(store::CredentialStore& store, std::string_view kind, std::string_view id,
              const Clock& clock) {
  const char* what = kind == "client" ? "client" : "API key";
  auto found = store.find_credential(id);
  if (!found.ok()) return found.status();
  if (!*found || (*found)->kind != kind) {
    return Status::not_found(std::string("no ") + what + " with id '" + std::string(id) + "'");
  }
  auto revoked = store.revoke_credential(id, clock.now());
  if (!revoked.ok()) return revoked.status();
  return {};
}

}  // namespace tickgraph::server::auth
