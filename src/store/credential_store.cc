#include "store/credential_store.h"

#include <string>
#include <utility>

#include "store/checks.h"

namespace tickgraph::store {

template <class R, class Call>
R CredentialStore::named(R result, const Call& call) const {
  return checks::named(std::move(result), call, [this] { return location(); });
}

Status CredentialStore::add_credential(const Credential& credential) {
  const auto call = [&] { return "add_credential(" + credential.id + ")"; };
  if (Status s = checks::credential(credential); !s.ok()) return named(s, call);
  return named(do_add_credential(credential), call);
}

Result<std::optional<Credential>> CredentialStore::find_credential(std::string_view id) {
  return named(do_find_credential(id), [&] { return "find_credential(" + std::string(id) + ")"; });
}

Result<std::vector<Credential>> CredentialStore::list_credentials(std::string_view kind) {
  const auto call = [&] { return "list_credentials(" + std::string(kind) + ")"; };
  if (Status s = checks::credential_kind(kind); !s.ok()) {
    return named(Result<std::vector<Credential>>(s), call);
  }
  return named(do_list_credentials(kind), call);
}

Result<bool> CredentialStore::revoke_credential(std::string_view id, Timestamp at) {
  return named(do_revoke_credential(id, at),
               [&] { return "revoke_credential(" + std::string(id) + ")"; });
}

Result<SigningKey> CredentialStore::signing_key(const SigningKey& candidate) {
  const auto call = [] { return std::string("signing_key"); };
  if (Status s = checks::signing_key(candidate); !s.ok()) return named(Result<SigningKey>(s), call);
  return named(do_signing_key(candidate), call);
}

}  // namespace tickgraph::store
