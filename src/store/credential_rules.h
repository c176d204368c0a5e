// How both stores check and encode credentials and signing keys, so that they accept exactly
// the same ones (the conformance suite holds them to it). Internal to src/store.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace tickgraph::store::detail {

// Credential scopes are stored space-separated (as in an OAuth2 scope parameter), in the order
// given; invalid_credential() makes sure that splitting gives them back.
inline std::string join_scopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const std::string& scope : scopes) {
    if (!out.empty()) out += ' ';
    out += scope;
  }
  return out;
}

inline std::vector<std::string> split_scopes(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t space = text.find(' ');
    out.emplace_back(text.substr(0, space));
    text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
  }
  return out;
}

inline bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

// Why a credential cannot be stored, or "" when it can. NUL bytes are refused because
// PostgreSQL parameters are C strings that would end there, and both stores accept the same.
inline std::string invalid_credential(const Credential& c) {
  if (c.id.empty()) return "the id is empty";
  if (c.kind != "client" && c.kind != "api_key") {
    return "kind '" + c.kind + "' is neither \"client\" nor \"api_key\"";
  }
  if (c.secret_hash.empty()) return "the secret hash is empty";
  for (const std::string& scope : c.scopes) {
    if (scope.empty() || scope.find(' ') != std::string::npos) {
      return "scope '" + scope + "' is empty or contains a space";
    }
    if (has_nul(scope)) return "a scope contains a NUL byte";
  }
  if (has_nul(c.id) || has_nul(c.name) || has_nul(c.secret_hash)) {
    return "the id, name or secret hash contains a NUL byte";
  }
  return "";
}

// Why a signing key cannot be stored, or "" when it can.
inline std::string invalid_signing_key(const SigningKey& k) {
  if (k.kid.empty() || k.algorithm.empty() || k.private_pem.empty()) {
    return "the candidate key has an empty kid, algorithm or private key";
  }
  if (has_nul(k.kid) || has_nul(k.algorithm) || has_nul(k.private_pem)) {
    return "the candidate key contains a NUL byte";
  }
  return "";
}

}  // namespace tickgraph::store::detail
